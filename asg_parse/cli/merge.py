"""`asg-parse merge OUT.jsonl SHARDS...`: the outputs of `asg-parse --shard I/N` runs joined back in input order."""
from __future__ import annotations

import sys
from pathlib import Path

import typer

from .common import fail


def merge_command(
    output: str = typer.Argument(..., metavar="OUT.jsonl", show_default=False,
                                 help="The merged output (written to OUT.jsonl.partial, renamed when complete)."),
    shards: list[Path] = typer.Argument(..., metavar="SHARDS...", show_default=False,
                                        help="The outputs of every shard run (each with its .shard.json sidecar)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bar on stderr."),
) -> None:
    """Merge the outputs of `asg-parse INPUT -o OUT --shard I/N` runs into one file in input order, checking that
    every input record is there exactly once: the bytes of one unsharded run."""
    from .display import progress_bar
    from .io import InputError
    from .shards import check_shards, merge_shards

    try:
        total = check_shards(shards)[0][1].input_records
        with progress_bar(total, enabled=not quiet and sys.stderr.isatty(), unit="records",
                          verb="merging") as advance:
            merge_shards(output, shards, advance)
    except InputError as exc:
        raise fail(str(exc)) from None
    if not quiet:
        typer.echo(f"merged {len(shards)} shards: {total:,} records -> {output}", err=True)
