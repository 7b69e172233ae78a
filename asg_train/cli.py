"""The asg-train command line: prepare, pretrain, config, export (plus the downstream commands of eval_cli)."""
from __future__ import annotations

import inspect
import logging
import typing
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from .usage import main_with_usage_errors

app = typer.Typer(help="ASG pre-training from asg-parse triplets, images and region boxes.", add_completion=False,
                  no_args_is_help=True, pretty_exceptions_enable=False)

TRIPLETS = typer.Option(None, "--triplets", help="Triplets JSONL written by asg-parse (one ParsedReport per line).")
IMAGES = typer.Option(None, "--images", help="Images manifest CSV with columns id (report id) and path "
                                            "(relative to the CSV's folder); PNG/JPEG, DICOM with pydicom.")
BOXES = typer.Option(None, "--boxes", help="Region boxes: CSV path,region,x1,y1,x2,y2 in original pixels, or a folder "
                                          "of Chest ImaGenome scene-graph JSON files. Default: the atlas prior (warned).")
ONTOLOGY = typer.Option(None, "--ontology", help="Extra ontology folder merged over ours (region and tag order).")
CONFIG = typer.Option(None, "--config", help="YAML file of options (same names as the flags, with _ or -); "
                                            "flags given on the command line override it.")


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code=2)


def _errors():
    from .cache import InputError
    from .config import ConfigError
    from .encoders import EncoderError
    from .export import ExportError
    from .prepare import SplitError
    from .tokens import TokenError
    from .train import TrainError

    return (InputError, ConfigError, EncoderError, ExportError, TrainError, TokenError, SplitError)


@app.command()
def prepare(
    triplets: Optional[Path] = TRIPLETS,
    images: Optional[Path] = IMAGES,
    boxes: Optional[Path] = BOXES,
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder; the cache lives in a subfolder named by "
                                                               "the hash of the inputs and config, reused when unchanged."),
    preset: Optional[str] = typer.Option(None, "--preset", help="tiny | vit-b16 | resnet50 (image size, tokenizer)."),
    text_model: Optional[str] = typer.Option(None, "--text-model", help="Hub id or folder whose tokenizer is used."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Training crop side (preset default)."),
    resize_size: Optional[int] = typer.Option(None, "--resize-size", help="Cached side the crop is taken from."),
    max_text_tokens: Optional[int] = typer.Option(None, "--max-text-tokens", help="Token limit per report (112)."),
    val_fraction: Optional[float] = typer.Option(None, "--val-fraction", help="Held-out reports (default 0.05)."),
    val_reports: Optional[Path] = typer.Option(None, "--val-reports", help="File of report ids (one per line) held out "
                                                                           "for validation instead of --val-fraction."),
    ontology: Optional[Path] = ONTOLOGY,
    workers: Optional[int] = typer.Option(None, "--workers", help="Threads decoding images (default 4)."),
    config: Optional[Path] = CONFIG,
) -> None:
    """Validate the inputs, build the cache (images, boxes, texts, tags) and tokenise the reports. Run it before a
    multi-GPU pretrain so that no rank waits for rank 0 to build the cache."""
    from .config import load_config
    from .train import prepare_run

    try:
        cfg = load_config(config, {"triplets": triplets, "images": images, "boxes": boxes, "cache": cache,
                                   "preset": preset, "text_model": text_model, "image_size": image_size,
                                   "resize_size": resize_size, "max_text_tokens": max_text_tokens,
                                   "val_fraction": val_fraction, "val_reports": val_reports, "ontology": ontology,
                                   "prepare_workers": workers}).resolved()
        if cfg.triplets is None or cfg.images is None or cfg.cache is None:
            _fail("prepare needs --triplets, --images and --cache")
        prepare_run(cfg, cfg.cache, typer.echo)
    except _errors() as exc:
        _fail(str(exc))


def _run_options(
    triplets: Optional[Path] = TRIPLETS,
    images: Optional[Path] = IMAGES,
    boxes: Optional[Path] = BOXES,
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder: config.yaml, metrics.jsonl, val.jsonl, "
                                                           "checkpoints/ (last.pt, best.pt), tokenizer/."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder (default OUT/cache)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="tiny (offline, seconds on CPU) | vit-b16 (the "
                                                                "paper: DeiT-B/16 + Bio_ClinicalBERT, 6 layers) | resnet50."),
    image_model: Optional[str] = typer.Option(None, "--image-model", help="Hub id or local path of the image encoder."),
    image_norm: Optional[str] = typer.Option(None, "--image-norm", help="Pixel mean/std: half | imagenet | checkpoint."),
    text_model: Optional[str] = typer.Option(None, "--text-model", help="Hub id or local path of the text encoder."),
    text_layers: Optional[int] = typer.Option(None, "--text-layers", help="Keep the first N text-encoder layers "
                                                                          "(vit-b16: 6, as the official code)."),
    pretrained: Optional[bool] = typer.Option(None, "--pretrained/--from-scratch",
                                              help="Load encoder weights (default) or build them from config."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Training crop side (preset default)."),
    resize_size: Optional[int] = typer.Option(None, "--resize-size", help="Cached side the crop is taken from "
                                                                          "(vit-b16: 256)."),
    max_text_tokens: Optional[int] = typer.Option(None, "--max-text-tokens", help="Token limit per report (112)."),
    head_norm: Optional[str] = typer.Option(None, "--head-norm", help="Projection heads: layer (ours) | batch (official)."),
    pool: Optional[str] = typer.Option(None, "--pool", help="Global features: mean of tokens/patches (ours) | cls (official)."),
    region_path: Optional[str] = typer.Option(None, "--region-path", help="pool-project (ours) | project-pool (official)."),
    tag_decoder: Optional[str] = typer.Option(None, "--tag-decoder", help="ours | official (image width, 4 heads, shared classifier)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Optimizer steps (default 1000 unless --epochs)."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Train for this many epochs (ignored with --max-steps)."),
    patience: Optional[int] = typer.Option(None, "--patience", help="Stop after N epochs without a lower validation loss."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Images per process per micro-batch (vit-b16: 72)."),
    grad_accum: Optional[int] = typer.Option(None, "--grad-accum", help="Micro-batches per optimizer step (default 1)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (preset default)."),
    min_lr: Optional[float] = typer.Option(None, "--min-lr", help="Learning rate at the start of warm-up and the end (1e-8)."),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="AdamW weight decay (default 0.05)."),
    warmup_fraction: Optional[float] = typer.Option(None, "--warmup-fraction", help="Warm-up share of the steps (vit-b16: 0.4)."),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", help="Warm-up steps (overrides --warmup-fraction)."),
    tau: Optional[float] = typer.Option(None, "--tau", help="Temperature of the contrastive losses (default 0.07)."),
    w_ira: Optional[float] = typer.Option(None, "--w-ira", help="Weight of image-report alignment (default 1)."),
    w_arsa: Optional[float] = typer.Option(None, "--w-arsa", help="Weight of region-sentence alignment (default 1)."),
    w_irl: Optional[float] = typer.Option(None, "--w-irl", help="Weight of tag recognition BCE (default 5)."),
    w_erl: Optional[float] = typer.Option(None, "--w-erl", help="Weight of tag-similarity alignment (default 1)."),
    uncertain_as: Optional[str] = typer.Option(None, "--uncertain-as", help="Uncertain tags as 0 (default, paper), 1 or ignore."),
    val_fraction: Optional[float] = typer.Option(None, "--val-fraction", help="Share of reports held out for validation (default 0.05)."),
    val_reports: Optional[Path] = typer.Option(None, "--val-reports", help="File of report ids (one per line): a fixed "
                                                                           "validation split, instead of --val-fraction."),
    val_every: Optional[int] = typer.Option(None, "--val-every", help="Also validate every N steps (always: each epoch)."),
    save_every: Optional[int] = typer.Option(None, "--save-every", help="Also keep checkpoints/step_N.pt every N steps."),
    log_every: Optional[int] = typer.Option(None, "--log-every", help="Read the losses back and log every N steps (50)."),
    num_workers: Optional[int] = typer.Option(None, "--num-workers", help="DataLoader workers (default: cores, at most 8)."),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the model."),
    grad_checkpointing: Optional[bool] = typer.Option(None, "--grad-checkpointing/--no-grad-checkpointing",
                                                      help="Recompute encoder activations in backward (less memory)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (default 0)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto (default: CUDA if present), cpu, cuda, cuda:1."),
    precision: Optional[str] = typer.Option(None, "--precision", help="auto (bf16 autocast on CUDA) | bf16 | fp32."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Show the rich progress bar."),
    resume: bool = typer.Option(False, "--resume", help="Continue exactly from OUT/checkpoints/last.pt (OUT/config.yaml "
                                                        "is the base config unless --config is given)."),
    ontology: Optional[Path] = ONTOLOGY,
    config: Optional[Path] = CONFIG,
) -> None:
    """Signature shared by `pretrain` and `config` (typer reads the options from it)."""


def _options_command(action: Callable[[dict[str, Any]], None], doc: str) -> Callable[..., None]:
    """A command with _run_options' options that hands them to `action` as a dict."""

    def command(**kwargs: Any) -> None:
        action(kwargs)

    command.__signature__ = inspect.signature(_run_options)  # type: ignore[attr-defined]
    command.__annotations__ = typing.get_type_hints(_run_options)
    command.__doc__ = doc
    return command


def _load(kwargs: dict[str, Any]):
    from .config import load_config

    config, out, resume = kwargs.pop("config"), kwargs.get("out"), kwargs.pop("resume")
    kwargs["resume"] = True if resume else None
    if resume and config is None and out is not None and (Path(out) / "config.yaml").is_file():
        config = Path(out) / "config.yaml"
    return load_config(config, kwargs)


def _pretrain(kwargs: dict[str, Any]) -> None:
    from .train import pretrain as run_training

    try:
        run_training(_load(kwargs), typer.echo)
    except _errors() as exc:
        _fail(str(exc))


def _print_config(kwargs: dict[str, Any]) -> None:
    try:
        typer.echo(_load(kwargs).resolved().to_yaml(), nl=False)
    except _errors() as exc:
        _fail(str(exc))


app.command("pretrain")(_options_command(_pretrain, "Pre-train ASG (IRA + ARSA + IRL + ERL) on one CPU/GPU or under torchrun."))
app.command("config")(_options_command(_print_config, "Print the resolved config (preset defaults filled in) as YAML, "
                                                       "without training."))


@app.command("export")
def export_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="A pretrain run folder (checkpoints/best.pt, else "
                                                              "last.pt) or a .pt file."),
    out: Path = typer.Option(..., "--out", help="Output folder: image_encoder/ and text_encoder/ (transformers "
                                                "save_pretrained, safetensors), asg_heads.safetensors, asg_export.json."),
) -> None:
    """Export the image and text encoders as transformers save_pretrained folders."""
    from .export import export

    try:
        path = export(checkpoint, out)
    except _errors() as exc:
        _fail(str(exc))
    typer.echo(f"exported to {path}")


def main() -> None:
    """Console entry point."""
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    main_with_usage_errors(app, prog_name="asg-train")


from .eval_cli import register  # noqa: E402

register(app)

if __name__ == "__main__":
    main()
