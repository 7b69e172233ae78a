"""The asg-train command line: prepare, pretrain, export (plus the downstream commands of eval_cli)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from asg_parse.cli.usage import run

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
    from .train import TrainError

    return (InputError, ConfigError, EncoderError, ExportError, TrainError)


@app.command()
def prepare(
    triplets: Optional[Path] = TRIPLETS,
    images: Optional[Path] = IMAGES,
    boxes: Optional[Path] = BOXES,
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder; the cache lives in a subfolder named by "
                                                               "the hash of the inputs and config, reused when unchanged."),
    preset: Optional[str] = typer.Option(None, "--preset", help="tiny | vit-b16 | resnet50 (sets the default image size)."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Longest side after resizing (then padded square)."),
    ontology: Optional[Path] = ONTOLOGY,
    workers: Optional[int] = typer.Option(None, "--workers", help="Threads decoding images (default 4)."),
    config: Optional[Path] = CONFIG,
) -> None:
    """Validate the inputs and build the cache (images, boxes, texts, tags, region sentence spans)."""
    from .cache import prepare as build
    from .config import load_config

    try:
        cfg = load_config(config, {"triplets": triplets, "images": images, "boxes": boxes, "cache": cache,
                                   "preset": preset, "image_size": image_size, "ontology": ontology,
                                   "prepare_workers": workers}).resolved()
        if cfg.triplets is None or cfg.images is None or cfg.cache is None:
            _fail("prepare needs --triplets, --images and --cache")
        build(cfg.triplets, cfg.images, cfg.boxes, cfg.cache, cfg.image_size, cfg.ontology, cfg.prepare_workers,
              typer.echo)
    except _errors() as exc:
        _fail(str(exc))


@app.command()
def pretrain(
    triplets: Optional[Path] = TRIPLETS,
    images: Optional[Path] = IMAGES,
    boxes: Optional[Path] = BOXES,
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder: config.yaml, metrics.jsonl, val.jsonl, "
                                                           "checkpoints/, tokenizer/."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder (default OUT/cache)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="tiny (offline, seconds on CPU) | vit-b16 (paper: "
                                                                "ViT-B/16 + Bio_ClinicalBERT) | resnet50."),
    image_model: Optional[str] = typer.Option(None, "--image-model", help="Hub id or local path of the image encoder."),
    text_model: Optional[str] = typer.Option(None, "--text-model", help="Hub id or local path of the text encoder."),
    pretrained: Optional[bool] = typer.Option(None, "--pretrained/--from-scratch",
                                              help="Load encoder weights (default) or build them from config."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Image side in pixels (preset default)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Optimizer steps (default 1000 unless --epochs)."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Train for this many epochs (ignored with --max-steps)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Images per process per micro-batch (default 16)."),
    grad_accum: Optional[int] = typer.Option(None, "--grad-accum", help="Micro-batches per optimizer step (default 1)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (preset default)."),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="AdamW weight decay (default 0.05)."),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", help="Linear warmup steps (default 5%% of steps, at most 1000)."),
    tau: Optional[float] = typer.Option(None, "--tau", help="Temperature of the contrastive losses (default 0.07)."),
    w_ira: Optional[float] = typer.Option(None, "--w-ira", help="Weight of image-report alignment (default 1)."),
    w_arsa: Optional[float] = typer.Option(None, "--w-arsa", help="Weight of region-sentence alignment (default 1)."),
    w_irl: Optional[float] = typer.Option(None, "--w-irl", help="Weight of tag recognition BCE (default 5)."),
    w_erl: Optional[float] = typer.Option(None, "--w-erl", help="Weight of tag-similarity alignment (default 1)."),
    uncertain_as: Optional[str] = typer.Option(None, "--uncertain-as", help="Uncertain tags as 0 (default, paper), 1 or ignore."),
    val_fraction: Optional[float] = typer.Option(None, "--val-fraction", help="Share of reports held out for retrieval validation (default 0.05)."),
    val_every: Optional[int] = typer.Option(None, "--val-every", help="Validate every N steps (default: at the end only)."),
    save_every: Optional[int] = typer.Option(None, "--save-every", help="Also keep checkpoints/step_N.pt every N steps."),
    num_workers: Optional[int] = typer.Option(None, "--num-workers", help="DataLoader worker processes (default 0)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (default 0)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto (default: CUDA if present), cpu, cuda, cuda:1."),
    precision: Optional[str] = typer.Option(None, "--precision", help="auto (bf16 autocast on CUDA) | bf16 | fp32."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Show the rich progress bar."),
    resume: bool = typer.Option(False, "--resume", help="Continue exactly from OUT/checkpoints/last.pt (OUT/config.yaml "
                                                        "is the base config unless --config is given)."),
    ontology: Optional[Path] = ONTOLOGY,
    config: Optional[Path] = CONFIG,
) -> None:
    """Pre-train ASG (IRA + ARSA + IRL + ERL) on one CPU/GPU or under torchrun."""
    from .config import load_config
    from .train import pretrain as run

    overrides = {k: v for k, v in locals().items() if k not in ("config", "run", "load_config", "resume")}
    overrides["resume"] = True if resume else None
    try:
        base = config
        if resume and base is None and out is not None and (Path(out) / "config.yaml").is_file():
            base = Path(out) / "config.yaml"
        cfg = load_config(base, overrides)
        run(cfg, typer.echo)
    except _errors() as exc:
        _fail(str(exc))


@app.command("export")
def export_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="A pretrain run folder (uses checkpoints/last.pt) or a .pt file."),
    out: Path = typer.Option(..., "--out", help="Output folder: image_encoder/ and text_encoder/ (transformers "
                                                "save_pretrained), asg_heads.pt, asg_export.json."),
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
    run(app, prog_name="asg-train")


from .eval_cli import register  # noqa: E402

register(app)

if __name__ == "__main__":
    main()
