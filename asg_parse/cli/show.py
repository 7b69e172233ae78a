"""`asg-parse show REPORT`: one report's parse as tables (and optionally a displaCy page)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .common import (CONVENTION_HELP, EXISTENCE_MODE_OPTION, EXISTENCE_MODEL_OPTION, ONTOLOGY_HELP,
                     existence_options, fail, load)


def show_command(
    report: str = typer.Argument(
        ..., metavar="REPORT", show_default=False,
        help="The report text, a path to a .txt report, or - to read it from stdin."),
    html: Optional[Path] = typer.Option(
        None, "--html", metavar="OUT.html", help="Also write a self-contained displaCy page of the parse."),
    ontology: Optional[Path] = typer.Option(None, "--ontology", metavar="DIR", help=ONTOLOGY_HELP),
    convention: Optional[str] = typer.Option(None, "--convention", metavar="NAME", show_default="asg",
                                             help=CONVENTION_HELP),
    existence_model: Optional[Path] = EXISTENCE_MODEL_OPTION,
    existence_mode: str = EXISTENCE_MODE_OPTION,
) -> None:
    """Show one report's sentences, sections, triplets and region map as tables (for reviewing the rules)."""
    from .. import api
    from .display import print_report, write_html

    rid, text = _show_input(report)
    nlp = load(ontology, spans=True, convention=convention,  # spans: the page marks the anatomy spans too
               **existence_options(existence_model, existence_mode))
    doc = nlp(text)
    record = api.doc_to_record(doc, rid)
    print_report(record, text)
    if html is not None:
        try:
            write_html(doc, record, html)
        except OSError as exc:
            raise fail(f"{html}: cannot write ({exc.strerror})") from None
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
            raise fail(f"{report}: cannot read ({exc.strerror})") from None
    return "report", report
