"""Reports tokenised once, at prepare time: token ids and region->token bit masks beside the cache, keyed by the
tokenizer's identity and the token limit, so that the training collate only slices and stacks arrays."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .cache import Cache

CHUNK = 4096  # reports per tokenizer call


class TokenError(ValueError):
    """A token table that cannot be built (too many regions for the bit masks), with a one-line message."""


def tokenizer_id(tokenizer, max_tokens: int) -> str:
    """Hash of the tokenizer's definition (vocabulary, normaliser, templates) and the token limit. The backend's
    truncation and padding state is left out: a call with truncation=True changes it without changing a token."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        definition = json.loads(backend.to_str())
        definition.pop("truncation", None)
        definition.pop("padding", None)
        spec = json.dumps(definition, sort_keys=True)
    else:
        spec = json.dumps(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(f"{spec}|{max_tokens}".encode()).hexdigest()[:16]


def region_bits(offsets: np.ndarray, spans: np.ndarray, dtype=np.uint32) -> np.ndarray:
    """[L] integers whose bit r is set when the token's character span overlaps one of region r's sentence spans.

    offsets: [L, 2] token character spans ((0, 0) for special tokens); spans: [S, 3] rows (region, start, end)."""
    if len(spans) == 0 or len(offsets) == 0:
        return np.zeros(len(offsets), dtype=dtype)
    ts, te = offsets[None, :, 0], offsets[None, :, 1]
    hit = (ts < spans[:, 2:3]) & (te > spans[:, 1:2]) & (te > ts)  # [S, L]
    weights = (np.ones(1, dtype=dtype) << spans[:, 0].astype(dtype))[:, None]  # [S, 1]
    return np.bitwise_or.reduce(np.where(hit, weights, 0).astype(dtype), axis=0)


@dataclass
class TokenTable:
    """Per report: ids [N, W] (pad id after `lengths`), region_bits [N, W]; W = max_tokens rounded up to 8."""

    path: Path
    ids: np.ndarray
    lengths: np.ndarray
    region_bits: np.ndarray
    n_regions: int
    pad_id: int

    @classmethod
    def open(cls, path: Path) -> "TokenTable":
        meta = json.loads((Path(path) / "meta.json").read_text(encoding="utf-8"))
        return cls(Path(path), np.load(path / "ids.npy", mmap_mode="r"), np.load(path / "lengths.npy"),
                   np.load(path / "region_bits.npy", mmap_mode="r"), meta["n_regions"], meta["pad_id"])


def build_table(texts: list[str], spans: list[np.ndarray], n_regions: int, tokenizer, max_tokens: int,
                path: Optional[Path] = None) -> TokenTable:
    """Tokenise `texts` (truncated to max_tokens) and mark each token's regions from the [S, 3] sentence spans."""
    if n_regions > 64:
        raise TokenError(f"{n_regions} regions; the region->token masks hold at most 64")
    dtype = np.uint32 if n_regions <= 32 else np.uint64
    width = -(-max_tokens // 8) * 8
    pad = int(tokenizer.pad_token_id or 0)
    n = len(texts)
    ids = np.full((n, width), pad, dtype=np.int32)
    bits = np.zeros((n, width), dtype=dtype)
    lengths = np.zeros(n, dtype=np.int32)
    for lo in range(0, n, CHUNK):
        enc = tokenizer(list(texts[lo:lo + CHUNK]), truncation=True, max_length=max_tokens,
                        return_offsets_mapping=True)
        for k, (row, offs) in enumerate(zip(enc["input_ids"], enc["offset_mapping"])):
            i = lo + k
            lengths[i] = len(row)
            ids[i, :len(row)] = row
            bits[i, :len(row)] = region_bits(np.asarray(offs, dtype=np.int64).reshape(-1, 2), spans[i], dtype)
    return TokenTable(path or Path("."), ids, lengths, bits, n_regions, pad)


def tokenize_cache(cache: Cache, tokenizer, max_tokens: int, echo=print) -> TokenTable:
    """The token table of `cache` for this tokenizer and limit: CACHE/tokens-<id>/, built once, then reused."""
    dest = cache.path / f"tokens-{tokenizer_id(tokenizer, max_tokens)}"
    if (dest / "meta.json").is_file():
        return TokenTable.open(dest)
    try:
        table = build_table(cache.texts, cache.spans, len(cache.regions), tokenizer, max_tokens)
    except TokenError as exc:
        raise TokenError(f"{cache.path}: {exc}") from None
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "ids.npy", table.ids)
    np.save(tmp / "lengths.npy", table.lengths)
    np.save(tmp / "region_bits.npy", table.region_bits)
    at_limit = int((table.lengths >= max_tokens).sum())
    meta = {"n_reports": len(cache.texts), "max_tokens": max_tokens, "width": int(table.ids.shape[1]),
            "n_regions": table.n_regions, "pad_id": table.pad_id, "tokenizer": type(tokenizer).__name__,
            "vocab_size": len(tokenizer), "at_limit": at_limit}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    echo(f"tokenised {len(cache.texts)} reports into {dest.name} (at most {max_tokens} tokens; "
         f"{at_limit} truncated or exactly at the limit)")
    return TokenTable.open(dest)
