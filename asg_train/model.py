"""The ASG model: encoders, global/local projection heads, box pooling, and the tag decoder with cached queries.

`image_embedding` and `text_embedding` are the only places where a global embedding is computed: training,
validation, export and zero-shot all call them."""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from .encoders import ImageBackbone, TextBackbone
from .losses import arsa_loss, erl_loss, ira_loss, irl_loss, tag_targets
from .pooling import roi_pool


class ProjectionHead(nn.Module):
    """Two-layer head. norm "layer": Linear -> LayerNorm -> GELU -> Linear (padded region slots and the per-GPU
    batch size do not change it); "batch" (official): Linear -> BatchNorm -> ReLU -> Linear -> BatchNorm(affine=False).
    Works on [N, D] and [B, R, D] (BatchNorm then normalises over all B*R rows, as the official Conv1d head)."""

    def __init__(self, dim_in: int, dim_out: int, hidden: int = 512, norm: Literal["layer", "batch"] = "layer"):
        super().__init__()
        self.norm_kind = norm
        if norm == "batch":
            self.net = nn.Sequential(nn.Linear(dim_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                     nn.Linear(hidden, dim_out), nn.BatchNorm1d(dim_out, affine=False))
        else:
            self.net = nn.Sequential(nn.Linear(dim_in, hidden), nn.LayerNorm(hidden), nn.GELU(),
                                     nn.Linear(hidden, dim_out))

    @property
    def dim_out(self) -> int:
        return self.net[3].out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        return self.net(x.reshape(-1, shape[-1])).reshape(*shape[:-1], -1)


def text_features(text: TextBackbone, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  pool: str = "mean") -> tuple[torch.Tensor, torch.Tensor]:
    """(report feature [B, D] before the head, token features [B, L, D]); pool "mean" is the masked token mean,
    "cls" the first token (the official code's report feature)."""
    tokens = text(input_ids, attention_mask)
    if pool == "cls":
        return tokens[:, 0], tokens
    m = attention_mask.unsqueeze(-1).to(tokens.dtype)
    return (tokens * m).sum(1) / m.sum(1).clamp_min(1.0), tokens


def text_embedding(text: TextBackbone, head: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   pool: str = "mean") -> tuple[torch.Tensor, torch.Tensor]:
    """(L2-normalised joint-space report embedding [B, E], token features [B, L, D])."""
    pooled, tokens = text_features(text, input_ids, attention_mask, pool)
    return F.normalize(head(pooled), dim=-1), tokens


def image_embedding(image: ImageBackbone, head: nn.Module, pixel_values: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised pixel values -> (L2-normalised joint-space image embedding [B, E], patch grid [B, D, h, w])."""
    g, grid = image(pixel_values)
    return F.normalize(head(g), dim=-1), grid


class TagDecoder(nn.Module):
    """Transformer decoder over image patches; its queries are fixed tag-name embeddings (a buffer, never re-encoded).

    classifier "per-tag": one weight vector per tag; "shared" (official): one Linear(dim, 1) for every query."""

    def __init__(self, queries: torch.Tensor, memory_dim: int, dim: int, heads: int, layers: int,
                 ffn: int = 0, activation: str = "gelu", classifier: str = "per-tag"):
        super().__init__()
        self.register_buffer("queries", queries.float().clone())
        self.q_proj = nn.Linear(queries.shape[1], dim)
        self.m_proj = nn.Linear(memory_dim, dim)
        layer = nn.TransformerDecoderLayer(dim, heads, ffn or 4 * dim, dropout=0.1, activation=activation,
                                           batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, layers)
        self.norm = nn.LayerNorm(dim)
        n = queries.shape[0] if classifier == "per-tag" else 1
        self.cls_w = nn.Parameter(torch.randn(n, dim) * dim ** -0.5)
        self.cls_b = nn.Parameter(torch.zeros(n))

    def forward(self, memory: torch.Tensor) -> torch.Tensor:
        q = self.q_proj(self.queries.to(memory.dtype)).unsqueeze(0).expand(memory.shape[0], -1, -1)
        h = self.norm(self.decoder(q, self.m_proj(memory)))
        return (h * self.cls_w).sum(-1) + self.cls_b  # [B, T]


class ASGModel(nn.Module):
    """Image/text encoders plus ASG heads. forward(batch) returns embeddings and tag logits; losses() scores them.

    region_path "pool-project": pool patch features in each box, then project; "project-pool" (official): project
    and L2-normalise every patch, then pool."""

    def __init__(self, image: ImageBackbone, text: TextBackbone, tag_queries: torch.Tensor, embed_dim: int = 128,
                 decoder_dim: int = 256, decoder_heads: int = 8, decoder_layers: int = 4, head_hidden: int = 512,
                 head_norm: str = "layer", pool: str = "mean", region_path: str = "pool-project",
                 tag_decoder: str = "ours"):
        super().__init__()
        self.image, self.text = image, text
        self.pool, self.region_path = pool, region_path
        self.img_global = ProjectionHead(image.dim, embed_dim, head_hidden, head_norm)
        self.txt_global = ProjectionHead(text.dim, embed_dim, head_hidden, head_norm)
        self.img_local = ProjectionHead(image.dim, embed_dim, head_hidden, head_norm)
        self.txt_local = ProjectionHead(text.dim, embed_dim, head_hidden, head_norm)
        if tag_decoder == "official":  # width of the image features, 4 heads, FFN 1024, ReLU, one shared classifier
            self.tag_decoder = TagDecoder(tag_queries, image.dim, image.dim, 4, decoder_layers, 1024, "relu", "shared")
        else:
            self.tag_decoder = TagDecoder(tag_queries, image.dim, decoder_dim, decoder_heads, decoder_layers)

    def embed_images(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images -> (normalised global embedding [B,E], patch grid [B,D,h,w])."""
        return image_embedding(self.image, self.img_global, self.image.preprocess(images))

    def embed_texts(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids -> (normalised global report embedding [B,E], token features [B,L,D])."""
        return text_embedding(self.text, self.txt_global, input_ids, attention_mask, self.pool)

    def regions(self, grid: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """L2-normalised region embeddings [B, R, E], each pooled from its own image's patch grid."""
        if self.region_path == "project-pool":
            b, d, h, w = grid.shape
            patches = F.normalize(self.img_local(grid.flatten(2).transpose(1, 2)), dim=-1)  # [B, h*w, E]
            emb = roi_pool(patches.transpose(1, 2).reshape(b, -1, h, w), boxes, self.image.image_size)
            return F.normalize(emb, dim=-1)
        return F.normalize(self.img_local(roi_pool(grid, boxes, self.image.image_size)), dim=-1)

    def forward(self, batch: dict) -> dict:
        img, grid = self.embed_images(batch["images"])
        txt, tokens = self.embed_texts(batch["input_ids"], batch["attention_mask"])
        mask = batch["region_tokens"].to(tokens.dtype)  # [B, R, L]
        sent = torch.einsum("brl,bld->brd", mask, tokens) / mask.sum(-1, keepdim=True).clamp_min(1.0)
        memory = grid.flatten(2).transpose(1, 2)  # [B, h*w, Di]
        return {
            "img": img, "txt": txt,
            "reg_img": self.regions(grid, batch["boxes"]),
            "reg_txt": F.normalize(self.txt_local(sent), dim=-1),
            "tag_logits": self.tag_decoder(memory),
        }


def compute_losses(out: dict, batch: dict, obj) -> dict[str, torch.Tensor]:
    """The four weighted objectives and their sum ("loss"); obj (config.Objective) supplies tau, weights, erl_alpha
    and uncertain_as."""
    valid = batch["box_valid"] & batch["region_tokens"].any(-1)
    tag_vec, _ = tag_targets(batch["tags"], obj.uncertain_as)
    parts = {
        "loss_ira": ira_loss(out["img"], out["txt"], obj.tau),
        "loss_arsa": arsa_loss(out["reg_img"], out["reg_txt"], valid, batch["same_text"], obj.tau),
        "loss_irl": irl_loss(out["tag_logits"], batch["tags"], obj.uncertain_as),
        "loss_erl": erl_loss(out["img"], out["txt"], tag_vec, obj.tau, obj.erl_alpha),
    }
    parts["loss"] = (obj.w_ira * parts["loss_ira"] + obj.w_arsa * parts["loss_arsa"]
                     + obj.w_irl * parts["loss_irl"] + obj.w_erl * parts["loss_erl"])
    return parts
