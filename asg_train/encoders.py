"""Image and text encoders from transformers (presets tiny / vit-b16 / resnet50) and the tiny WordPiece tokenizer."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

import torch
import torch.nn as nn

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# pixel normalisation for [0, 1] inputs: "half" (ViT-in21k style), "imagenet" (DeiT, ResNet: the official code)
NORMS = {"half": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
         "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}


class EncoderError(RuntimeError):
    """A model or tokenizer that cannot be built or loaded, with a one-line message."""


class ImageBackbone(nn.Module):
    """Wraps a transformers vision model: pixel_values [B,3,H,W] -> (global [B,D], patch grid [B,D,h,w])."""

    def __init__(self, model: nn.Module, image_size: int, mean: tuple, std: tuple, pool: str = "mean"):
        super().__init__()
        self.model, self.pool = model, pool
        self.image_size = image_size
        cfg = model.config
        self.dim = int(getattr(cfg, "hidden_size", None) or cfg.hidden_sizes[-1])
        self.tokens = getattr(cfg, "model_type", "") not in ("resnet", "convnext", "regnet")
        self.needs_interp = self.tokens and getattr(cfg, "image_size", image_size) != image_size
        self.norm = {"mean": tuple(mean), "std": tuple(std), "input": "pixel/255, grey copied to 3 channels"}
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [B,1|3,H,W] -> normalised float [B,3,H,W]."""
        x = images.float() / 255.0
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kwargs = {"interpolate_pos_encoding": True} if self.needs_interp else {}
        hidden = self.model(pixel_values=pixel_values, **kwargs).last_hidden_state
        if hidden.dim() == 4:  # CNN: [B, C, h, w]
            return hidden.mean((2, 3)), hidden
        b, n, d = hidden.shape
        side = int((n - 1) ** 0.5)
        grid = hidden[:, n - side * side:].transpose(1, 2).reshape(b, d, side, side)
        return (hidden[:, 0] if self.pool == "cls" else hidden[:, 1:].mean(1)), grid


class TextBackbone(nn.Module):
    """Wraps a transformers text model: (input_ids, attention_mask) -> token embeddings [B, L, D]."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.dim = int(model.config.hidden_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def train_wordpiece(texts: Iterable[str], vocab_size: int = 2000):
    """A lowercase BERT WordPiece tokenizer built from `texts`, as a transformers fast tokenizer.

    Deterministic (the `tokenizers` trainer breaks frequency ties in hash order, so two runs on the same reports
    gave different vocabularies): the vocabulary is the specials, every character alone and as a "##" suffix piece,
    then the most frequent words (ties alphabetical) up to `vocab_size`; any other word splits into characters.
    """
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    words: Counter[str] = Counter()
    for text in texts:
        words.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for w in words for c in w})
    vocab: dict[str, int] = {}
    for piece in [*SPECIALS, *chars, *(f"##{c}" for c in chars)]:
        vocab.setdefault(piece, len(vocab))
    for word, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= vocab_size:
            break
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.WordPiece()
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def load_tokenizer(name_or_path: str):
    """A fast tokenizer (offset mapping is required) from a hub id or folder."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name_or_path, use_fast=True)
    except Exception as exc:  # noqa: BLE001
        raise EncoderError(f"cannot load tokenizer '{name_or_path}': {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    if not getattr(tok, "is_fast", False):
        raise EncoderError(f"tokenizer '{name_or_path}' is not a fast tokenizer (offset mapping needed)")
    return tok


def _from_pretrained(cls, name: str, **kwargs):
    try:
        return cls.from_pretrained(name, **kwargs)
    except TypeError:  # a model class without add_pooling_layer
        kwargs.pop("add_pooling_layer", None)
        return cls.from_pretrained(name, **kwargs)
    except Exception as exc:  # noqa: BLE001
        raise EncoderError(f"cannot load model '{name}': {type(exc).__name__}: {str(exc).splitlines()[0]}") from None


def _checkpoint_norm(name: str, default: tuple) -> tuple:
    """The checkpoint's own image processor mean/std, else `default`."""
    try:
        from transformers import AutoImageProcessor

        proc = AutoImageProcessor.from_pretrained(name)
        if getattr(proc, "image_mean", None) and getattr(proc, "image_std", None):
            return tuple(proc.image_mean), tuple(proc.image_std)
    except Exception:  # noqa: BLE001 - no processor config: keep the default
        pass
    return default


def build_image_backbone(preset: str, image_size: int, image_model: Optional[str] = None, pretrained: bool = True,
                         norm: Optional[str] = None, pool: str = "mean") -> ImageBackbone:
    """The preset's image encoder; `image_model` (hub id or path) overrides it; pretrained=False builds from config.

    norm: "half" | "imagenet" | "checkpoint" (the checkpoint's processor config); None: the preset's."""
    from transformers import AutoConfig, AutoModel, ResNetConfig, ResNetModel, ViTConfig, ViTModel

    from .config import PRESETS

    norm = norm or PRESETS[preset]["image_norm"]
    fixed = NORMS.get(norm, NORMS["imagenet"])
    if preset == "tiny" and image_model is None:
        cfg = ViTConfig(image_size=image_size, patch_size=8, hidden_size=128, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=256)
        return ImageBackbone(ViTModel(cfg, add_pooling_layer=False), image_size, *fixed, pool=pool)
    name = image_model or PRESETS[preset]["image_model"]
    if not pretrained and name in ("microsoft/resnet-50", "facebook/deit-base-patch16-224"):
        model = ResNetModel(ResNetConfig()) if "resnet" in name else \
            ViTModel(ViTConfig(image_size=image_size), add_pooling_layer=False)  # DeiT-B/16 is a ViT-B/16
    elif pretrained:
        model = _from_pretrained(AutoModel, name, add_pooling_layer=False)
    else:
        model = AutoModel.from_config(AutoConfig.from_pretrained(name))
    mean, std = _checkpoint_norm(name, fixed) if norm == "checkpoint" else fixed
    return ImageBackbone(model, image_size, mean, std, pool=pool)


def build_text_backbone(preset: str, tokenizer, text_model: Optional[str] = None, pretrained: bool = True,
                        max_len: int = 512, layers: Optional[int] = None) -> TextBackbone:
    """The preset's text encoder (tiny: 2-layer BERT sized to `tokenizer`); pretrained=False builds BERT-base.

    layers: keep only the first N transformer layers (the official code cuts Bio_ClinicalBERT to 6)."""
    from transformers import AutoModel, BertConfig, BertModel

    cut = {"num_hidden_layers": layers} if layers else {}
    if preset == "tiny" and text_model is None:
        cfg = BertConfig(vocab_size=len(tokenizer), hidden_size=128, num_hidden_layers=layers or 2,
                         num_attention_heads=4, intermediate_size=256, max_position_embeddings=max(512, max_len))
        return TextBackbone(BertModel(cfg, add_pooling_layer=False))
    if not pretrained:
        cfg = BertConfig(vocab_size=max(len(tokenizer), 28996), max_position_embeddings=max(512, max_len), **cut)
        return TextBackbone(BertModel(cfg, add_pooling_layer=False))
    model = _from_pretrained(AutoModel, text_model or "emilyalsentzer/Bio_ClinicalBERT", add_pooling_layer=False,
                             **cut)
    if layers and int(model.config.num_hidden_layers) != layers:
        raise EncoderError(f"text model '{text_model}' kept {model.config.num_hidden_layers} layers, not {layers}")
    return TextBackbone(model)


@torch.no_grad()
def tag_name_embeddings(text: TextBackbone, tokenizer, names: list[str], device: torch.device) -> torch.Tensor:
    """Mean token embedding of each tag name, computed once with the text model in eval mode (no dropout)."""
    was_training = text.training
    text.eval()
    enc = tokenizer(names, padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
    hidden = text(ids, mask).float()
    m = mask.unsqueeze(-1).float()
    out = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
    text.train(was_training)
    return out.cpu()


def save_tokenizer(tokenizer, path: Path) -> None:
    """save_pretrained, creating the folder."""
    Path(path).mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(path))
