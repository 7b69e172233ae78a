"""Downstream commands of asg-train (`synth`, `probe`, `zeroshot`, `splits`), registered on the main typer app."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code=2)


def _table(title: str, rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, h in enumerate(rows[0]):
        table.add_column(h, justify="left" if i == 0 else "right")
    for r in rows[1:]:
        table.add_row(*r)
    Console().print(table)


def _check_json(path: Optional[Path]) -> None:
    """A one-line error before the work for a --json path that is a folder (its missing folders are made)."""
    if path is not None and path.is_dir():
        _fail(f"--json {path}: is a folder; give a file name")


def _write_json(path: Optional[Path], data: Any) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def register(app: typer.Typer) -> None:
    """Add the downstream commands to `app`."""

    @app.command()
    def synth(
        n: int = typer.Option(..., "--n", help="Number of phantom images to generate."),
        out: Path = typer.Option(..., "--out", help="Output folder (images/, images.csv, boxes.csv, reports.csv, "
                                                     "labels.csv, findings.csv)."),
        size: int = typer.Option(128, "--size", help="Image side in pixels."),
        seed: int = typer.Option(0, "--seed", help="Seed; the same seed gives byte-identical files."),
        prefix: Optional[str] = typer.Option(None, "--prefix", help="Report/image id prefix (default ph<seed>-)."),
        templates: Optional[Path] = typer.Option(None, "--templates", help="Report templates YAML (default: ours)."),
    ) -> None:
        """Generate synthetic chest phantoms with findings, region boxes, template reports and true labels."""
        from .synth import generate

        try:
            counts = generate(n, out, size=size, seed=seed, prefix=prefix,
                              templates_path=str(templates) if templates else None)
        except ValueError as exc:
            _fail(str(exc))
        typer.echo(f"wrote {n} phantoms to {out} (positives: "
                   + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")")

    @app.command()
    def probe(
        checkpoint: str = typer.Option(..., "--checkpoint", help="RUN dir, `random[:preset]` or "
                                                                 "`imagenet:<hub id or path>`."),
        train: Path = typer.Option(..., "--train", help="Training CSV: `path,label...` (multi-label 0/1) or "
                                                         "`path,label` (multi-class)."),
        val: Path = typer.Option(..., "--val", help="Validation CSV (early stopping)."),
        test: Path = typer.Option(..., "--test", help="Test CSV."),
        fractions: str = typer.Option("0.01,0.1,1.0", "--fractions", help="Label fractions of the training set."),
        metric: str = typer.Option("auc", "--metric", help="auc or acc."),
        mode: str = typer.Option("auto", "--mode", help="auto, multilabel or multiclass."),
        task: str = typer.Option("linear", "--task", help="Evaluation task (linear)."),
        batch_size: int = typer.Option(64, "--batch-size", help="Feature-extraction batch size."),
        seed: int = typer.Option(0, "--seed", help="First seed of the label-fraction subsets and the head."),
        seeds: int = typer.Option(3, "--seeds", help="Probe each fraction on N different subsets (seed, seed+1, "
                                                     "...): mean ± std."),
        device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, ... (default: cuda if present)."),
        json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON here."),
    ) -> None:
        """Linear probe of a frozen image encoder: per-class and mean AUC (or ACC) at each label fraction."""
        from .probe import TASKS, ProbeError, format_table, parse_fractions

        _check_json(json_out)
        if task not in TASKS:
            _fail(f"--task: unknown task '{task}' (known: {', '.join(TASKS)})")
        try:
            result = TASKS[task](checkpoint=checkpoint, train=train, val=val, test=test,
                                 fractions=parse_fractions(fractions), metric=metric, mode=mode,
                                 batch_size=batch_size, seed=seed, device=device, seeds=seeds)
        except (ProbeError, FileNotFoundError, ValueError) as exc:
            _fail(str(exc))
        _table(f"{task} probe: {checkpoint} ({metric.upper()}, {result['mode']}, {seeds} seed(s))", format_table(result))
        _write_json(json_out, result)

    @app.command()
    def zeroshot(
        checkpoint: str = typer.Option(..., "--checkpoint", help="RUN dir of a pre-trained ASG model."),
        test: Path = typer.Option(..., "--test", help="Test CSV (`path,label...` or `path,label`)."),
        prompts: Path = typer.Option(..., "--prompts", help="YAML: class -> {positive: ..., negative: ...}."),
        batch_size: int = typer.Option(64, "--batch-size", help="Image batch size."),
        device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, ... (default: cuda if present)."),
        json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON here."),
    ) -> None:
        """Zero-shot classification with a positive and a negative prompt per class: AUC, F1 and ACC."""
        from .probe import ProbeError
        from .zeroshot import format_table, run_zeroshot

        _check_json(json_out)
        try:
            result = run_zeroshot(checkpoint, test, prompts, batch_size=batch_size, device=device)
        except (ProbeError, FileNotFoundError, ValueError) as exc:
            _fail(str(exc))
        _table(f"zero-shot: {checkpoint}", format_table(result))
        _write_json(json_out, result)

    @app.command()
    def splits(
        out: Path = typer.Option(..., "--out", help="Output folder; one sub-folder per dataset."),
        chexpert: Optional[Path] = typer.Option(None, "--chexpert", help="CheXpert folder (train.csv, valid.csv)."),
        rsna: Optional[Path] = typer.Option(None, "--rsna", help="RSNA Pneumonia folder "
                                                                  "(stage_2_train_labels.csv, images)."),
        siim: Optional[Path] = typer.Option(None, "--siim", help="SIIM-ACR folder (train-rle.csv, images)."),
        covidx: Optional[Path] = typer.Option(None, "--covidx", help="COVIDx folder (train.txt, val.txt/test.txt)."),
        nih: Optional[Path] = typer.Option(None, "--nih", help="NIH ChestX-ray14 folder (Data_Entry_2017*.csv, "
                                                                "train_val_list.txt, test_list.txt)."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Split seed (default: datasets.yaml)."),
        config: Optional[Path] = typer.Option(None, "--config", help="Dataset rules YAML (default: ours)."),
    ) -> None:
        """Write the paper's downstream splits (train/val/test and the 1%/10% training subsets)."""
        from .splits import SplitError, make_splits

        roots = {k: v for k, v in (("chexpert", chexpert), ("rsna", rsna), ("siim", siim), ("covidx", covidx),
                                   ("nih", nih)) if v is not None}
        if not roots:
            _fail("give at least one dataset folder (--chexpert, --rsna, --siim, --covidx, --nih)")
        try:
            report = make_splits(roots, out, seed=seed, config=str(config) if config else None)
        except SplitError as exc:
            _fail(str(exc))
        for name, info in report.items():
            typer.echo(f"{name}: " + ", ".join(f"{k} {v}" for k, v in info["counts"].items()))
            for note in info["notes"]:
                typer.echo(f"  note: {note}")
