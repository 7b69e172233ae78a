"""`asg-parse benchmark openi`: the OpenI report-level benchmark for our parser or any tool's predictions."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import typer
from rich.console import Console
from rich.table import Table

from ..evaluation import bioscope as bioscope_eval
from ..evaluation import chexpert as chexpert_eval
from ..evaluation import openi
from ..evaluation import region_map as region_map_eval
from ..evaluation import scoring
from .common import (CONVENTION_HELP, EXISTENCE_MODE_OPTION, EXISTENCE_MODEL_OPTION, existence_options, fail, load,
                     output_problem)
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
    if result.region_map is not None:
        rm = result.region_map.recall("positive")
        summary.add_row("region-map recall", _f(rm["recall"]), f"{rm['recalled']}/{rm['items']} gold categories "
                        "whose stating sentence the region map gives to their home (regions.yaml); "
                        f"{_f(rm['recall_when_stated'])} of the {rm['stated']} stated")
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
    if result.region_map is not None and result.region_map.misses:
        console.print(f"[bold]region-map misses[/bold]: {len(result.region_map.misses)} gold categories")
        for miss in result.region_map.misses[:n]:
            console.print(f"  uid {miss['report']}: {miss['observation']}: {_region_map_miss(miss)}"
                          + (f"\n      {_snip(texts[miss['report']])}" if miss["report"] in texts else ""),
                          markup=False, highlight=False)


def _region_map_miss(miss: dict[str, Any]) -> str:
    """Where a region-map miss stands: the stating sentences and their regions, or "not stated"."""
    if not miss["sentences"]:
        return "not stated"
    return f"sentence(s) {miss['sentences']} mapped to {', '.join(miss['their_regions']) or 'no region'}"


def run_openi_benchmark(csv_path: Optional[Path], pred: Optional[Path], json_out: Optional[Path] = None,
                        errors: int = 0, show_text: bool = False, console: Optional[Console] = None,
                        save_pred: Optional[Path] = None, convention: Optional[str] = None,
                        nlp: Any = None) -> int:
    """Score our parser (pred None; `nlp`: its pipeline, default the rules; `convention`: the profile of the
    default pipeline) or a predictions JSONL on the OpenI benchmark; print tables; exit code."""
    console = console or Console(soft_wrap=True)
    problem = output_problem(json_out, save_pred)
    if problem:
        console.print(f"error: {problem}", markup=False, highlight=False)
        return 2
    path = openi.resolve_csv(csv_path)
    try:
        reports, skipped = openi.load_reports(path)
    except openi.OpenIError as exc:
        console.print(f"error: {exc}", markup=False, highlight=False)
        return 2
    speed = ""
    if pred is not None:
        records = _records(pred, console, [r.uid for r in reports])
        if records is None:
            return 2
        predictions: dict[str, Any] = records
    else:
        t0 = time.perf_counter()
        if nlp is None and convention is not None:
            import asg_parse

            try:
                nlp = asg_parse.load(spans=False, convention=convention)
            except ValueError as exc:
                console.print(f"error: --convention: {exc}", markup=False, highlight=False)
                return 2
        predictions = openi.parse_openi([(r.uid, r.text) for r in reports], nlp=nlp)
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
    convention: Optional[str] = typer.Option(None, "--convention", metavar="NAME", show_default="asg",
                                             help=CONVENTION_HELP),
    existence_model: Optional[Path] = EXISTENCE_MODEL_OPTION,
    existence_mode: str = EXISTENCE_MODE_OPTION,
) -> None:
    """Score the OpenI report-level benchmark (README of the OpenI folder) for our parser or a predictions file."""
    existence = existence_options(existence_model, existence_mode)
    nlp = load(None, convention=convention, **existence) if existence else None
    code = run_openi_benchmark(csv_path, pred, json_out, errors, show_text, save_pred=save_pred,
                               convention=convention, nlp=nlp)
    if code:
        raise typer.Exit(code)


# ---------------------------------------------------------------- shared by the BioScope and Stanford benchmarks
def _parse(items: list[tuple[str, str]], convention: Optional[str]) -> tuple[dict[str, Any], str]:
    """Our parser's records of (id, text) items under `convention` (progress bar on a terminal), and a speed line."""
    import sys

    import asg_parse

    from .display import progress_bar

    try:
        nlp = asg_parse.load(spans=False, convention=convention)
    except ValueError as exc:
        raise fail(f"--convention: {exc}") from None
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    with progress_bar(len(items), enabled=sys.stderr.isatty()) as advance:
        for rec in asg_parse.parse_records(items, nlp=nlp):
            out[rec["id"]] = rec
            advance(1)
    dt = time.perf_counter() - t0
    return out, f"parsed {len(items)} reports in {dt:.1f}s ({len(items) / max(dt, 1e-9):.0f} reports/s), " \
                f"convention {convention or 'asg'}"


def _records(pred: Path, console: Console, ids: Sequence[str]) -> Optional[dict[str, Any]]:
    """A predictions JSONL (any tool's records: id + triplets), its problem lines reported; None, the error printed,
    when the file cannot be read or none of its records is one of the benchmark's reports (`ids`)."""
    records, problems = scoring.load_records(pred, strict=False)
    if records is None:  # the whole file: one problem
        fail(str(problems[0]))
        return None
    for prob in problems[:20]:
        console.print(f"warning: {prob}", markup=False, highlight=False)
    if len(problems) > 20:
        console.print(f"... {len(problems) - 20} more problem line(s)")
    if problems:
        console.print(f"{len(problems)} problem line(s) in {pred} were skipped", markup=False, highlight=False)
    if ids and not any(i in records for i in ids):
        fail(f"{pred}: none of its {len(records)} record(s) is a report of the benchmark (record ids are the "
             f"data's report ids, e.g. {', '.join(ids[:3])})")
        return None
    return records


def _write_json(json_out: Optional[Path], data: dict[str, Any], console: Console) -> None:
    if json_out is not None:
        json_out.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
        console.print(f"wrote {json_out}", markup=False, highlight=False)


def _row(table: Table, name: str, d: Optional[dict[str, float]], keys: tuple[str, ...]) -> None:
    table.add_row(name, *(("-" if d is None else _f(d[k])) for k in keys))


def render_region_map(rm: region_map_eval.RegionMapRecall, console: Console) -> None:
    """The region-map recall table: per observation and kind, recall (recalled / items), then the totals."""
    kinds = list(rm.counts)
    table = Table(title="Region-map recall: gold observations whose stating sentence the region map gives to "
                        "their home")
    for col in ("observation", *kinds):
        table.add_column(col, justify="left" if col == "observation" else "right")

    def cell(h: int, n: int) -> str:
        return f"{_f(h / n)} ({h}/{n})" if n else "-"

    names = list(dict.fromkeys(o for per in rm.counts.values() for o in per))
    for o in names:
        table.add_row(o, *(cell(*rm.counts[k].get(o, (0, 0, 0))[::2]) for k in kinds))
    totals = {k: rm.recall(k) for k in kinds}
    table.add_row("all", *(cell(t["recalled"], t["items"]) for t in totals.values()))
    table.add_row("all the parse states", *(cell(t["recalled"], t["stated"]) for t in totals.values()))
    console.print(table)


# ---------------------------------------------------------------- BioScope
def benchmark_bioscope(
    data: Optional[Path] = typer.Option(None, "--data", help="BioScope JSONL (default: $ASG_BIOSCOPE or "
                                        "../shared/data/bioscope/bioscope_dev.jsonl)"),
    pred: Optional[Path] = typer.Option(None, "--pred", help="Predictions JSONL to score instead of running our "
                                        "parser: records keyed by doc_id, offsets into the built report text"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write all figures (and the errors) as JSON"),
    errors: int = typer.Option(0, "--errors", help="Print the first N mentions where the prediction and gold differ"),
    convention: str = typer.Option(bioscope_eval.CONVENTION, "--convention", metavar="NAME",
                                   help=CONVENTION_HELP + " Default here: linguistic (BioScope's reading)."),
    no_negspacy: bool = typer.Option(False, "--no-negspacy", help="Do not run the negspacy anchor"),
) -> None:
    """Score existence on BioScope's pediatric reports (README of the bioscope folder), negspacy alongside."""
    console = Console(soft_wrap=True)
    if problem := output_problem(json_out):
        raise fail(problem)
    try:
        docs = bioscope_eval.load_documents(data)
    except bioscope_eval.BioScopeError as exc:
        raise fail(str(exc)) from None
    speed = ""
    if pred is not None:
        predictions = _records(pred, console, [d.doc_id for d in docs])
        if predictions is None:
            raise typer.Exit(2)
    else:
        predictions, speed = _parse([(d.doc_id, d.text) for d in docs], convention)
    result = bioscope_eval.score(docs, predictions, negspacy=not no_negspacy)
    d = result.to_dict(errors=True)
    skipped = ", ".join(f"{k} {v}" for k, v in result.skipped.items()) or "none"
    gold = ", ".join(f"{k} {v}" for k, v in sorted(result.gold_counts().items()))
    console.print(f"[bold]BioScope clinical benchmark[/bold]: {result.n_documents} documents, "
                  f"{len(result.mentions)} scored mentions (left out: {skipped}; gold: {gold})")
    if result.missing_predictions:
        console.print(f"[yellow]{len(result.missing_predictions)} document(s) have no prediction[/yellow]")
    keys = ("accuracy", "precision", "recall", "f1")
    table = Table(title="Negation (absent vs not, all scored mentions)")
    for col in ("tool", *keys):
        table.add_column(col, justify="left" if col == "tool" else "right")
    _row(table, "asg_parse" if pred is None else str(pred), d["negation"], keys)
    _row(table, "negspacy en_clinical", d["negspacy_negation"], keys)
    console.print(table)
    hkeys = ("precision", "recall", "f1", "accuracy3")
    table = Table(title=f"Hedges (uncertain vs not, {d['hedge']['n']} mentions whose gold is not alternative or "
                        "leaning)")
    for col in ("tool", "P", "R", "F1", "3-way acc"):
        table.add_column(col, justify="left" if col == "tool" else "right")
    _row(table, "asg_parse" if pred is None else str(pred), d["hedge"], hkeys)
    console.print(table)
    if errors > 0:
        sentences = {(doc.doc_id, s.sent_id): s.text for doc in docs for s in doc.sentences}
        for m in result.errors()[:errors]:
            console.print(f"  {m.doc_id} {m.sent_id}: {m.text!r} gold {m.gold}, predicted {m.pred}"
                          f"\n      {_snip(sentences[m.doc_id, m.sent_id])}", markup=False, highlight=False)
    if speed:
        console.print(speed)
    _write_json(json_out, d, console)


# ---------------------------------------------------------------- Stanford CheXpert labels
def benchmark_chexpert(
    data: Optional[Path] = typer.Option(None, "--data", help="Stanford reports CSV (default: $ASG_CHEXPERT_REPORTS "
                                        "or ../shared/data/chexpert_reports/chexpert_reports_dev.csv)"),
    pred: Optional[Path] = typer.Option(None, "--pred", help="Score this instead of our parser: a label CSV in the "
                                        "CheXpert layout (rows in the data's order, or matched by a "
                                        "SimpleTestReportID / id column) or a records JSONL keyed by report id"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write all figures (and the errors) as JSON"),
    errors: int = typer.Option(0, "--errors", help="Print the first N disagreeing reports per observation"),
    convention: str = typer.Option(chexpert_eval.CONVENTION, "--convention", metavar="NAME",
                                   help=CONVENTION_HELP + " Default here: chexpert."),
) -> None:
    """Score CheXpert labels on Stanford impressions (README of the chexpert_reports folder)."""
    from ..labels import ReportLabeler, label_set
    from ..pipeline.resources import get_ontology

    if problem := output_problem(json_out):
        raise fail(problem)
    console = Console(soft_wrap=True)
    ontology = get_ontology(None)
    labels = label_set(ontology, chexpert_eval.LABEL_SET)
    labeler = ReportLabeler(labels)
    observations = labeler.columns
    records: Optional[dict[str, Any]] = None  # a label CSV has no region map
    try:
        reports = chexpert_eval.load_reports(data, observations)
        speed = ""
        if pred is not None and pred.suffix.lower() == ".csv":
            predictions = chexpert_eval.labels_from_csv(pred, reports, observations)
        else:
            if pred is not None:
                records = _records(pred, console, [r.id for r in reports])
                if records is None:
                    raise typer.Exit(2)
            else:
                records, speed = _parse([(r.id, r.text) for r in reports], convention)
            predictions = chexpert_eval.labels_from_records(records, labeler)
    except chexpert_eval.ChexpertError as exc:
        raise fail(str(exc)) from None
    result = chexpert_eval.score(reports, predictions, observations, records, labeler,
                                 region_map_eval.observation_homes(labels, ontology))
    d = result.to_dict(errors=True)
    console.print(f"[bold]Stanford CheXpert-label benchmark[/bold]: {result.n_reports} reports")
    if result.missing_predictions:
        console.print(f"[yellow]{len(result.missing_predictions)} report(s) have no prediction (scored as blank)"
                      "[/yellow]")
    table = Table(title="F1 per observation (gold support in brackets)")
    for col in ("observation", *chexpert_eval.KINDS):
        table.add_column(col, justify="left" if col == "observation" else "right")
    for o in observations:
        per = result.per[o]
        table.add_row(o, *((f"{_f(per[k]['f1'])} ({per[k]['support']})" if k in per else "-")
                           for k in chexpert_eval.KINDS))
    table.add_row("macro (13, with gold)", *(_f(result.macro(k)["f1"]) for k in chexpert_eval.KINDS))
    console.print(table)
    cp = result.course_positive()
    pooled = cp["pooled"]
    console.print(f"positive F1 over the course's 11 observations: {_f(cp['f1'])} (their mean of the "
                  f"per-observation F1s); pooled {_f(pooled['f1'])} (P {_f(pooled['precision'])} "
                  f"R {_f(pooled['recall'])})")
    if result.region_map is not None:
        render_region_map(result.region_map, console)
    if errors > 0:
        texts = {r.id: r.text for r in reports}
        for o in observations:
            for rid, g, p in result.errors(o)[:errors]:
                console.print(f"  {o}: report {rid} gold {g} predicted {p}\n      {_snip(texts.get(rid, ''))}",
                              markup=False, highlight=False)
        if result.region_map is not None:
            for miss in result.region_map.misses[:errors]:
                console.print(f"  region map: report {miss['report']} {miss['observation']} ({miss['kind']}): "
                              f"{_region_map_miss(miss)}"
                              f"\n      {_snip(texts.get(miss['report'], ''))}", markup=False, highlight=False)
    if speed:
        console.print(speed)
    _write_json(json_out, d, console)


def register(app: typer.Typer) -> None:
    """Add the `benchmark` command group to `app`."""
    bench = typer.Typer(help="Report-level benchmarks on public data sets.", no_args_is_help=True)
    bench.command("openi")(benchmark_openi)
    bench.command("bioscope")(benchmark_bioscope)
    bench.command("chexpert")(benchmark_chexpert)
    app.add_typer(bench, name="benchmark")
