"""The asg-parse typer app: routes `asg-parse INPUT ...` to `parse`, registers every command, trims the start-up."""
from __future__ import annotations

import gc
import os
import sys
import time
import types
from typing import Any

import typer
from typer.core import TyperGroup

from . import merge, ontology, parse, show
from .common import STARTED
from .usage import run

_GROUP_OPTIONS = {"--help", "-h"}
_NEEDS_TORCH = {"evaluate", "benchmark", "train"}  # the commands that may run model-based parsers (torch)
_EXTRA_COMMANDS = _NEEDS_TORCH | {"review"}  # added by the register() of their modules


class _ParseGroup(TyperGroup):
    """Routes `asg-parse INPUT ...` (anything that is not a command name) to the `parse` command.

    The evaluation and review commands are added only when one of them is run or the command list is shown: their
    modules (the OpenI benchmark, rich tables, the review page) would otherwise be imported on every parse."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        first = args[0] if args else None
        if first is None or first in _GROUP_OPTIONS or first in _EXTRA_COMMANDS:
            self._add_extras()
        elif first not in self.commands:
            args = ["parse", *args]
        return super().parse_args(ctx, args)

    def _add_extras(self) -> None:
        if _EXTRA_COMMANDS <= self.commands.keys():
            return
        from . import benchmark, evaluate, review, train

        extras = typer.Typer()
        evaluate.register(extras)
        benchmark.register(extras)
        review.register(extras)
        train.register(extras)
        for name, cmd in typer.main.get_command(extras).commands.items():
            self.add_command(cmd, name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        super().format_help(ctx, formatter)
        cmd = self.commands.get("parse")
        if cmd is not None:  # the default command's options belong in the main help too
            sub = type(ctx)(cmd, info_name=ctx.info_name, parent=None)
            cmd.format_help(sub, formatter)


app = typer.Typer(
    cls=_ParseGroup,
    name="asg-parse",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=(
        "Parse chest X-ray reports into anatomy-grounded <region, finding, existence> triplets.\n\n"
        "[bold]asg-parse INPUT -o OUT.jsonl[/bold] parses every report of INPUT (a CSV/TSV/JSONL file, a directory "
        "of .txt reports such as MIMIC-CXR's files/p10/p10000032/s50414267.txt, one .txt file, or - for stdin) "
        "into one JSON record per report, in input order, reading it as a stream (memory stays flat). "
        "--shard I/N and `merge` split an archive across machines. The parse options are listed below the "
        "commands.\n\n"
        "Exit status: 0 ok; 1 some reports failed (records with an 'error' field) or --strict stopped; "
        "2 bad input, options or ontology; 130 interrupted (resume with --resume)."
    ),
)

app.command("parse")(parse.parse_command)
app.command("show")(show.show_command)
app.command("ontology")(ontology.ontology_command)
app.command("merge")(merge.merge_command)

def _skip_torch(argv: list[str]) -> None:
    """thinc imports torch whenever it is installed (seconds of start-up); the rule pipeline never uses it.
    Nor does it do linear algebra: numpy (imported by spaCy) gets one OpenBLAS thread, as the pool it starts
    otherwise spins for ~0.1 s of CPU time after the import (a user's OPENBLAS_NUM_THREADS is kept)."""
    if (argv[:1] and argv[0] in _NEEDS_TORCH) or os.environ.get("ASG_PARSE_IMPORT_TORCH") or _encoder_model(argv):
        return
    if "torch" not in sys.modules and "thinc" not in sys.modules:
        sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` now fails fast: thinc runs without
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _encoder_model(argv: list[str]) -> bool:
    """Whether `--existence-model DIR` names a model with a pretrained (PyTorch) encoder; the default classifier
    runs on thinc's numpy ops."""
    for k, arg in enumerate(argv):
        path = arg.split("=", 1)[1] if arg.startswith("--existence-model=") else \
            argv[k + 1] if arg == "--existence-model" and k + 1 < len(argv) else None
        if path is not None:
            try:
                with open(os.path.join(path, "config.json"), encoding="utf-8") as fh:
                    return "ExistenceEncoder" in fh.read()
            except OSError:
                return False  # reported as a one-line error when the pipeline loads
    return False


def _skip_spacy_cli() -> None:
    """spaCy's package imports its own command line (weasel, requests, ...: a fifth of our start-up) only to offer
    `spacy.info`; inside asg-parse a stub stands in for it."""
    if "spacy" in sys.modules or os.environ.get("ASG_PARSE_IMPORT_SPACY_CLI"):
        return
    cli = types.ModuleType("spacy.cli")
    cli.__path__ = []  # a package, with nothing in it
    info = types.ModuleType("spacy.cli.info")

    def _info(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("spaCy's command line is not loaded inside asg-parse; run `python -m spacy info`")

    info.info = _info  # type: ignore[attr-defined]
    sys.modules["spacy.cli"], sys.modules["spacy.cli.info"] = cli, info


@app.callback()
def _before_command(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand != "parse":
        gc.enable()  # main() turned it off for the parse command's start-up only


def main() -> None:
    """Console-script entry point."""
    STARTED.append(time.perf_counter())
    # The start-up builds ~125k objects that all live on (modules, the pipeline, the input): automatic collections
    # walk them again and again (~30 ms). A parse re-arms it per chunk (runner.collect_per_chunk), _before_command
    # turns it back on for the other commands.
    gc.disable()
    _skip_torch(sys.argv[1:])
    _skip_spacy_cli()
    run(app, prog_name="asg-parse")

