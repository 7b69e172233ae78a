"""Dataset over the cache (random crop for training, centre crop otherwise, boxes moved with the crop) and the
collate, which only slices the pre-tokenised reports and stacks tensors."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, get_worker_info

from .cache import Cache
from .tokens import TokenTable


def crop_offset(size: int, crop: int, key: tuple[int, int, int]) -> tuple[int, int]:
    """A deterministic pseudo-random (x, y) offset of a crop x crop window in a size x size image, from
    (seed, epoch, image index): the same draw after --resume, in any worker (a splitmix64 hash, no RNG state)."""
    room = size - crop + 1
    if room <= 1:
        return 0, 0
    z = (key[0] * 0x9E3779B97F4A7C15 + key[1] * 0xBF58476D1CE4E5B9 + key[2] * 0x94D049BB133111EB) & (2**64 - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    z ^= z >> 31
    return int(z % room), int((z >> 32) % room)


def crop_boxes(boxes: np.ndarray, ox: int, oy: int, crop: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes [R, 4] in cache pixels -> (boxes in crop pixels clipped to the crop, valid [R]); a region whose box
    leaves less than one pixel inside the crop is invalid."""
    b = np.clip(boxes - np.array([ox, oy, ox, oy], dtype=np.float32), 0.0, float(crop))
    with np.errstate(invalid="ignore"):  # NaN rows (no box) compare False
        valid = (b[:, 2] - b[:, 0] >= 1.0) & (b[:, 3] - b[:, 1] >= 1.0)
    return b, valid


class PretrainDataset(Dataset):
    """Image-level items from a Cache: uint8 crop, boxes in crop pixels, report index and raw tag vector.

    crop: side of the square crop (None: the whole cached image). random: a random crop per (seed, epoch, image)
    -- the sampler passes (index, epoch) -- otherwise the centre crop."""

    def __init__(self, cache: Cache, indices: Optional[Sequence[int]] = None, crop: Optional[int] = None,
                 random: bool = False, seed: int = 0):
        self.cache = cache
        self.indices = np.arange(len(cache.image_report)) if indices is None else np.asarray(indices)
        self.size = cache.image_size
        self.crop = crop or self.size
        self.random, self.seed = random, seed

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: Union[int, tuple[int, int]]) -> dict:
        i, epoch = item if isinstance(item, tuple) else (item, 0)
        j = int(self.indices[i])
        rep = int(self.cache.image_report[j])
        if self.random:
            ox, oy = crop_offset(self.size, self.crop, (self.seed, epoch, j))
        else:
            ox = oy = (self.size - self.crop) // 2
        boxes, valid = crop_boxes(self.cache.boxes[j], ox, oy, self.crop)
        image = self.cache.images[j, oy:oy + self.crop, ox:ox + self.crop]  # a view: the collate copies it once
        return {"image": torch.from_numpy(image), "boxes": torch.from_numpy(boxes),
                "box_valid": torch.from_numpy(valid), "report": rep,
                "tags": torch.from_numpy(self.cache.tags[rep].copy())}


class Collator:
    """Stack items; take each report's token ids and region->token masks from the token table (no tokenizer).

    Region r of item b gets token t when t's character span overlaps one of r's sentence spans (computed at
    prepare time). Items keep their positions: boxes[b] and region_tokens[b] always belong to images[b]."""

    def __init__(self, tokens: TokenTable):
        self.tokens = tokens
        self.shifts = torch.arange(tokens.n_regions, dtype=torch.int64).view(1, -1, 1)

    def __call__(self, items: list[dict]) -> dict:
        reps = np.array([it["report"] for it in items], dtype=np.int64)
        lengths = torch.from_numpy(self.tokens.lengths[reps].astype(np.int64))
        width = max(8, -(-int(lengths.max()) // 8) * 8)
        ids = torch.from_numpy(np.asarray(self.tokens.ids[reps, :width], dtype=np.int64))
        bits = torch.from_numpy(np.asarray(self.tokens.region_bits[reps, :width]).astype(np.int64))
        region_tokens = ((bits.unsqueeze(1) >> self.shifts) & 1).bool()  # [B, R, L]
        # regions r and s have the same tokens iff |r & s| == |r| == |s| (exact small integers in float32)
        m = region_tokens.float()
        both, count = torch.bmm(m, m.transpose(1, 2)), m.sum(-1)
        same = (both == count.unsqueeze(2)) & (both == count.unsqueeze(1))  # [B, R, R]
        first = items[0]["image"]
        images = torch.empty((len(items), 1, *first.shape), dtype=first.dtype)
        if get_worker_info() is not None:  # filled in shared memory: the loader then passes it on without a copy
            images.share_memory_()
        for k, it in enumerate(items):
            images[k, 0].copy_(it["image"])
        return {
            "images": images,
            "boxes": torch.stack([it["boxes"] for it in items]),
            "box_valid": torch.stack([it["box_valid"] for it in items]),
            "tags": torch.stack([it["tags"] for it in items]),
            "report": torch.from_numpy(reps),
            "input_ids": ids, "attention_mask": (torch.arange(width)[None] < lengths[:, None]).long(),
            "region_tokens": region_tokens, "same_text": same,
        }


class ResumableSampler(Sampler[tuple[int, int]]):
    """Per-epoch seeded permutation, sharded by rank, whole batches only, that can start mid-epoch; yields
    (index, epoch) so that the dataset's random crop is a function of both."""

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
        epoch = self.epoch
        return iter([(i, epoch) for i in mine[self.start_batch:].reshape(-1).tolist()])

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size
