"""Dataset over the cache and the collate that tokenises reports and maps region sentence spans to token masks."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .cache import Cache


class PretrainDataset(Dataset):
    """Image-level items from a Cache: uint8 image, boxes in cache pixels, report index and raw tag vector."""

    def __init__(self, cache: Cache, indices: Optional[Sequence[int]] = None):
        self.cache = cache
        self.indices = np.arange(len(cache.image_report)) if indices is None else np.asarray(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        j = int(self.indices[i])
        rep = int(self.cache.image_report[j])
        boxes = self.cache.boxes[j]
        return {"image": torch.from_numpy(np.array(self.cache.images[j])), "boxes": torch.from_numpy(boxes.copy()),
                "box_valid": torch.from_numpy(~np.isnan(boxes).any(-1)), "report": rep,
                "tags": torch.from_numpy(self.cache.tags[rep].copy())}


class Collator:
    """Stack items, tokenise their reports with offsets, and build region -> token masks without token loops.

    Region r of item b gets token t when t's character span overlaps one of r's sentence spans. Items keep their
    positions: boxes[b] and region_tokens[b] always belong to images[b] (nothing is re-sorted after indexing).
    """

    def __init__(self, tokenizer, texts: list[str], spans: list[np.ndarray], n_regions: int, max_len: int):
        self.tokenizer, self.texts, self.spans = tokenizer, texts, spans
        self.n_regions, self.max_len = n_regions, max_len

    def __call__(self, items: list[dict]) -> dict:
        reps = [it["report"] for it in items]
        enc = self.tokenizer([self.texts[r] for r in reps], padding=True, truncation=True, max_length=self.max_len,
                             pad_to_multiple_of=8, return_offsets_mapping=True, return_tensors="pt")
        region_tokens = self.region_token_mask(enc["offset_mapping"], [self.spans[r] for r in reps])
        same = (region_tokens.unsqueeze(2) == region_tokens.unsqueeze(1)).all(-1)  # [B, R, R]
        return {
            "images": torch.stack([it["image"] for it in items]).unsqueeze(1),
            "boxes": torch.stack([it["boxes"] for it in items]),
            "box_valid": torch.stack([it["box_valid"] for it in items]),
            "tags": torch.stack([it["tags"] for it in items]),
            "report": torch.tensor(reps, dtype=torch.long),
            "input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
            "region_tokens": region_tokens, "same_text": same,
        }

    def region_token_mask(self, offsets: torch.Tensor, spans: list[np.ndarray]) -> torch.Tensor:
        """offsets [B, L, 2] char spans per token ((0, 0) for special/pad) -> bool [B, R, L]."""
        b, length, _ = offsets.shape
        smax = max(1, max(len(s) for s in spans))
        padded = np.full((b, smax, 3), -1, dtype=np.int64)
        for i, s in enumerate(spans):  # padding per item is data preparation, not the training step
            padded[i, :len(s)] = s
        sp = torch.from_numpy(padded)
        region, start, end = sp[..., 0], sp[..., 1:2], sp[..., 2:3]  # [B,S], [B,S,1], [B,S,1]
        ts, te = offsets[..., 0].unsqueeze(1), offsets[..., 1].unsqueeze(1)  # [B, 1, L]
        hit = (ts < end) & (te > start) & (te > ts) & (region >= 0).unsqueeze(-1)  # [B, S, L]
        onehot = torch.nn.functional.one_hot(region.clamp_min(0), self.n_regions) * (region >= 0).unsqueeze(-1)
        return torch.einsum("bsr,bsl->brl", onehot.float(), hit.float()) > 0


class ResumableSampler(Sampler[int]):
    """Per-epoch seeded permutation, sharded by rank, whole batches only, that can start mid-epoch."""

    def __init__(self, n: int, batch_size: int, rank: int = 0, world: int = 1, seed: int = 0, shuffle: bool = True):
        self.n, self.batch_size, self.rank, self.world, self.seed, self.shuffle = n, batch_size, rank, world, seed, shuffle
        self.epoch, self.start_batch = 0, 0

    @property
    def batches_per_epoch(self) -> int:
        return self.n // (self.batch_size * self.world)

    def set_position(self, epoch: int, start_batch: int) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def __iter__(self):
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.arange(self.n)
        usable = self.batches_per_epoch * self.batch_size * self.world
        mine = order[:usable].view(-1, self.world, self.batch_size)[:, self.rank]  # [batches, B]
        return iter(mine[self.start_batch:].reshape(-1).tolist())

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size
