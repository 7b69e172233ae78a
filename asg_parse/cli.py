"""The asg-parse command line: `asg-parse INPUT -o OUT.jsonl` plus the show, ontology and evaluation commands."""
from __future__ import annotations

import gc
import os
import signal
import sys
import time
import types
from functools import partial
from pathlib import Path
from typing import Any, Optional

import typer
from typer.core import TyperGroup

from .io import InputError, JsonlWriter, detect_layout, read_inputs
from .usage import run

_GROUP_OPTIONS = {"--help", "-h"}
_EXTRA_COMMANDS = {"evaluate", "benchmark"}  # added by eval_cli.register


class _ParseGroup(TyperGroup):
    """Routes `asg-parse INPUT ...` (anything that is not a command name) to the `parse` command.

    The evaluation commands are added only when one of them is run or the command list is shown: their module
    (the OpenI benchmark, rich tables) would otherwise be imported on every parse."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        first = args[0] if args else None
        if first is None or first in _GROUP_OPTIONS or first in _EXTRA_COMMANDS:
            self._add_extras()
        elif first not in self.commands:
            args = ["parse", *args]
        return super().parse_args(ctx, args)

    def _add_extras(self) -> None:
        if _EXTRA_COMMANDS <= self.commands.keys():
            return
        from . import eval_cli

        extras = typer.Typer()
        eval_cli.register(extras)
        for name, cmd in typer.main.get_command(extras).commands.items():
            self.add_command(cmd, name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        super().format_help(ctx, formatter)
        cmd = self.commands.get("parse")
        if cmd is not None:  # the default command's options belong in the main help too
            sub = type(ctx)(cmd, info_name=ctx.info_name, parent=None)
            cmd.format_help(sub, formatter)


app = typer.Typer(
    cls=_ParseGroup,
    name="asg-parse",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=(
        "Parse chest X-ray reports into anatomy-grounded <region, finding, existence> triplets.\n\n"
        "[bold]asg-parse INPUT -o OUT.jsonl[/bold] parses every report of INPUT (a CSV/TSV/JSONL file, a directory "
        "of .txt reports such as MIMIC-CXR's files/p10/p10000032/s50414267.txt, one .txt file, or - for stdin) "
        "into one JSON record per report, in input order. The parse options are listed below the commands.\n\n"
        "Exit status: 0 ok; 1 some reports failed (records with an 'error' field) or --strict stopped; "
        "2 bad input, options or ontology; 130 interrupted (resume with --resume)."
    ),
)

_ONTOLOGY_HELP = "A user ontology directory (YAML files) merged over the built-in ontology."


def _fail(message: str, code: int = 2) -> "typer.Exit":
    """Print a one-line error on stderr; return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _load(ontology: Optional[Path], spans: bool = False) -> Any:
    """The pipeline, with a bad ontology turned into a one-line error."""
    from anatomy_ontology import OntologyError

    from .runner import load_pipeline

    try:
        return load_pipeline(str(ontology) if ontology is not None else None, spans=spans)
    except OntologyError as exc:
        raise _fail(f"ontology: {exc}") from None


@app.command("parse")
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
        _default_workers(), "-w", "--workers", min=1, show_default="number of CPU cores",
        help="Worker processes. The output is byte-identical for any number."),
    id_col: Optional[str] = typer.Option(
        None, "--id-col", metavar="NAME", help="Column (or JSON key) holding the report id."),
    text_col: Optional[list[str]] = typer.Option(
        None, "--text-col", metavar="NAME",
        help="Column (or JSON key) holding report text; repeat it to join several as 'NAME: text' sections."),
    ontology: Optional[Path] = typer.Option(None, "--ontology", metavar="DIR", help=_ONTOLOGY_HELP),
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
    from .show import ParseStats, progress_bar, print_summary

    started = _STARTED[0] if _STARTED else time.perf_counter()
    try:
        layout = detect_layout(input)  # a missing or unreadable input fails now, before spaCy loads
    except InputError as exc:
        raise _fail(str(exc)) from None
    # a file or directory is read in another process while this one loads spaCy and builds the pipeline
    # (a worker process gets no stdin: "-" is read here)
    read = partial(read_inputs, input, id_col=id_col, text_cols=text_col, layout=layout)
    if layout != "stdin":
        read = in_background(read)
    nlp = _load(ontology)
    try:
        inputs = read()
    except InputError as exc:
        raise _fail(str(exc)) from None
    set_pipeline(nlp, str(ontology) if ontology is not None else None)
    collect_per_chunk()
    try:
        writer = JsonlWriter(output, resume=resume)
    except InputError as exc:
        raise _fail(str(exc)) from None
    items = inputs.items
    done = writer.done
    if done:
        mismatch = next((k for k, rid in enumerate(done) if k >= len(items) or items[k][0] != rid), None)
        if mismatch is not None:
            writer.keep_partial()
            found = f"input record {mismatch + 1} is '{items[mismatch][0]}'" if mismatch < len(items) \
                else f"the input has only {len(items)} reports"
            raise _fail(f"{writer.tmp}: record {mismatch + 1} has id '{done[mismatch]}' but {found}; "
                        "cannot resume (remove the file to start over)")
        items = items[len(done):]

    stats = ParseStats(kept=len(done))
    show_progress = not quiet and sys.stderr.isatty()
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    stopped: Optional[tuple[str, str]] = None
    try:
        with progress_bar(len(items), enabled=show_progress) as advance:
            for res in run_chunks(items, workers=workers, ontology=str(ontology) if ontology else None,
                                  chunk_size=chunk_size):
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
        raise _fail(f"{exc}{where}", 1) from None
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
        raise _fail(f"report '{stopped[0]}': {stopped[1]} (stopped by --strict{where})", 1)
    writer.commit()
    stats.wall = time.perf_counter() - started
    if not quiet:
        print_summary(stats, output)
    if stats.errors:
        raise _fail(f"{len(stats.errors)} of {stats.reports} reports failed; their records carry an 'error' field", 1)


_MAIN_PID = os.getpid()


def _raise_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM in the main process stops the run like Ctrl-C; a worker just ends."""
    if os.getpid() != _MAIN_PID:
        os._exit(128 + signum)
    raise KeyboardInterrupt


@app.command("show")
def show_command(
    report: str = typer.Argument(
        ..., metavar="REPORT", show_default=False,
        help="The report text, a path to a .txt report, or - to read it from stdin."),
    html: Optional[Path] = typer.Option(
        None, "--html", metavar="OUT.html", help="Also write a self-contained displaCy page of the parse."),
    ontology: Optional[Path] = typer.Option(None, "--ontology", metavar="DIR", help=_ONTOLOGY_HELP),
) -> None:
    """Show one report's sentences, sections, triplets and region map as tables (for reviewing the rules)."""
    from . import api
    from .show import print_report, write_html

    rid, text = _show_input(report)
    nlp = _load(ontology, spans=True)  # the page marks the anatomy spans too
    doc = nlp(text)
    record = api.doc_to_record(doc, rid)
    print_report(record, text)
    if html is not None:
        try:
            write_html(doc, record, html)
        except OSError as exc:
            raise _fail(f"{html}: cannot write ({exc.strerror})") from None
        typer.echo(f"wrote {html}", err=True)


def _show_input(report: str) -> tuple[str, str]:
    """(id, text) of the `show` argument: stdin, a report file, or the text itself."""
    from .io import decode_report

    if report == "-":
        return "stdin", decode_report(sys.stdin.buffer.read())[0]
    path = Path(report)
    try:
        is_file = "\n" not in report and path.is_file()
    except OSError:  # text too long to be a file name
        is_file = False
    if is_file:
        try:
            return path.stem, decode_report(path.read_bytes())[0]
        except OSError as exc:
            raise _fail(f"{report}: cannot read ({exc.strerror})") from None
    return "report", report


@app.command("ontology")
def ontology_command(
    check: Optional[Path] = typer.Option(
        None, "--check", metavar="DIR",
        help="Validate a user ontology directory (merged over ours): prints 'ok' or the one-line problem "
             "(exit 1)."),
    ontology: Optional[Path] = typer.Option(None, "--ontology", metavar="DIR", help=_ONTOLOGY_HELP),
) -> None:
    """List the ontology's regions and findings, or check a user's ontology directory."""
    from anatomy_ontology import OntologyError, load_ontology

    from .show import print_ontology

    if check is not None:
        try:
            onto = load_ontology(check)
        except OntologyError as exc:
            typer.echo(str(exc))
            raise typer.Exit(1) from None
        typer.echo(f"ok: {check} ({len(onto.regions)} regions, {len(onto.findings)} findings, "
                   f"{len(onto.cues)} cues)")
        return
    try:
        onto = load_ontology(ontology)
    except OntologyError as exc:
        raise _fail(f"ontology: {exc}") from None
    print_ontology(onto)


_STARTED: list[float] = []  # when the console command started (the summary's wall time counts from there)
_NEEDS_TORCH = _EXTRA_COMMANDS  # the evaluation commands may run model-based parsers


def _skip_torch(argv: list[str]) -> None:
    """thinc imports torch whenever it is installed (seconds of start-up); the rule pipeline never uses it.
    Nor does it do linear algebra: numpy (imported by spaCy) gets one OpenBLAS thread, as the pool it starts
    otherwise spins for ~0.1 s of CPU time after the import (a user's OPENBLAS_NUM_THREADS is kept)."""
    if (argv[:1] and argv[0] in _NEEDS_TORCH) or os.environ.get("ASG_PARSE_IMPORT_TORCH"):
        return
    if "torch" not in sys.modules and "thinc" not in sys.modules:
        sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` now fails fast: thinc runs without
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _skip_spacy_cli() -> None:
    """spaCy's package imports its own command line (weasel, requests, ...: a fifth of our start-up) only to offer
    `spacy.info`; inside asg-parse a stub stands in for it."""
    if "spacy" in sys.modules or os.environ.get("ASG_PARSE_IMPORT_SPACY_CLI"):
        return
    cli = types.ModuleType("spacy.cli")
    cli.__path__ = []  # a package, with nothing in it
    info = types.ModuleType("spacy.cli.info")

    def _info(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("spaCy's command line is not loaded inside asg-parse; run `python -m spacy info`")

    info.info = _info  # type: ignore[attr-defined]
    sys.modules["spacy.cli"], sys.modules["spacy.cli.info"] = cli, info


@app.callback()
def _before_command(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand != "parse":
        gc.enable()  # main() turned it off for the parse command's start-up only


def main() -> None:
    """Console-script entry point."""
    _STARTED.append(time.perf_counter())
    # The start-up builds ~125k objects that all live on (modules, the pipeline, the input): automatic collections
    # walk them again and again (~30 ms). A parse re-arms it per chunk (runner.collect_per_chunk), _before_command
    # turns it back on for the other commands.
    gc.disable()
    _skip_torch(sys.argv[1:])
    _skip_spacy_cli()
    run(app, prog_name="asg-parse")


if __name__ == "__main__":
    main()
