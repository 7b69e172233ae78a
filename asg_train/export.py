"""Export a run's encoders as transformers folders (safetensors), and load image/text encoders for probes and
zero-shot; the exported encoders compute their embeddings with the training code's functions (model.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Union

import torch
import torch.nn as nn
import yaml

from asg_parse.files import folder_problem

from .checkpoint import load_checkpoint
from .config import PRESETS, TrainConfig
from .encoders import (EncoderError, ImageBackbone, TextBackbone, _from_pretrained, build_image_backbone,
                       load_tokenizer)
from .model import ASGModel, ProjectionHead, image_embedding, text_embedding

HEADS_FILE = "asg_heads.safetensors"
SPEC_FILE = "asg_export.json"


class ExportError(ValueError):
    """A run or export folder that cannot be read, with a one-line message."""


def _checkpoint_file(path: Path) -> Path:
    """A .pt file as given; for a run folder its checkpoints/best.pt (lowest validation loss), else last.pt."""
    if path.is_file():
        return path
    for name in ("best.pt", "last.pt"):
        if (path / "checkpoints" / name).is_file():
            return path / "checkpoints" / name
    raise ExportError(f"{path}: no checkpoints/best.pt or last.pt (is this a pretrain --out folder?)")


def _drop_pooler(model: nn.Module) -> nn.Module:
    """Training builds encoders without a (parametrised) pooler; match that so the state dicts line up."""
    pooler = getattr(model, "pooler", None)
    if pooler is not None and any(True for _ in pooler.parameters()):
        model.pooler = None
    return model


def load_run(path: Union[str, Path], device: Union[str, torch.device] = "cpu") -> tuple[ASGModel, object, TrainConfig]:
    """Rebuild the model of a run folder (or one of its .pt files) from its saved configs, without the hub."""
    from transformers import AutoConfig, AutoModel

    ckpt_file = _checkpoint_file(Path(path))
    run = ckpt_file.parent.parent if ckpt_file.parent.name == "checkpoints" else ckpt_file.parent
    for need in ("config.yaml", "model.json", "image_config", "text_config", "tokenizer"):
        if not (run / need).exists():
            raise ExportError(f"{run}: missing {need} (not a complete pretrain run folder)")
    cfg = TrainConfig.model_validate(yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")))
    spec = json.loads((run / "model.json").read_text(encoding="utf-8"))
    image_hf = _drop_pooler(AutoModel.from_config(AutoConfig.from_pretrained(str(run / "image_config"))))
    image = ImageBackbone(image_hf, spec["image_size"], tuple(spec["mean"]), tuple(spec["std"]), pool=cfg.pool)
    text_hf = _drop_pooler(AutoModel.from_config(AutoConfig.from_pretrained(str(run / "text_config"))))
    tokenizer = load_tokenizer(str(run / "tokenizer"))
    model = ASGModel(image, TextBackbone(text_hf), torch.zeros(spec["n_tags"], spec["tag_query_dim"]),
                     cfg.embed_dim, cfg.decoder_dim, cfg.decoder_heads, cfg.decoder_layers, cfg.head_hidden,
                     cfg.head_norm, cfg.pool, cfg.region_path, cfg.tag_decoder)
    model.load_state_dict(load_checkpoint(ckpt_file)["model"])
    return model.to(device).eval(), tokenizer, cfg


def export(checkpoint: Union[str, Path], out: Union[str, Path]) -> Path:
    """Write out/image_encoder and out/text_encoder (save_pretrained as safetensors, tokenizer, image processor:
    resize to the cached side, centre crop), the ASG heads as safetensors and asg_export.json."""
    from safetensors.torch import save_file

    try:  # transformers 5 without torchvision: the PIL processor writes the same config
        from transformers import DeiTImageProcessorPil as CropProcessor
    except ImportError:
        from transformers import DeiTImageProcessor as CropProcessor

    out = Path(out)
    if problem := folder_problem(out):
        raise ExportError(f"--out {problem}")
    model, tokenizer, cfg = load_run(checkpoint)
    img_dir, txt_dir = out / "image_encoder", out / "text_encoder"
    model.image.model.save_pretrained(str(img_dir), safe_serialization=True)
    size, resize = model.image.image_size, cfg.resize_size or model.image.image_size
    CropProcessor(size={"height": resize, "width": resize}, crop_size={"height": size, "width": size},
                  do_center_crop=True, image_mean=list(model.image.norm["mean"]),
                  image_std=list(model.image.norm["std"])).save_pretrained(str(img_dir))
    model.text.model.save_pretrained(str(txt_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(txt_dir))
    heads = {k: v.contiguous() for k, v in model.state_dict().items()
             if not k.startswith(("image.model.", "text.model."))}
    save_file(heads, str(out / HEADS_FILE))
    spec = {"image_size": size, "resize": resize, "mean": list(model.image.norm["mean"]),
            "std": list(model.image.norm["std"]), "embed_dim": cfg.embed_dim, "preset": cfg.preset,
            "input": model.image.norm["input"], "max_text_tokens": cfg.max_text_tokens, "pool": cfg.pool,
            "head_hidden": cfg.head_hidden, "head_norm": cfg.head_norm}
    (out / SPEC_FILE).write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return out


class ImageEncoder(nn.Module):
    """pixel_values [B,3,H,W] (normalised with the returned mean/std) -> features [B,D].

    projected=False: the backbone's pooled feature (for linear probes); True: the L2-normalised joint embedding,
    computed by model.image_embedding exactly as in training."""

    def __init__(self, backbone: ImageBackbone, head: Optional[nn.Module] = None):
        super().__init__()
        self.backbone, self.head = backbone, head
        self.dim = backbone.dim if head is None else head.dim_out

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            return self.backbone(pixel_values)[0]
        return image_embedding(self.backbone, self.head, pixel_values)[0]


class TextEncoder(nn.Module):
    """list of texts -> L2-normalised joint-space embeddings [B, E] (the report side of IRA), computed by
    model.text_embedding exactly as in training (same tokenizer, same token limit, same pooling)."""

    def __init__(self, backbone: TextBackbone, head: nn.Module, tokenizer, max_tokens: int = 112,
                 pool: str = "mean"):
        super().__init__()
        self.backbone, self.head, self.tokenizer = backbone, head, tokenizer
        self.max_tokens, self.pool = max_tokens, pool

    @torch.no_grad()
    def forward(self, texts: list[str]) -> torch.Tensor:
        dev = next(self.parameters()).device
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_tokens,
                             return_tensors="pt")
        return text_embedding(self.backbone, self.head, enc["input_ids"].to(dev), enc["attention_mask"].to(dev),
                              self.pool)[0]


def _norm_info(backbone: ImageBackbone, resize: Optional[int] = None) -> dict:
    return {"mean": tuple(backbone.norm["mean"]), "std": tuple(backbone.norm["std"]),
            "pixel_scale": 1 / 255, "channels": 3, "resize": resize or backbone.image_size,
            "note": backbone.norm["input"] + "; letterboxed to `resize`, centre crop of image_size"}


def _read_heads(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / HEADS_FILE))


def _load_export(path: Path) -> tuple[ImageBackbone, dict, dict]:
    from transformers import AutoModel

    spec = json.loads((path / SPEC_FILE).read_text(encoding="utf-8"))
    image_hf = _from_pretrained(AutoModel, str(path / "image_encoder"), add_pooling_layer=False)
    backbone = ImageBackbone(image_hf, spec["image_size"], tuple(spec["mean"]), tuple(spec["std"]),
                             pool=spec.get("pool", "mean"))
    return backbone, _read_heads(path), spec


def _head_from_state(heads: dict, prefix: str, norm: str = "layer") -> ProjectionHead:
    w0, w3 = heads[f"{prefix}.net.0.weight"], heads[f"{prefix}.net.3.weight"]
    head = ProjectionHead(w0.shape[1], w3.shape[0], w0.shape[0], norm)
    head.load_state_dict({k[len(prefix) + 1:]: v for k, v in heads.items() if k.startswith(prefix + ".")})
    return head


def load_image_encoder(spec: str, projected: bool = False,
                       device: Union[str, torch.device] = "cpu") -> tuple[nn.Module, int, dict]:
    """(module: pixel_values [B,3,H,W] float -> [B,D], image_size, normalisation) for a probe or zero-shot.

    spec: a pretrain RUN folder (or its .pt), an `export` folder, `random[:preset]` (random init, default tiny)
    or `imagenet:<hub id or path>` (a pretrained transformers vision model). Normalisation: x = pixel/255 (grey
    copied to 3 channels), then (x - mean) / std per channel. The module is in eval mode.
    """
    if spec.startswith("random"):
        preset = spec.split(":", 1)[1] if ":" in spec else "tiny"
        if preset not in PRESETS:
            raise ExportError(f"unknown preset '{preset}' in '{spec}' (expected one of {', '.join(PRESETS)})")
        if projected:
            raise ExportError("a random encoder has no joint embedding space (projected=True needs a run)")
        torch.manual_seed(0)
        backbone = build_image_backbone(preset, PRESETS[preset]["image_size"], None, pretrained=False)
        return ImageEncoder(backbone).to(device).eval(), backbone.image_size, \
            _norm_info(backbone, PRESETS[preset].get("resize_size"))
    if spec.startswith("imagenet:"):
        if projected:
            raise ExportError("an ImageNet encoder has no joint embedding space (projected=True needs a run)")
        name = spec.split(":", 1)[1]
        try:
            from transformers import AutoConfig

            size = int(getattr(AutoConfig.from_pretrained(name), "image_size", 224) or 224)
        except Exception as exc:  # noqa: BLE001
            raise ExportError(f"cannot load '{name}': {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        backbone = build_image_backbone("vit-b16", size, name, pretrained=True, norm="checkpoint")
        return ImageEncoder(backbone).to(device).eval(), size, _norm_info(backbone)
    path = Path(spec)
    if (path / SPEC_FILE).is_file():
        backbone, heads, info = _load_export(path)
        head = _head_from_state(heads, "img_global", info.get("head_norm", "layer")) if projected else None
        resize = info.get("resize")
    elif path.exists():
        model, _, cfg = load_run(path)
        backbone, head, resize = model.image, (model.img_global if projected else None), cfg.resize_size
    else:
        raise ExportError(f"'{spec}' is not a run folder, an export folder, random[:preset] or imagenet:<id>")
    return ImageEncoder(backbone, head).to(device).eval(), backbone.image_size, _norm_info(backbone, resize)


def load_text_encoder(spec: str, device: Union[str, torch.device] = "cpu") -> TextEncoder:
    """The joint-space report encoder of a RUN or export folder: module(list[str]) -> [B, E] (zero-shot prompts)."""
    path = Path(spec)
    if (path / SPEC_FILE).is_file():
        from transformers import AutoModel

        info = json.loads((path / SPEC_FILE).read_text(encoding="utf-8"))
        text_hf = _from_pretrained(AutoModel, str(path / "text_encoder"), add_pooling_layer=False)
        head = _head_from_state(_read_heads(path), "txt_global", info.get("head_norm", "layer"))
        enc = TextEncoder(TextBackbone(text_hf), head, load_tokenizer(str(path / "text_encoder")),
                          info["max_text_tokens"], info.get("pool", "mean"))
    elif path.exists():
        model, tokenizer, cfg = load_run(path)
        enc = TextEncoder(model.text, model.txt_global, tokenizer, cfg.max_text_tokens, cfg.pool)
    else:
        raise ExportError(f"'{spec}' is not a run folder or an export folder (zero-shot needs a pretrained run)")
    return enc.to(device).eval()


__all__ = ["export", "load_run", "load_image_encoder", "load_text_encoder", "ImageEncoder", "TextEncoder",
           "ExportError", "EncoderError"]
