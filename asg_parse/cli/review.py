"""`asg-parse review INPUT --out reviewed.jsonl`: a local web page to review parses into gold and ontology forms.

The web stack (FastAPI, uvicorn, Jinja2) is the optional `[review]` extra; it is imported only when the command
runs, and its absence is a one-line error that names the install command.
"""
from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from .common import ONTOLOGY_HELP, fail
from .io import InputError, Item, read_inputs

if TYPE_CHECKING:
    from ..review.store import ReviewStore

INSTALL_HINT = 'the review page needs the [review] extra: pip install -e ".[review]" (or pip install "asg[review]")'
ORDER_HELP = ("Queue order: 'input' keeps the input order; 'confidence' puts the most uncertain parses first "
              "(warnings, uncertain mentions, hedge or alternative phrases, unplaced findings, unknown words next "
              "to a finding; docs/review.md defines the score).")


def _web_stack() -> None:
    try:
        import fastapi  # noqa: F401
        import jinja2  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise fail(INSTALL_HINT) from None


def _check_paths(input: str, out: Path, ontology_out: Optional[Path]) -> None:
    if out.is_dir():
        raise fail(f"{out}: --out is a directory; give a .jsonl file")
    if not out.parent.is_dir():
        raise fail(f"{out}: output directory {out.parent} does not exist")
    if input != "-" and Path(input).exists() and Path(input).resolve() == out.resolve():
        raise fail(f"{out}: --out must not be the input")
    if ontology_out is not None and ontology_out.exists() and not ontology_out.is_dir():
        raise fail(f"{ontology_out}: --ontology-out must be a directory")


def _port_free(host: str, port: int) -> None:
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port or --host") \
            from None


def review_command(
    input: str = typer.Argument(
        ..., metavar="INPUT", show_default=False,
        help="Reports in any layout asg-parse reads: a .csv/.tsv/.jsonl file, a directory of .txt files, one "
             ".txt file. Ids must be unique."),
    out: Path = typer.Option(
        ..., "--out", metavar="REVIEWED.jsonl", show_default=False,
        help="Gold JSONL (annotations/GUIDELINES.md format) that each accepted report is saved to at once; "
             "restarting with the same file resumes."),
    ontology: Optional[Path] = typer.Option(None, "--ontology", metavar="DIR", help=ONTOLOGY_HELP),
    ontology_out: Optional[Path] = typer.Option(
        None, "--ontology-out", metavar="DIR",
        help="User ontology directory that collects 'add this phrase as a form of <finding>' (created if "
             "missing; starts as a copy of --ontology). Without it the page offers no additions."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (this machine only by default)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    order: str = typer.Option("input", "--order", metavar="confidence|input", help=ORDER_HELP),
    id_col: Optional[str] = typer.Option(
        None, "--id-col", metavar="NAME", help="Column (or JSON key) holding the report id."),
    text_col: Optional[list[str]] = typer.Option(
        None, "--text-col", metavar="NAME",
        help="Column (or JSON key) holding report text; repeat it to join several as 'NAME: text' sections."),
) -> None:
    """Review parses in a local web page: correct triplets, accept reports, add ontology forms."""
    _web_stack()
    if order not in ("confidence", "input"):
        raise fail(f"--order must be 'confidence' or 'input', not {order!r}")
    if input == "-":
        raise fail("review needs an input file or directory, not stdin")
    _check_paths(input, out, ontology_out)
    _port_free(host, port)
    try:
        items = read_inputs(input, id_col=id_col, text_cols=text_col).items
    except InputError as exc:
        raise fail(str(exc)) from None
    if not items:
        raise fail(f"{input}: no reports to review")
    store = _store(items, out, ontology, ontology_out, order)
    _serve(store, host, port)


def _store(items: list[Item], out: Path, ontology: Optional[Path], ontology_out: Optional[Path],
           order: str) -> "ReviewStore":
    from anatomy_ontology import OntologyError

    from ..review.store import ReviewStore, StoreError
    from .display import progress_bar

    try:
        with progress_bar(len(items)) as advance:
            store = ReviewStore(items, out, ontology, ontology_out, order, progress=advance)
    except StoreError as exc:
        raise fail(str(exc)) from None
    except OntologyError as exc:
        raise fail(f"ontology: {exc}") from None
    done = sum(r.state == "reviewed" for r in store.reports.values())
    if done:
        typer.echo(f"resuming: {done} of {len(store.reports)} report(s) already reviewed in {out}", err=True)
    if store.foreign:
        typer.echo(f"{store.foreign} line(s) of {out} are reports not in this input; they are kept as they are",
                   err=True)
    return store


def _serve(store: "ReviewStore", host: str, port: int) -> None:
    import uvicorn

    from ..review.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"asg-parse review: open http://{shown}:{port}/ (Ctrl-C stops; every accepted report is already "
               "saved)", err=True)
    # uvicorn's own access log is off: the app logs method, path (report ids only) and status
    from ..review.app import LOOPBACK

    hosts = list(LOOPBACK) if host in LOOPBACK else None  # bound to this machine: answer its names only
    uvicorn.run(create_app(store, hosts), host=host, port=port, access_log=False, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add the review command to an app."""
    app.command("review")(review_command)
