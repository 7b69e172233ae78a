"""`asg-parse evaluate`: predicted parses against gold annotations, as rich tables (and JSON)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from .common import CONVENTION_HELP, output_problem
from .display import fmt as _f


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
    from ..evaluation.scoring import EXISTENCE

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
                 csv_path: Optional[Path] = None, console: Optional[Console] = None,
                 convention: Optional[str] = None) -> int:
    """Load, compare, print. Exit code 0 clean; 1 some bad lines or gold ids unpredicted (counted, rest scored);
    2 nothing to score (a file unreadable, the OpenI CSV absent for standoff gold, or no common ids)."""
    from ..evaluation import scoring

    console = console or Console(soft_wrap=True)
    problem = output_problem(json_out)
    if problem:
        console.print(f"error: {problem}", markup=False, highlight=False)
        return 2
    if scoring.is_standoff(gold):
        gold_records, gold_problems = scoring.load_openi_standoff(gold, csv_path)
    else:
        gold_records, gold_problems = scoring.load_records(gold, strict=True)
    pred_records, pred_problems = scoring.load_records(pred, strict=True)
    problems = gold_problems + pred_problems
    for prob in problems[:30]:
        console.print(f"input problem: {prob}", markup=False, highlight=False)
    if len(problems) > 30:
        console.print(f"... {len(problems) - 30} more input problem(s)")
    if gold_records is None or pred_records is None:
        return 2
    if convention is not None:
        try:
            reread(pred_records, convention)
        except ValueError as exc:
            console.print(f"error: --convention: {exc}", markup=False, highlight=False)
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
    result = scoring.evaluate_records(gold_records, pred_records)
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
    convention: Optional[str] = typer.Option(
        None, "--convention", metavar="NAME",
        help="Re-read the predicted triplets under this labelling convention from their recorded cue_class "
             "(no re-parse; only cues that fired can be re-read) before scoring. " + CONVENTION_HELP),
) -> None:
    """Compare predicted parses with gold: mentions, triplets, existence, region map, findings, 40-tag vector.

    Exit code 0: clean (predicted ids without gold are listed and ignored); 1: bad lines or gold ids without a
    prediction (reported, counted, the rest scored); 2: nothing scored.
    """
    code = run_evaluate(gold, pred, json_out, errors, csv_path, convention=convention)
    if code:
        raise typer.Exit(code)


def reread(records: dict[str, dict[str, Any]], convention: str) -> None:
    """Re-read every triplet's existence under `convention` from its cue_class, and the tags with it."""
    from ..evaluation.scoring import derive_tags
    from ..pipeline.resources import get_ontology

    onto = get_ontology(None)
    conv = onto.convention(convention)
    for rec in records.values():
        triplets = rec.get("triplets") or []
        for t in triplets:
            t["existence"] = conv.reread(t.get("cue_class"), t["existence"])
        rec["tags"] = derive_tags(triplets, onto.asg_tags)


def register(app: typer.Typer) -> None:
    """Add the `evaluate` command to `app`."""
    app.command("evaluate")(evaluate_command)
