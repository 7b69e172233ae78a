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


def output_problem(*paths: Optional[Path]) -> Optional[str]:
    """Why one of `paths` cannot take an output file (it is a folder, or its folder is missing), or None: checked
    before the work, so that a long run does not end in a traceback at its last step."""
    for path in paths:
        if path is None or str(path) == "-":
            continue
        if path.is_dir():
            return f"{path}: is a folder; give a file name"
        if not path.absolute().parent.is_dir():
            return f"{path}: folder {path.absolute().parent} does not exist"
    return None


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


EXISTENCE_MODEL_HELP = ("A learned existence model directory (made by `asg-parse train existence`); used as "
                        "--existence-mode says.")
EXISTENCE_MODE_HELP = ("Who decides present/absent/uncertain: rules (the cue rules; default), model (the learned "
                       "model), vote (the model overrides the rules only where it is confident). model and vote need "
                       "--existence-model; with a model loaded every triplet records `decided_by`.")
EXISTENCE_MODES = ("rules", "model", "vote")


# the pipeline options every parsing command takes (parse, show, benchmark openi), declared once
EXISTENCE_MODEL_OPTION: Any = typer.Option(None, "--existence-model", metavar="DIR", help=EXISTENCE_MODEL_HELP)
EXISTENCE_MODE_OPTION: Any = typer.Option("rules", "--existence-mode", metavar="rules|model|vote",
                                          help=EXISTENCE_MODE_HELP)


def existence_options(existence_model: Optional[Path], existence_mode: str) -> dict[str, Any]:
    """The pipeline's learned existence options, checked (one-line errors)."""
    if existence_mode not in EXISTENCE_MODES:
        raise fail(f"--existence-mode must be one of {', '.join(EXISTENCE_MODES)}, not {existence_mode!r}")
    if existence_model is None:
        if existence_mode != "rules":
            raise fail(f"--existence-mode {existence_mode} needs --existence-model DIR")
        return {}
    return {"existence_model": str(existence_model), "existence_mode": existence_mode}


def load(ontology: Optional[Path], spans: bool = False, convention: Optional[str] = None, **existence: Any) -> Any:
    """The pipeline, with a bad ontology, an unknown convention or a broken existence model turned into a one-line
    error; `existence`: the options of `existence_options`."""
    from anatomy_ontology import OntologyError

    from .runner import load_pipeline

    try:
        return load_pipeline(str(ontology) if ontology is not None else None, spans=spans, convention=convention,
                             **existence)
    except OntologyError as exc:
        raise fail(f"ontology: {exc}") from None
    except ValueError as exc:  # an unknown convention, or a model directory that cannot be loaded (ModelDirError)
        message = str(exc).splitlines()[0]
        raise fail(message if existence else f"--convention: {message}") from None
