"""`asg-parse INPUT -o OUT.jsonl`: parse every report of an input into JSONL records, in input order."""
from __future__ import annotations

import os
import signal
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Optional

import typer

from .common import (CONVENTION_HELP, EXISTENCE_MODE_HELP, EXISTENCE_MODEL_HELP, ONTOLOGY_HELP, STARTED,
                     default_workers, existence_options, fail, load)
from .io import InputError, JsonlWriter, detect_layout, read_inputs


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
    existence_model: Optional[Path] = typer.Option(None, "--existence-model", metavar="DIR",
                                                   help=EXISTENCE_MODEL_HELP),
    existence_mode: str = typer.Option("rules", "--existence-mode", metavar="rules|model|vote",
                                       help=EXISTENCE_MODE_HELP),
    strict: bool = typer.Option(
        False, "--strict", help="Stop at the first report the parser fails on instead of recording the error."),
    resume: bool = typer.Option(
        False, "--resume",
        help="Continue an interrupted run: keep the records already in OUT.jsonl.partial (or OUT.jsonl) and "
             "parse only the rest."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bar and no summary on stderr."),
    chunk_size: Optional[int] = typer.Option(
        None, "--chunk-size", min=1, hidden=True, help="Reports per worker task (default: automatic)."),
) -> None:
    """Parse reports into JSONL records (the default command: asg-parse INPUT -o OUT.jsonl)."""
    from .runner import WorkerDied, collect_per_chunk, in_background, run_chunks, set_pipeline
    from .display import ParseStats, progress_bar, print_summary

    started = STARTED[0] if STARTED else time.perf_counter()
    if labels is not None and resume:
        raise fail("--resume works on JSONL output only, not with --labels")
    try:
        layout = detect_layout(input)  # a missing or unreadable input fails now, before spaCy loads
    except InputError as exc:
        raise fail(str(exc)) from None
    # a file or directory is read in another process while this one loads spaCy and builds the pipeline
    # (a worker process gets no stdin: "-" is read here)
    read = partial(read_inputs, input, id_col=id_col, text_cols=text_col, layout=layout)
    if layout != "stdin":
        read = in_background(read)
    onto = str(ontology) if ontology is not None else None
    labeler = _labeler(onto, labels)
    if labeler is not None and convention is None:
        convention = labeler.labels.convention  # the label set's own convention (chexpert for --labels chexpert)
    options = {"convention": convention, **existence_options(existence_model, existence_mode)}
    nlp = load(ontology, **options)
    try:
        inputs = read()
    except InputError as exc:
        raise fail(str(exc)) from None
    set_pipeline(nlp, onto, labels, **options)
    collect_per_chunk()
    try:
        writer = JsonlWriter(output, resume=resume)
    except InputError as exc:
        raise fail(str(exc)) from None
    if labeler is not None:
        writer.write(labeler.header())
    items = inputs.items
    done = writer.done
    if done:
        mismatch = next((k for k, rid in enumerate(done) if k >= len(items) or items[k][0] != rid), None)
        if mismatch is not None:
            writer.keep_partial()
            found = f"input record {mismatch + 1} is '{items[mismatch][0]}'" if mismatch < len(items) \
                else f"the input has only {len(items)} reports"
            raise fail(f"{writer.tmp}: record {mismatch + 1} has id '{done[mismatch]}' but {found}; "
                        "cannot resume (remove the file to start over)")
        items = items[len(done):]

    stats = ParseStats(kept=len(done))
    show_progress = not quiet and sys.stderr.isatty()
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    stopped: Optional[tuple[str, str]] = None
    try:
        with progress_bar(len(items), enabled=show_progress) as advance:
            for res in run_chunks(items, workers=workers, ontology=onto, chunk_size=chunk_size, labels=labels):
                lines = res.lines
                if strict and res.errors:
                    index, rid, message = res.errors[0]
                    lines = lines[:index]
                    res.errors = res.errors[:1]
                    stopped = (rid, message)
                writer.write("".join(lines))
                stats.add(res, len(lines))
                advance(len(lines))
                if stopped:
                    break
                writer.flush()
    except WorkerDied as exc:
        writer.keep_partial()
        where = f"; {len(done) + stats.reports} records kept in {writer.tmp}, run again with --resume" \
            if writer.tmp else ""
        raise fail(f"{exc}{where}", 1) from None
    except KeyboardInterrupt:
        writer.keep_partial()
        typer.echo(f"interrupted: {len(done) + stats.reports} records kept in {writer.tmp or 'stdout'}; "
                   "run again with --resume to finish", err=True)
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    if stopped:
        writer.keep_partial()
        where = f"; {len(done) + stats.reports} records kept in {writer.tmp}" if writer.tmp else ""
        raise fail(f"report '{stopped[0]}': {stopped[1]} (stopped by --strict{where})", 1)
    writer.commit()
    stats.wall = time.perf_counter() - started
    if not quiet:
        print_summary(stats, output)
    if stats.errors:
        raise fail(f"{len(stats.errors)} of {stats.reports} reports failed; their records carry an 'error' field", 1)


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
