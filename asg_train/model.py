"""The ASG model: encoders, global/local projection heads, box pooling, and the tag decoder with cached queries."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .encoders import ImageBackbone, TextBackbone
from .losses import arsa_loss, erl_loss, ira_loss, irl_loss, tag_targets
from .pooling import roi_pool


class ProjectionHead(nn.Module):
    """Linear -> LayerNorm -> GELU -> Linear (MGCA-style two-layer head; LayerNorm keeps padded slots independent)."""

    def __init__(self, dim_in: int, dim_out: int, hidden: int = 512):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim_in, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, dim_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TagDecoder(nn.Module):
    """Transformer decoder over image patches; its queries are fixed tag-name embeddings (a buffer, never re-encoded)."""

    def __init__(self, queries: torch.Tensor, memory_dim: int, dim: int, heads: int, layers: int):
        super().__init__()
        self.register_buffer("queries", queries.float().clone())
        self.q_proj = nn.Linear(queries.shape[1], dim)
        self.m_proj = nn.Linear(memory_dim, dim)
        layer = nn.TransformerDecoderLayer(dim, heads, 4 * dim, dropout=0.1, batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, layers)
        self.norm = nn.LayerNorm(dim)
        self.cls_w = nn.Parameter(torch.randn(queries.shape[0], dim) * dim ** -0.5)
        self.cls_b = nn.Parameter(torch.zeros(queries.shape[0]))

    def forward(self, memory: torch.Tensor) -> torch.Tensor:
        q = self.q_proj(self.queries.to(memory.dtype)).unsqueeze(0).expand(memory.shape[0], -1, -1)
        h = self.norm(self.decoder(q, self.m_proj(memory)))
        return (h * self.cls_w).sum(-1) + self.cls_b  # [B, T]


class ASGModel(nn.Module):
    """Image/text encoders plus ASG heads. forward(batch) returns embeddings and tag logits; losses() scores them."""

    def __init__(self, image: ImageBackbone, text: TextBackbone, tag_queries: torch.Tensor, embed_dim: int = 128,
                 decoder_dim: int = 256, decoder_heads: int = 8, decoder_layers: int = 4):
        super().__init__()
        self.image, self.text = image, text
        self.img_global = ProjectionHead(image.dim, embed_dim)
        self.txt_global = ProjectionHead(text.dim, embed_dim)
        self.img_local = ProjectionHead(image.dim, embed_dim)
        self.txt_local = ProjectionHead(text.dim, embed_dim)
        self.tag_decoder = TagDecoder(tag_queries, image.dim, decoder_dim, decoder_heads, decoder_layers)

    def embed_images(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images -> (normalised global embedding [B,E], patch grid [B,D,h,w])."""
        g, grid = self.image(self.image.preprocess(images))
        return F.normalize(self.img_global(g), dim=-1), grid

    def embed_texts(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids -> (normalised global report embedding [B,E] from the masked token mean, tokens [B,L,D])."""
        tokens = self.text(input_ids, attention_mask)
        m = attention_mask.unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * m).sum(1) / m.sum(1).clamp_min(1.0)
        return F.normalize(self.txt_global(pooled), dim=-1), tokens

    def forward(self, batch: dict) -> dict:
        img, grid = self.embed_images(batch["images"])
        txt, tokens = self.embed_texts(batch["input_ids"], batch["attention_mask"])
        regions = roi_pool(grid, batch["boxes"], self.image.image_size)  # [B, R, Di], each from its own image
        mask = batch["region_tokens"].to(tokens.dtype)  # [B, R, L]
        sent = torch.einsum("brl,bld->brd", mask, tokens) / mask.sum(-1, keepdim=True).clamp_min(1.0)
        memory = grid.flatten(2).transpose(1, 2)  # [B, h*w, Di]
        return {
            "img": img, "txt": txt,
            "reg_img": F.normalize(self.img_local(regions), dim=-1),
            "reg_txt": F.normalize(self.txt_local(sent), dim=-1),
            "tag_logits": self.tag_decoder(memory),
        }


def compute_losses(out: dict, batch: dict, cfg) -> dict[str, torch.Tensor]:
    """The four weighted objectives and their sum ("loss"); cfg supplies tau, weights, erl_alpha, uncertain_as."""
    valid = batch["box_valid"] & batch["region_tokens"].any(-1)
    tag_vec, _ = tag_targets(batch["tags"], cfg.uncertain_as)
    parts = {
        "loss_ira": ira_loss(out["img"], out["txt"], cfg.tau),
        "loss_arsa": arsa_loss(out["reg_img"], out["reg_txt"], valid, batch["same_text"], cfg.tau),
        "loss_irl": irl_loss(out["tag_logits"], batch["tags"], cfg.uncertain_as),
        "loss_erl": erl_loss(out["img"], out["txt"], tag_vec, cfg.tau, cfg.erl_alpha),
    }
    parts["loss"] = (cfg.w_ira * parts["loss_ira"] + cfg.w_arsa * parts["loss_arsa"]
                     + cfg.w_irl * parts["loss_irl"] + cfg.w_erl * parts["loss_erl"])
    return parts
