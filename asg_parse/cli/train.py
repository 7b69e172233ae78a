"""`asg-parse train existence`: train the learned existence layer (`asg_existence_model`) on a site's labels."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer

from ..files import folder_problem
from .common import ONTOLOGY_HELP, fail


def train_existence_command(
    gold: list[Path] = typer.Option(
        ..., "--gold", metavar="FILE",
        help="Labelled input, repeatable; the format is detected: our gold JSONL (annotations/GUIDELINES.md), "
             "OpenI standoff gold, the BioScope JSONL (read under the linguistic convention: every speculation "
             "cue = uncertain), the NegEx/ConText TSV."),
    out: Path = typer.Option(..., "--out", metavar="MODEL_DIR", help="Model directory to write (with metrics.json)."),
    dev: Optional[list[Path]] = typer.Option(
        None, "--dev", metavar="FILE", help="Labelled dev input (same formats), repeatable: scored into "
                                            "metrics.json (rules / model / vote) and used to pick the best epoch."),
    silver: Optional[list[Path]] = typer.Option(
        None, "--silver", metavar="FILE",
        help="Unlabelled reports (any input the parse command reads): the rules' labels, weighted by "
             "--silver-weight, join the training data."),
    silver_weight: float = typer.Option(0.3, "--silver-weight", min=0.0, max=1.0,
                                        help="Weight of a silver mention (a gold one weighs 1)."),
    epochs: int = typer.Option(10, "--epochs", min=1, help="Passes over the training data."),
    seed: int = typer.Option(0, "--seed", help="Random seed (initialisation and shuffling): same seed, same model."),
    threshold: float = typer.Option(0.9, "--threshold", min=0.0, max=1.0,
                                    help="The vote's confidence: the model overrides the rules only at or above it."),
    width: int = typer.Option(64, "--width", min=8, help="Hidden width of the classifier."),
    encoder: Optional[str] = typer.Option(
        None, "--encoder", metavar="PATH_OR_ID",
        help="Start from pretrained transformer weights (a local directory or a hub id, e.g. a clinical BERT; "
             "needs the `models` extra) instead of the hashed-embedding classifier."),
    ontology: Optional[Path] = typer.Option(None, "--ontology", metavar="DIR", help=ONTOLOGY_HELP),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bar."),
) -> None:
    """Train a site existence model from labelled reports: asg-parse train existence --gold FILE --out DIR."""
    from rich.console import Console

    from ..learning import trainer
    from ..learning.examples import Featurised, Featuriser
    from ..learning.readers import DataError, read_labelled, silver_reports

    console = Console(stderr=True, quiet=quiet)
    started = time.perf_counter()
    if problem := folder_problem(out):
        raise fail(problem)
    if encoder is not None:
        _check_encoder(encoder)
    featuriser = Featuriser(str(ontology) if ontology else None)
    train_data, dev_data = Featurised(), None
    try:
        for path in gold:
            skipped: list[str] = []
            reports = read_labelled(path, nlp=featuriser.nlp, skipped=skipped)
            train_data.extend(featuriser.featurise(reports))
            console.print(f"{path}: {len(reports)} reports, {sum(len(r.mentions) for r in reports)} mentions",
                          highlight=False)
            if skipped:
                typer.echo(f"warning: {len(skipped)} row(s) left out, e.g. {skipped[0]}", err=True)
        for path in silver or []:
            reports = silver_reports(path, silver_weight, featuriser.nlp)
            train_data.extend(featuriser.featurise(reports))
            console.print(f"{path}: {len(reports)} silver reports", highlight=False)
        if dev:
            dev_data = Featurised()
            for path in dev:
                dev_data.extend(featuriser.featurise(read_labelled(path, nlp=featuriser.nlp)))
    except DataError as exc:
        raise fail(str(exc)) from None
    except ValueError as exc:
        raise fail(str(exc).splitlines()[0]) from None
    if not train_data.feats:
        raise fail("no labelled mentions in the --gold inputs")
    model_config = trainer.default_model_config(width=width, encoder=encoder)
    try:
        with _progress(console, epochs * len(train_data.feats), quiet) as advance:
            comp, metrics = trainer.train(train_data, dev_data, epochs=epochs, seed=seed, model_config=model_config,
                                          threshold=threshold, on_batch=advance)
    except (ImportError, OSError, ValueError) as exc:  # an encoder that cannot be loaded, transformers missing
        raise fail(f"training failed: {str(exc).splitlines()[0]}") from None
    metrics.update({"inputs": [str(p) for p in gold], "dev_inputs": [str(p) for p in dev or []],
                    "silver_inputs": [str(p) for p in silver or []], "seconds": round(time.perf_counter() - started, 1)})
    trainer.save(comp, out, metrics)
    _print_metrics(console, metrics)
    console.print(f"wrote {out} ({metrics['seconds']} s)", highlight=False)


def _check_encoder(encoder: str) -> None:
    """A one-line error, before any training, for an --encoder that cannot be loaded: the `models` extra missing,
    or a local path that does not exist (a hub id is `name` or `org/name`)."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise fail("--encoder needs torch and transformers: pip install -e '.[models]'") from None
    local = encoder.startswith(("/", ".", "~")) or Path(encoder).expanduser().exists() or encoder.count("/") > 1
    if local and not Path(encoder).expanduser().is_dir():
        raise fail(f"--encoder {encoder}: no such directory (a local encoder is a transformers save_pretrained "
                   "folder; a hub id is name or org/name)")


class _progress:
    """A rich progress bar over training mentions (epochs x mentions); yields `advance(epoch, n, loss)`."""

    def __init__(self, console: Any, total: int, quiet: bool):
        self.console, self.total, self.quiet = console, total, quiet

    def __enter__(self) -> Any:
        if self.quiet:
            return lambda epoch, n, loss: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("training epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]:.3f}"), TimeRemainingColumn(),
                                 console=self.console)
        task = self.progress.add_task("train", total=self.total, epoch=1, loss=0.0)
        self.progress.start()
        return lambda epoch, n, loss: self.progress.update(task, advance=n, epoch=epoch + 1, loss=loss)

    def __exit__(self, *exc: Any) -> None:
        if not self.quiet:
            self.progress.stop()


def _print_metrics(console: Any, metrics: dict[str, Any]) -> None:
    """The dev scores (rules / model / vote) as a table."""
    if "dev" not in metrics:
        return
    from rich.table import Table

    from .display import fmt

    table = Table(title=f"dev ({metrics['dev']['rules']['n']} mentions; best epoch {metrics['best_epoch']})")
    for col in ("decider", "3-way acc", "negation F1", "hedge F1"):
        table.add_column(col, justify="right" if col != "decider" else "left")
    for name, s in metrics["dev"].items():
        table.add_row(name, fmt(s["accuracy"]), fmt(s["negation_f1"]), fmt(s["hedge_f1"]))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the `train` command group (`train existence`) to `app`."""
    train = typer.Typer(help="Train the learned parts of the parser on a site's labels.", no_args_is_help=True)
    train.command("existence")(train_existence_command)
    app.add_typer(train, name="train")
