"""Run a typer app so that a usage error (unknown option, missing or bad value) is one line on stderr, exit 2."""
from __future__ import annotations

import sys
from typing import Optional, Sequence

import typer
from typer.core import _click
from typer.main import get_command


def run(app: typer.Typer, args: Optional[Sequence[str]] = None, prog_name: Optional[str] = None) -> None:
    """Invoke `app` like `app()` does, but print a usage error as `error: <message> (see '<command> --help')`
    instead of typer's boxed usage text; exit with the command's status."""
    command = get_command(app)
    try:
        rv = command.main(args=list(sys.argv[1:] if args is None else args), prog_name=prog_name,
                          standalone_mode=False)
    except _click.exceptions.ClickException as exc:
        message = exc.format_message().strip()
        if isinstance(exc, _click.exceptions.NoArgsIsHelpError) or not message:
            if message:  # the help text (the rich formatter has printed it already and returns nothing)
                print(message, file=sys.stderr)
            sys.exit(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None and exc.exit_code == 2 else ""
        print(f"error: {message}{hint}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
