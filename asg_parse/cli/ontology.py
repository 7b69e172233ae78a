"""`asg-parse ontology`: list the ontology, or check a user's ontology directory."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import CONVENTION_HELP, ONTOLOGY_HELP, fail


def ontology_command(
    check: Optional[Path] = typer.Option(
        None, "--check", metavar="DIR",
        help="Validate a user ontology directory (merged over ours): prints 'ok' or the one-line problem "
             "(exit 1)."),
    ontology: Optional[Path] = typer.Option(None, "--ontology", metavar="DIR", help=ONTOLOGY_HELP),
    convention: Optional[str] = typer.Option(
        None, "--convention", metavar="NAME",
        help="Show only the cue classes and what this profile reads them as. " + CONVENTION_HELP),
) -> None:
    """List the ontology's regions, findings, cue classes and conventions, or check a user's ontology directory."""
    from anatomy_ontology import OntologyError, load_ontology

    from .display import print_conventions, print_ontology

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
        raise fail(f"ontology: {exc}") from None
    if convention is not None:
        try:
            print_conventions(onto, convention)
        except ValueError as exc:
            raise fail(f"--convention: {exc}") from None
        return
    print_ontology(onto)
    print_conventions(onto)
