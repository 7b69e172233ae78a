"""asg-train's entry runner: a command-line usage error becomes one `error: ...` line on stderr (exit 2)."""
from __future__ import annotations

import sys
from typing import Optional, Sequence

import typer
from typer.core import _click as click  # typer's own copy of click: its exceptions are the ones raised
from typer.main import get_command


def _usage_line(exc: click.ClickException) -> Optional[str]:
    """The one-line message for `exc`, or None when click has already printed what the user needs (help)."""
    text = exc.format_message().strip()
    if isinstance(exc, click.exceptions.NoArgsIsHelpError) or not text:
        return text or None
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and exc.exit_code == 2:
        return f"error: {text} (see '{ctx.command_path} --help')"
    return f"error: {text}"


def main_with_usage_errors(app: typer.Typer, prog_name: str, argv: Optional[Sequence[str]] = None) -> None:
    """Run `app` on argv (default sys.argv[1:]) without typer's boxed usage panels; exit with its status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = get_command(app).main(args=args, prog_name=prog_name, standalone_mode=False)
    except click.ClickException as exc:
        line = _usage_line(exc)
        if line:
            print(line, file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)
