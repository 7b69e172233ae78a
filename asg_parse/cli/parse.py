"""`asg-parse INPUT -o OUT.jsonl`: parse every report of an input into JSONL records, in input order."""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer

from .common import (CONVENTION_HELP, EXISTENCE_MODE_OPTION, EXISTENCE_MODEL_OPTION, ONTOLOGY_HELP, STARTED,
                     default_workers, existence_options, fail, load)
from .display import ParseStats, print_summary, progress_bar
from .io import InputError, detect_layout, open_reports
from .output import JsonlWriter, skip_done
from .shards import ShardInfo, parse_shard, sidecar_path, write_sidecar


def parse_command(
    input: str = typer.Argument(
        ..., metavar="INPUT", show_default=False,
        help="Reports: a .csv/.tsv/.jsonl file, a directory of .txt files (searched recursively; id = file stem), "
             "one .txt file, or - for stdin. Tables and JSONL take the id from the first of id, study_id, study, "
             "uid, dicom_id and the text from report or text, else from findings + impression."),
    output: str = typer.Option(
        ..., "-o", "--output", metavar="OUT.jsonl", show_default=False,
        help="Output JSONL, one record per report in input order; written to OUT.jsonl.partial and renamed when "
             "the run completes. - writes to stdout."),
    workers: int = typer.Option(
        default_workers(), "-w", "--workers", min=1, show_default="number of CPU cores",
        help="Worker processes. The output is byte-identical for any number."),
    id_col: Optional[str] = typer.Option(
        None, "--id-col", metavar="NAME", help="Column (or JSON key) holding the report id."),
    text_col: Optional[list[str]] = typer.Option(
        None, "--text-col", metavar="NAME",
        help="Column (or JSON key) holding report text; repeat it to join several as 'NAME: text' sections."),
    ontology: Optional[Path] = typer.Option(None, "--ontology", metavar="DIR", help=ONTOLOGY_HELP),
    convention: Optional[str] = typer.Option(
        None, "--convention", metavar="NAME", show_default="asg; chexpert with --labels chexpert",
        help=CONVENTION_HELP),
    labels: Optional[str] = typer.Option(
        None, "--labels", metavar="SET",
        help="Write a label CSV instead of JSONL: one row per report, the report text then one column per label, "
             "1.0 / 0.0 / -1.0 / blank. 'chexpert': the CheXpert labeler's 14 observations and layout; 'asg': the "
             "40 ASG tags; or a set of the --ontology directory's labels.yaml."),
    existence_model: Optional[Path] = EXISTENCE_MODEL_OPTION,
    existence_mode: str = EXISTENCE_MODE_OPTION,
    strict: bool = typer.Option(
        False, "--strict", help="Stop at the first report the parser fails on instead of recording the error."),
    resume: bool = typer.Option(
        False, "--resume",
        help="Continue an interrupted run: keep the records already in OUT.jsonl.partial (or OUT.jsonl) and "
             "parse only the rest."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bar and no summary on stderr."),
    chunk_size: Optional[int] = typer.Option(
        None, "--chunk-size", min=1, hidden=True, help="Reports per worker task (default: automatic)."),
    shard: Optional[str] = typer.Option(
        None, "--shard", metavar="I/N", show_default=False,
        help="Parse only shard I of N (1-based): input records I, I+N, I+2N, ... Each shard reads the whole input "
             "(cheap next to parsing), so N machines split it with no coordination; each writes OUT.jsonl and a "
             "sidecar OUT.jsonl.shard.json. Join the shards in input order with: asg-parse merge OUT SHARDS..."),
) -> None:
    """Parse reports into JSONL records (the default command: asg-parse INPUT -o OUT.jsonl)."""
    from .feed import Feed
    from .runner import collect_per_chunk, set_pipeline

    started = STARTED[0] if STARTED else time.perf_counter()
    if labels is not None and (resume or shard):
        raise fail(f"{'--resume' if resume else '--shard'} works on JSONL output only, not with --labels")
    if labels is not None and str(output).lower().endswith((".jsonl", ".json", ".ndjson")):
        raise fail(f"--labels writes a CSV, not JSON: name the output .csv (got {output})")
    if labels is None and str(output).lower().endswith((".csv", ".tsv")):
        raise fail(f"the records are JSON Lines, not a table: name the output .jsonl, or add --labels SET for a "
                   f"label CSV (got {output})")
    try:  # what needs no full read fails now, before spaCy loads: the input, its layout and columns, --shard
        spec = parse_shard(shard) if shard else None
        if spec and output == "-":
            raise InputError("--shard needs an output file (its sidecar goes next to it), not stdout")
        layout = detect_layout(input)
        reports = open_reports(input, id_col=id_col, text_cols=text_col, layout=layout)
    except InputError as exc:
        raise fail(str(exc)) from None
    # a file or directory is read in another process, starting while this one loads spaCy and builds the pipeline
    # (a worker process gets no stdin: "-" is read here)
    onto = str(ontology) if ontology is not None else None
    labeler = _labeler(onto, labels)
    if labeler is not None and convention is None:
        convention = labeler.labels.convention  # the label set's own convention (chexpert for --labels chexpert)
    options = {"convention": convention, **existence_options(existence_model, existence_mode)}
    feed = Feed(reports, spec, background=layout != "stdin")
    try:
        nlp = load(ontology, **options)
        set_pipeline(nlp, onto, labels, **options)
        collect_per_chunk()
        try:
            writer = JsonlWriter(output, resume=resume)
        except InputError as exc:
            raise fail(str(exc)) from None
        if labeler is not None:
            writer.write(labeler.header())
        stats = _parse(feed, writer, workers, onto, chunk_size, strict, quiet, labels)
        if spec is not None:
            write_sidecar(Path(output), ShardInfo(spec[0], spec[1], stats.kept + stats.reports, feed.records or 0,
                                                  feed.ids_digest or "", input))
        elif writer.path is not None:
            sidecar_path(writer.path).unlink(missing_ok=True)  # of an earlier sharded run to the same file
    finally:
        feed.close()
    stats.wall = time.perf_counter() - started
    if not quiet:
        print_summary(stats, output)
    if stats.errors:
        raise fail(f"{len(stats.errors)} of {stats.reports} reports failed; their records carry an 'error' field", 1)


def _parse(feed: Any, writer: JsonlWriter, workers: int, ontology: Optional[str], chunk_size: Optional[int],
           strict: bool, quiet: bool, labels: Optional[str] = None) -> ParseStats:
    """Parse the items of `feed` into `writer` and commit it; the run's counts. A stop (Ctrl-C, SIGTERM, a dead
    worker, --strict, bad input further on) keeps the records so far in OUT.partial and exits with one line."""
    from .runner import WorkerDied, run_chunks

    items = iter(feed)
    stats = ParseStats()
    try:
        stats.kept = skip_done(writer, items)
    except (InputError, WorkerDied) as exc:
        writer.keep_partial()
        raise fail(str(exc), 2 if isinstance(exc, InputError) else 1) from None
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    stopped: Optional[tuple[str, str]] = None
    try:
        with progress_bar(enabled=not quiet and sys.stderr.isatty()) as advance:
            for res in run_chunks(items, workers=workers, ontology=ontology, chunk_size=chunk_size, labels=labels):
                lines = res.lines
                if strict and res.errors:
                    index, rid, message = res.errors[0]
                    lines = lines[:index]
                    res.errors = res.errors[:1]
                    stopped = (rid, message)
                writer.write("".join(lines))
                stats.add(res, len(lines))
                total = feed.estimate()
                advance(len(lines), None if total is None else total - stats.kept)
                if stopped:
                    break
                writer.flush()
    except InputError as exc:
        kept = stats.kept + stats.reports
        if not kept and not writer.resumed:
            writer.discard()
            raise fail(str(exc)) from None
        writer.keep_partial()
        where = f"; {kept} records kept in {writer.tmp}, run again with --resume once it is fixed" \
            if writer.tmp else ""
        raise fail(f"{exc}{where}") from None
    except WorkerDied as exc:
        writer.keep_partial()
        where = f"; {stats.kept + stats.reports} records kept in {writer.tmp}, run again with --resume" \
            if writer.tmp else ""
        raise fail(f"{exc}{where}", 1) from None
    except KeyboardInterrupt:
        writer.keep_partial()
        typer.echo(f"interrupted: {stats.kept + stats.reports} records kept in {writer.tmp or 'stdout'}; "
                   "run again with --resume to finish", err=True)
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    if stopped:
        writer.keep_partial()
        where = f"; {stats.kept + stats.reports} records kept in {writer.tmp}" if writer.tmp else ""
        raise fail(f"report '{stopped[0]}': {stopped[1]} (stopped by --strict{where})", 1)
    writer.commit()
    return stats


def _labeler(ontology: Optional[str], labels: Optional[str]) -> Any:
    """The ReportLabeler of `--labels`, or None; a bad ontology or an unknown set is a one-line error."""
    if labels is None:
        return None
    from anatomy_ontology import OntologyError

    from .runner import make_labeler

    try:
        return make_labeler(ontology, labels)
    except OntologyError as exc:
        raise fail(f"ontology: {exc}") from None
    except ValueError as exc:
        raise fail(f"--labels: {exc}") from None


_MAIN_PID = os.getpid()


def _raise_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM in the main process stops the run like Ctrl-C; a worker just ends."""
    if os.getpid() != _MAIN_PID:
        os._exit(128 + signum)
    raise KeyboardInterrupt
