"""Training configuration: one pydantic model, loaded from YAML with CLI overrides, saved resolved to RUN/config.yaml."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

Preset = Literal["tiny", "vit-b16", "resnet50"]

# Per-preset defaults for the fields left as None in TrainConfig.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"image_size": 64, "max_text_len": 128, "lr": 5e-4, "embed_dim": 128, "decoder_dim": 128,
             "decoder_heads": 4},
    "vit-b16": {"image_size": 224, "max_text_len": 256, "lr": 4e-5, "embed_dim": 128, "decoder_dim": 256,
                "decoder_heads": 8, "image_model": "google/vit-base-patch16-224-in21k",
                "text_model": "emilyalsentzer/Bio_ClinicalBERT"},
    "resnet50": {"image_size": 224, "max_text_len": 256, "lr": 4e-5, "embed_dim": 128, "decoder_dim": 256,
                 "decoder_heads": 8, "image_model": "microsoft/resnet-50",
                 "text_model": "emilyalsentzer/Bio_ClinicalBERT"},
}


class ConfigError(ValueError):
    """A bad configuration value or file, with a one-line message."""


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
    # model
    preset: Preset = "tiny"
    image_model: Optional[str] = None
    text_model: Optional[str] = None
    pretrained: bool = True
    image_size: Optional[int] = None
    max_text_len: Optional[int] = None
    embed_dim: Optional[int] = None
    decoder_dim: Optional[int] = None
    decoder_heads: Optional[int] = None
    decoder_layers: int = 4
    tiny_vocab_size: int = 2000
    # objectives
    tau: float = 0.07
    w_ira: float = 1.0
    w_arsa: float = 1.0
    w_irl: float = 5.0
    w_erl: float = 1.0
    erl_alpha: float = 0.8
    uncertain_as: Literal["0", "1", "ignore"] = "0"
    # optimisation
    batch_size: int = 16
    grad_accum: int = 1
    lr: Optional[float] = None
    weight_decay: float = 0.05
    beta1: float = 0.9
    beta2: float = 0.999
    warmup_steps: Optional[int] = None
    max_steps: Optional[int] = None
    epochs: Optional[float] = None
    # run
    val_fraction: float = 0.05
    val_every: int = 0
    save_every: int = 0
    log_every: int = 1
    num_workers: int = 0
    prepare_workers: int = 4
    seed: int = 0
    device: str = "auto"
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    progress: bool = True
    resume: bool = False

    def resolved(self) -> "TrainConfig":
        """A copy with every preset default filled in."""
        data = self.model_dump()
        for key, value in PRESETS[self.preset].items():
            if data.get(key) is None:
                data[key] = value
        if data["max_steps"] is None and data["epochs"] is None:
            data["max_steps"] = 1000
        return TrainConfig.model_validate(data)

    def save(self, path: Union[str, Path]) -> None:
        """Write the config as YAML (paths as strings)."""
        Path(path).write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False), encoding="utf-8")


def _one_line(exc: ValidationError, where: str) -> ConfigError:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "config"
    return ConfigError(f"{where}: field '{field}': {err['msg']}")


def load_config(path: Optional[Union[str, Path]] = None, overrides: Optional[dict[str, Any]] = None) -> TrainConfig:
    """Read a YAML config (optional) and apply `overrides` (None values are ignored: "not given on the CLI")."""
    data: dict[str, Any] = {}
    where = "command line"
    if path is not None:
        where = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping of option: value")
        data.update({k.replace("-", "_"): v for k, v in (loaded or {}).items()})
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
            where = f"{where} / --{key.replace('_', '-')}" if path else f"--{key.replace('_', '-')}"
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise _one_line(exc, str(path) if path else "options") from None
