"""What the asg-parse commands share: the one-line error exit, the ontology option, the pipeline loader."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import typer

STARTED: list[float] = []  # when the console command started (the summary's wall time counts from there)
ONTOLOGY_HELP = "A user ontology directory (YAML files) merged over the built-in ontology."
CONVENTION_HELP = ("The labelling convention that reads hedges and negations: asg (default), chexpert, linguistic, "
                   "or a profile of the --ontology directory's existence.yaml (docs/conventions.md).")


def fail(message: str, code: int = 2) -> "typer.Exit":
    """Print a one-line error on stderr; return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def load(ontology: Optional[Path], spans: bool = False, convention: Optional[str] = None) -> Any:
    """The pipeline, with a bad ontology or an unknown convention turned into a one-line error."""
    from anatomy_ontology import OntologyError

    from .runner import load_pipeline

    try:
        return load_pipeline(str(ontology) if ontology is not None else None, spans=spans, convention=convention)
    except OntologyError as exc:
        raise fail(f"ontology: {exc}") from None
    except ValueError as exc:
        raise fail(f"--convention: {exc}") from None
