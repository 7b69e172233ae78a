"""Evaluation subcommands of asg-parse (`evaluate`, `benchmark openi`) and their rich table renderers."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from . import openi

# ---------------------------------------------------------------- rendering: OpenI benchmark


def _f(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{x:.3f}"


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


# ---------------------------------------------------------------- commands


def run_openi_benchmark(csv_path: Optional[Path], pred: Optional[Path], json_out: Optional[Path] = None,
                        errors: int = 0, show_text: bool = False, console: Optional[Console] = None,
                        save_pred: Optional[Path] = None) -> int:
    """Score our parser (pred None) or a predictions JSONL on the OpenI benchmark; print tables; exit code."""
    from . import evaluate

    console = console or Console(soft_wrap=True)
    path = openi.resolve_csv(csv_path)
    try:
        reports, skipped = openi.load_reports(path)
    except openi.OpenIError as exc:
        console.print(f"error: {exc}", markup=False, highlight=False)
        return 2
    speed = ""
    if pred is not None:
        records, problems = evaluate.load_records(pred, strict=False)
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
        predictions = openi.parse_openi([(r.uid, r.text) for r in reports])
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
) -> None:
    """Score the OpenI report-level benchmark (README of the OpenI folder) for our parser or a predictions file."""
    code = run_openi_benchmark(csv_path, pred, json_out, errors, show_text, save_pred=save_pred)
    if code:
        raise typer.Exit(code)


def _prf_row(table: Table, name: str, c: dict[str, Any]) -> None:
    table.add_row(name, str(c["tp"]), str(c["fp"]), str(c["fn"]), _f(c["precision"]), _f(c["recall"]), _f(c["f1"]))


def _prf_table(title: str, first: str) -> Table:
    table = Table(title=title)
    table.add_column(first)
    for col in ("tp", "fp", "fn", "P", "R", "F1"):
        table.add_column(col, justify="right")
    return table


def _trip(t: dict[str, Any]) -> str:
    return f"{t.get('finding')} | {t.get('existence')} | {t.get('region') or '-'} | '{t.get('text', '')}' @{t.get('start')}"


def render_eval(result: Any, console: Console, errors: int = 0,
                gold: Optional[dict[str, dict[str, Any]]] = None) -> None:
    """Print the evaluate tables; with errors > 0, the N worst reports gold vs predicted."""
    d = result.to_dict()
    console.print(f"[bold]evaluated {d['n_reports']} report(s)[/bold]")
    main = _prf_table("Mentions, triplets, region map", "level")
    _prf_row(main, "mention: finding (span overlap)", d["mention"])
    _prf_row(main, "mention: finding + existence", d["mention_existence"])
    _prf_row(main, "triplet: region + finding + existence", d["triplet"])
    _prf_row(main, "region -> sentence map", d["region_map"]["overall"])
    console.print(main)
    conf = Table(title=f"Existence on matched mentions (accuracy {_f(d['existence_accuracy'])})")
    conf.add_column("gold \\ pred")
    from .evaluate import EXISTENCE

    for e in EXISTENCE:
        conf.add_column(e, justify="right")
    for g in EXISTENCE:
        conf.add_row(g, *(str(d["existence_confusion"][g][p]) for p in EXISTENCE))
    console.print(conf)
    tags = d["tags"]
    console.print(f"40-tag vector accuracy: {_f(tags['accuracy'])} ({tags['equal']}/{tags['total']} report-tag cells); "
                  f"on cells mentioned by either side: {_f(tags['accuracy_mentioned'])} "
                  f"({tags['mentioned_total']} cells)", highlight=False)
    regions = _prf_table("Region -> sentence map per region", "region")
    for region, c in d["region_map"]["per_region"].items():
        _prf_row(regions, region, c)
    console.print(regions)
    findings = Table(title="Per finding (F1)")
    findings.add_column("finding")
    for col in ("gold mentions", "mention F1", "mention+existence F1", "gold triplets", "triplet F1"):
        findings.add_column(col, justify="right")
    for f, c in sorted(d["per_finding"].items(), key=lambda kv: -(kv[1]["mention"]["tp"] + kv[1]["mention"]["fn"])):
        findings.add_row(f, str(c["mention"]["tp"] + c["mention"]["fn"]), _f(c["mention"]["f1"]),
                         _f(c["mention_existence"]["f1"]), str(c["triplet"]["tp"] + c["triplet"]["fn"]),
                         _f(c["triplet"]["f1"]))
    console.print(findings)
    if errors > 0:
        worst = sorted((x for x in result.diffs if x.n_errors), key=lambda x: (-x.n_errors, x.id))[:errors]
        console.print(f"[bold]{len(worst)} worst report(s)[/bold]")
        for diff in worst:
            console.print(f"[bold]report {diff.id}[/bold]: {diff.n_errors} error(s)", highlight=False)
            text = (gold or {}).get(diff.id, {}).get("text")
            if text:
                console.print("  " + " ".join(text.split()), markup=False, highlight=False)
            side = Table(show_lines=False)
            side.add_column("gold triplets missed by pred")
            side.add_column("predicted triplets not in gold")
            n = max(len(diff.triplet_fn), len(diff.triplet_fp))
            for k in range(n):
                side.add_row(_trip(diff.triplet_fn[k]) if k < len(diff.triplet_fn) else "",
                             _trip(diff.triplet_fp[k]) if k < len(diff.triplet_fp) else "")
            if n:
                console.print(side)
            for a, b in diff.existence_mismatch:
                console.print(f"  existence: '{a.text}' ({a.finding}) gold {a.existence}, pred {b.existence}",
                              markup=False, highlight=False)
            if diff.region_map_fn:
                console.print("  region map missed: " + ", ".join(f"{r}->s{i}" for r, i in diff.region_map_fn),
                              markup=False, highlight=False)
            if diff.region_map_fp:
                console.print("  region map spurious: " + ", ".join(f"{r}->s{i}" for r, i in diff.region_map_fp),
                              markup=False, highlight=False)


def run_evaluate(gold: Path, pred: Path, json_out: Optional[Path] = None, errors: int = 0,
                 csv_path: Optional[Path] = None, console: Optional[Console] = None) -> int:
    """Load, compare, print. Exit code 0 clean; 1 some bad lines or gold ids unpredicted (counted, rest scored);
    2 nothing to score (a file unreadable, the OpenI CSV absent for standoff gold, or no common ids)."""
    from . import evaluate

    console = console or Console(soft_wrap=True)
    if evaluate.is_standoff(gold):
        gold_records, gold_problems = evaluate.load_openi_standoff(gold, csv_path)
    else:
        gold_records, gold_problems = evaluate.load_records(gold, strict=True)
    pred_records, pred_problems = evaluate.load_records(pred, strict=True)
    problems = gold_problems + pred_problems
    for prob in problems[:30]:
        console.print(f"input problem: {prob}", markup=False, highlight=False)
    if len(problems) > 30:
        console.print(f"... {len(problems) - 30} more input problem(s)")
    if gold_records is None or pred_records is None:
        return 2
    missing_pred = [i for i in gold_records if i not in pred_records]
    missing_gold = [i for i in pred_records if i not in gold_records]
    if missing_pred:
        console.print(f"{len(missing_pred)} gold id(s) have no prediction in {pred} (not scored): "
                      f"{', '.join(missing_pred[:10])}{' ...' if len(missing_pred) > 10 else ''}",
                      markup=False, highlight=False)
    if missing_gold:
        console.print(f"{len(missing_gold)} predicted id(s) are not in {gold} (ignored): "
                      f"{', '.join(missing_gold[:10])}{' ...' if len(missing_gold) > 10 else ''}",
                      markup=False, highlight=False)
    n_common = len(gold_records) - len(missing_pred)
    if n_common == 0:
        console.print("error: no report id is present in both files; nothing to score", highlight=False)
        return 2
    result = evaluate.evaluate_records(gold_records, pred_records)
    render_eval(result, console, errors, gold_records)
    bad = len(problems) + len(missing_pred) + len(missing_gold)
    if bad:
        console.print(f"{len(problems)} bad input line(s), {len(missing_pred)} gold id(s) without prediction, "
                      f"{len(missing_gold)} predicted id(s) without gold", highlight=False)
    if json_out is not None:
        out = result.to_dict()
        out["input_problems"] = [str(p) for p in problems]
        json_out.write_text(json.dumps(out, indent=1), encoding="utf-8")
        console.print(f"wrote {json_out}", markup=False, highlight=False)
    return 1 if problems or missing_pred else 0


def evaluate_command(
    gold: Path = typer.Option(..., "--gold", help="Gold JSONL: ParsedReport records (+ `text`), or OpenI standoff"),
    pred: Path = typer.Option(..., "--pred", help="Predicted JSONL (ParsedReport records)"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write all figures as JSON"),
    errors: int = typer.Option(0, "--errors", help="Print the N worst reports, gold vs predicted"),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="OpenI CSV for standoff gold"),
) -> None:
    """Compare predicted parses with gold: mentions, triplets, existence, region map, findings, 40-tag vector.

    Exit code 0: clean (predicted ids without gold are listed and ignored); 1: bad lines or gold ids without a
    prediction (reported, counted, the rest scored); 2: nothing scored.
    """
    code = run_evaluate(gold, pred, json_out, errors, csv_path)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add the evaluation commands to `app`: `evaluate` and `benchmark openi`."""
    app.command("evaluate")(evaluate_command)
    bench = typer.Typer(help="Report-level benchmarks on public data sets.", no_args_is_help=True)
    bench.command("openi")(benchmark_openi)
    app.add_typer(bench, name="benchmark")
