"""Evaluation subcommands of asg-parse (`evaluate`, `benchmark`), registered on the main typer app."""
import typer


def register(app: typer.Typer) -> None:
    """Add the evaluation commands to `app`."""
