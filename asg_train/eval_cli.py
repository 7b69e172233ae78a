"""Downstream commands of asg-train (`synth`, `probe`, `zeroshot`, `splits`), registered on the main typer app."""
import typer


def register(app: typer.Typer) -> None:
    """Add the downstream commands to `app`."""
