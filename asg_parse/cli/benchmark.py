"""`asg-parse benchmark openi`: the OpenI report-level benchmark for our parser or any tool's predictions."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from ..evaluation import openi
from .common import EXISTENCE_MODE_HELP, EXISTENCE_MODEL_HELP, existence_options, load
from .display import fmt as _f


def render_openi(result: openi.OpenIResult, console: Console, errors: int = 0,
                 texts: Optional[dict[str, str]] = None) -> None:
    """Print the benchmark summary, the per-category table and, with errors > 0, the top errors."""
    d = result.to_dict()
    skipped = ", ".join(f"{k}: {v}" for k, v in result.skipped.items()) or "none"
    console.print(f"[bold]OpenI report-level benchmark[/bold]: {result.n_reports} scored reports (skipped {skipped})")
    if result.missing_predictions:
        console.print(f"[yellow]{len(result.missing_predictions)} scored report(s) have no prediction "
                      f"(scored as empty), e.g. uid {', '.join(result.missing_predictions[:5])}[/yellow]")
    summary = Table(title="Summary")
    for col in ("metric", "value", "detail"):
        summary.add_column(col)
    m, ma, ab, ns, rg = d["micro"], d["macro"], d["abnormal_vs_normal"], d["normal_specificity"], d["region"]
    summary.add_row("micro F1", _f(m["f1"]), f"P {_f(m['precision'])} R {_f(m['recall'])} "
                    f"(tp {m['tp']} fp {m['fp']} fn {m['fn']})")
    summary.add_row("macro F1", _f(ma["f1"]), f"P {_f(ma['precision'])} R {_f(ma['recall'])} "
                    f"over {len(ma['categories'])} categories with >= {openi.MACRO_MIN_SUPPORT} gold reports")
    summary.add_row("abnormal-vs-normal F1", _f(ab["f1"]), f"P {_f(ab['precision'])} R {_f(ab['recall'])} "
                    f"on {ab['n']} reports (normal or with a mapped code)")
    summary.add_row("normal specificity", _f(ns["value"]), f"{ns['tn']}/{ns['n']} normal reports with no category")
    summary.add_row("region recall", _f(rg["recall"]), f"{rg['localized']}/{rg['items']} localizable codes; "
                    f"{_f(rg['recall_when_detected'])} of the {rg['detected']} whose category was predicted")
    summary.add_row("wrong side", str(rg["wrong_side"]), "codes predicted only on the other side")
    console.print(summary)
    table = Table(title="Per category")
    for col in ("category", "support", "tp", "fp", "fn", "P", "R", "F1", "macro"):
        table.add_column(col, justify="left" if col == "category" else "right")
    for cat, s in sorted(d["per_category"].items(), key=lambda kv: -kv[1]["support"]):
        table.add_row(cat, str(s["support"]), str(s["tp"]), str(s["fp"]), str(s["fn"]), _f(s["precision"]),
                      _f(s["recall"]), _f(s["f1"]), "yes" if cat in ma["categories"] else "")
    console.print(table)
    if errors > 0:
        render_openi_errors(result, console, errors, texts or {})


def _snip(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def render_openi_errors(result: openi.OpenIResult, console: Console, n: int, texts: dict[str, str]) -> None:
    """Top-n false positives (with the triggering mention texts) and false negatives (with the gold codes)."""
    for cat, s in sorted(result.categories.items(), key=lambda kv: -(kv[1].fp + kv[1].fn)):
        if not (s.fp_uids or s.fn_uids):
            continue
        console.print(f"[bold]{cat}[/bold]: {s.fp} false positive(s), {s.fn} false negative(s)")
        for uid in s.fp_uids[:n]:
            ev = "; ".join(repr(e) for e in result.fp_evidence.get((uid, cat), []))
            console.print(f"  FP uid {uid}: mention {ev}" + (f"\n      {_snip(texts[uid])}" if uid in texts else ""),
                          markup=False, highlight=False)
        for uid in s.fn_uids[:n]:
            codes = "; ".join(result.fn_codes.get((uid, cat), []))
            console.print(f"  FN uid {uid}: gold {codes}" + (f"\n      {_snip(texts[uid])}" if uid in texts else ""),
                          markup=False, highlight=False)
    if result.region_misses:
        console.print(f"[bold]region misses[/bold]: {len(result.region_misses)} localizable code(s) not localized")
        for miss in result.region_misses[:n]:
            flag = " WRONG SIDE" if miss["wrong_side"] else ""
            console.print(f"  uid {miss['uid']}: {miss['code']} -> predicted {miss['predicted_regions'] or 'none'}"
                          f"{flag}", markup=False, highlight=False)


def run_openi_benchmark(csv_path: Optional[Path], pred: Optional[Path], json_out: Optional[Path] = None,
                        errors: int = 0, show_text: bool = False, console: Optional[Console] = None,
                        save_pred: Optional[Path] = None, nlp: Any = None) -> int:
    """Score our parser (pred None; `nlp`: its pipeline, default the rules) or a predictions JSONL on the OpenI
    benchmark; print tables; exit code."""
    from ..evaluation import scoring

    console = console or Console(soft_wrap=True)
    path = openi.resolve_csv(csv_path)
    try:
        reports, skipped = openi.load_reports(path)
    except openi.OpenIError as exc:
        console.print(f"error: {exc}", markup=False, highlight=False)
        return 2
    speed = ""
    if pred is not None:
        records, problems = scoring.load_records(pred, strict=False)
        for prob in problems[:20]:
            console.print(f"warning: {prob}", markup=False, highlight=False)
        if len(problems) > 20:
            console.print(f"... {len(problems) - 20} more problem line(s)")
        if problems:
            console.print(f"{len(problems)} problem line(s) in {pred} were skipped", markup=False, highlight=False)
        if records is None:
            return 2
        predictions: dict[str, Any] = records
    else:
        t0 = time.perf_counter()
        predictions = openi.parse_openi([(r.uid, r.text) for r in reports], nlp)
        dt = time.perf_counter() - t0
        speed = f"parsed {len(reports)} reports in {dt:.1f}s ({len(reports) / max(dt, 1e-9):.0f} reports/s)"
        if save_pred is not None:
            with save_pred.open("w", encoding="utf-8") as fh:
                for rep in predictions.values():
                    fh.write(rep.to_json() + "\n")
    result = openi.score_reports(reports, predictions, skipped)
    render_openi(result, console, errors, {r.uid: r.text for r in reports} if show_text else None)
    if speed:
        console.print(speed)
    if json_out is not None:
        json_out.write_text(json.dumps(result.to_dict(errors=True), indent=1), encoding="utf-8")
        console.print(f"wrote {json_out}", markup=False, highlight=False)
    return 0


def benchmark_openi(
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="OpenI CSV (default: $ASG_OPENI_CSV or "
                                            "../shared/data/openi/openi_dev.csv)"),
    pred: Optional[Path] = typer.Option(None, "--pred", help="Predictions JSONL to score instead of running our parser"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write all figures (and error lists) as JSON"),
    errors: int = typer.Option(0, "--errors", help="Print the top N false positives/negatives per category"),
    show_text: bool = typer.Option(False, "--show-text", help="With --errors, print a snippet of each report"),
    save_pred: Optional[Path] = typer.Option(None, "--save-pred", help="Write our parser's predictions (benchmark "
                                             "texts) as JSONL, e.g. to evaluate against the OpenI standoff gold"),
    existence_model: Optional[Path] = typer.Option(None, "--existence-model", metavar="DIR",
                                                   help=EXISTENCE_MODEL_HELP),
    existence_mode: str = typer.Option("rules", "--existence-mode", metavar="rules|model|vote",
                                       help=EXISTENCE_MODE_HELP),
) -> None:
    """Score the OpenI report-level benchmark (README of the OpenI folder) for our parser or a predictions file."""
    existence = existence_options(existence_model, existence_mode)
    nlp = load(None, **existence) if existence else None
    code = run_openi_benchmark(csv_path, pred, json_out, errors, show_text, save_pred=save_pred, nlp=nlp)
    if code:
        raise typer.Exit(code)




def register(app: typer.Typer) -> None:
    """Add the `benchmark` command group to `app`."""
    bench = typer.Typer(help="Report-level benchmarks on public data sets.", no_args_is_help=True)
    bench.command("openi")(benchmark_openi)
    app.add_typer(bench, name="benchmark")
