"""Training configuration: one pydantic model, loaded from YAML with CLI overrides, saved resolved to RUN/config.yaml."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from asg_parse.files import folder_problem

Preset = Literal["tiny", "vit-b16", "resnet50"]
Count = Annotated[int, Field(ge=1)]  # sizes, steps, layers: at least 1
Off = Annotated[int, Field(ge=0)]  # 0 switches the thing off (every-N intervals, workers, warm-up steps)
Rate = Annotated[float, Field(gt=0)]
Weight = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, lt=1)]

# Per-preset defaults for the fields left as None in TrainConfig. Every preset resizes to about 8/7 of the crop
# and takes a random crop for training (the official 256 -> 224; tiny: 73 -> 64), a centre crop otherwise.
# vit-b16 is the paper's setup (official code: DeiT-B/16 ImageNet weights, Bio_ClinicalBERT cut to 6 layers, AdamW 4e-5, 2048-wide heads to 128, batch 72,
# 40% warm-up, 50 epochs, resize 256 -> crop 224).
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"image_size": 64, "resize_size": 73, "lr": 5e-4, "embed_dim": 128, "head_hidden": 512, "decoder_dim": 128,
             "decoder_heads": 4, "image_norm": "half", "batch_size": 16, "warmup_fraction": 0.05},
    "vit-b16": {"image_size": 224, "resize_size": 256, "lr": 4e-5, "embed_dim": 128, "head_hidden": 2048,
                "decoder_dim": 256, "decoder_heads": 8, "image_model": "facebook/deit-base-patch16-224",
                "image_norm": "imagenet", "text_model": "emilyalsentzer/Bio_ClinicalBERT", "text_layers": 6,
                "batch_size": 72, "epochs": 50, "warmup_fraction": 0.4},
    "resnet50": {"image_size": 224, "resize_size": 256, "lr": 4e-5, "embed_dim": 128, "head_hidden": 2048,
                 "decoder_dim": 256, "decoder_heads": 8, "image_model": "microsoft/resnet-50",
                 "image_norm": "imagenet", "text_model": "emilyalsentzer/Bio_ClinicalBERT", "text_layers": 6,
                 "batch_size": 72, "epochs": 50, "warmup_fraction": 0.4},
}


class ConfigError(ValueError):
    """A bad configuration value or file, with a one-line message."""


class Objective(BaseModel):
    """The ASG loss: IRA and ARSA sum their two cross-entropy directions, ERL averages KL both ways (official)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    tau: Rate = 0.07
    w_ira: Weight = 1.0
    w_arsa: Weight = 1.0
    w_irl: Weight = 5.0
    w_erl: Weight = 1.0
    erl_alpha: Annotated[float, Field(ge=0, le=1)] = 0.8
    uncertain_as: Literal["0", "1", "ignore"] = "0"


OBJECTIVE_KEYS = tuple(Objective.model_fields)


class TrainConfig(BaseModel):
    """Everything a prepare/pretrain run depends on. None means "the preset's default"."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # inputs
    triplets: Optional[Path] = None
    images: Optional[Path] = None
    boxes: Optional[Path] = None
    ontology: Optional[Path] = None
    cache: Optional[Path] = None
    out: Optional[Path] = None
    text_sections: Optional[list[str]] = None  # None: asg_train/data/text.yaml (FINDINGS and IMPRESSION)
    max_text_tokens: Count = 112
    # model
    preset: Preset = "tiny"
    image_model: Optional[str] = None
    image_norm: Optional[Literal["half", "imagenet", "checkpoint"]] = None
    text_model: Optional[str] = None
    text_layers: Optional[Count] = None
    pretrained: bool = True
    image_size: Optional[Count] = None
    resize_size: Optional[Count] = None
    embed_dim: Optional[Count] = None
    head_hidden: Optional[Count] = None
    head_norm: Literal["layer", "batch"] = "layer"
    pool: Literal["mean", "cls"] = "mean"
    region_path: Literal["pool-project", "project-pool"] = "pool-project"
    tag_decoder: Literal["ours", "official"] = "ours"
    decoder_dim: Optional[Count] = None
    decoder_heads: Optional[Count] = None
    decoder_layers: Count = 4
    tiny_vocab_size: Count = 2000
    objective: Objective = Field(default_factory=Objective)
    # optimisation
    batch_size: Optional[Count] = None
    grad_accum: Count = 1
    lr: Optional[Rate] = None
    min_lr: Weight = 1e-8
    weight_decay: Weight = 0.05
    beta1: Fraction = 0.9
    beta2: Fraction = 0.999
    warmup_steps: Optional[Off] = None
    warmup_fraction: Optional[Fraction] = None
    max_steps: Optional[Count] = None
    epochs: Optional[Rate] = None
    patience: Optional[Off] = None
    # run
    val_fraction: Fraction = 0.05
    val_reports: Optional[Path] = None  # report ids held out for validation (one per line); replaces val_fraction
    val_every: Off = 0
    save_every: Off = 0
    log_every: Count = 50
    num_workers: Optional[Off] = None
    prefetch_factor: Count = 4
    prepare_workers: Count = 4
    compile: bool = False
    grad_checkpointing: bool = False
    seed: int = 0
    device: str = "auto"
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    progress: bool = True
    resume: bool = False

    @field_validator("out", "cache")
    @classmethod
    def _a_folder(cls, value: Optional[Path]) -> Optional[Path]:
        if value is not None and (problem := folder_problem(value)):
            raise ValueError(problem)
        return value

    def resolved(self) -> "TrainConfig":
        """A copy with every preset default filled in (data-loader workers: the machine's cores, at most 8)."""
        data = self.model_dump()
        for key, value in PRESETS[self.preset].items():
            if data.get(key) is None:
                data[key] = value
        if data["text_sections"] is None:
            from .inputs import text_rules

            data["text_sections"] = list(text_rules()["sections"])
        if data["resize_size"] is None:
            data["resize_size"] = data["image_size"]
        if data["max_steps"] is None and data["epochs"] is None:
            data["max_steps"] = 1000
        if data["num_workers"] is None:
            data["num_workers"] = min(os.cpu_count() or 1, 8)
        return TrainConfig.model_validate(data)

    def save(self, path: Union[str, Path]) -> None:
        """Write the config as YAML (paths as strings)."""
        Path(path).write_text(self.to_yaml(), encoding="utf-8")

    def to_yaml(self) -> str:
        """The config as YAML text (the same text `asg-train config` prints and runs save)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _one_line(exc: ValidationError, where: str) -> ConfigError:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "config"
    return ConfigError(f"{where}: field '{field}': {err['msg']}")


def _nest_objective(data: dict[str, Any]) -> dict[str, Any]:
    """Flat objective keys (tau, w_ira, ...) from a YAML file or the flags go into the `objective` block."""
    flat = {k: data.pop(k) for k in OBJECTIVE_KEYS if k in data}
    if flat:
        block = dict(data.get("objective") or {})
        block.update(flat)
        data["objective"] = block
    return data


def load_config(path: Optional[Union[str, Path]] = None, overrides: Optional[dict[str, Any]] = None) -> TrainConfig:
    """Read a YAML config (optional) and apply `overrides` (None values are ignored: "not given on the CLI")."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping of option: value")
        data.update({k.replace("-", "_"): v for k, v in (loaded or {}).items()})
        data = _nest_objective(data)
    flat = {k: v for k, v in (overrides or {}).items() if v is not None}
    data.update({k: v for k, v in flat.items() if k not in OBJECTIVE_KEYS})
    obj = {k: v for k, v in flat.items() if k in OBJECTIVE_KEYS}
    if obj:
        data["objective"] = {**dict(data.get("objective") or {}), **obj}
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise _one_line(exc, str(path) if path else "options") from None
