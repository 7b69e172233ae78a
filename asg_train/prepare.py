"""Everything a run reads, built once: the image cache, the tokenizer, the token table and the report-level
train/validation split (`asg-train prepare`, and rank 0 of `pretrain` before the other ranks)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from .cache import Cache, prepare
from .config import TrainConfig
from .encoders import load_tokenizer, save_tokenizer, train_wordpiece
from .tokens import TokenTable, tokenize_cache


class SplitError(ValueError):
    """A validation-reports file that cannot be used, with a one-line message naming the file (and line)."""


def read_report_ids(path: Path) -> list[str]:
    """Report ids, one per line (blank lines and `#` comments skipped); a clear error for an unreadable file."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SplitError(f"{path}: cannot read the validation report ids: {exc}") from None
    ids = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not ids:
        raise SplitError(f"{path}: no report ids (expected one id per line)")
    return ids


def split_by_report(cache: Cache, fraction: float, val_ids: Optional[Sequence[str]] = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Image indices of (train, val); a report and all its images go to the same side. `val_ids` (a fixed split,
    like MIMIC-CXR's official validate split) names the validation reports; otherwise a stable hash of each id puts
    `fraction` of them there."""
    if val_ids is not None:
        is_val = np.isin(np.asarray(cache.report_ids, dtype=object), np.asarray(list(val_ids), dtype=object))
        img_val = is_val[cache.image_report]
        return np.nonzero(~img_val)[0], np.nonzero(img_val)[0]
    if fraction <= 0:
        return np.arange(len(cache.image_report)), np.zeros(0, dtype=np.int64)
    is_val = np.array([int(hashlib.sha1(r.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction
                       for r in cache.report_ids], dtype=bool)
    img_val = is_val[cache.image_report]
    return np.nonzero(~img_val)[0], np.nonzero(img_val)[0]


def make_tokenizer(cfg: TrainConfig, cache: Cache, train_idx: np.ndarray):
    """The run's tokenizer: the text model's (hub id or folder), or for the tiny preset / --from-scratch a
    WordPiece vocabulary built from the training reports and tag names (deterministic), kept in the cache."""
    own_vocab = (cfg.preset == "tiny" and cfg.text_model is None) or not cfg.pretrained
    if not own_vocab:
        return load_tokenizer(cfg.text_model or "emilyalsentzer/Bio_ClinicalBERT")
    held = sorted(set(cache.report_ids) - set(cache.report_ids[i] for i in np.unique(cache.image_report[train_idx])))
    key = hashlib.sha256(json.dumps([cfg.tiny_vocab_size, held]).encode()).hexdigest()[:8]
    path = Path(cache.path) / f"wordpiece-{key}"
    if not (path / "tokenizer.json").is_file():
        texts = [cache.texts[i] for i in np.unique(cache.image_report[train_idx])]
        save_tokenizer(train_wordpiece(texts + cache.tag_names, cfg.tiny_vocab_size), path)
    return load_tokenizer(str(path))


@dataclass
class Prepared:
    """Everything a run reads from the cache: images, tokenizer, token table and the report-level split."""

    cache: Cache
    tokenizer: object
    tokens: TokenTable
    train_idx: np.ndarray
    val_idx: np.ndarray


def prepare_run(cfg: TrainConfig, cache_root: Path, echo: Callable[[str], None] = print) -> Prepared:
    """Build or reuse the image cache, the tokenizer and the token table for a resolved config (`asg-train
    prepare` and rank 0 of `pretrain` call this; other ranks call it after rank 0, and only read)."""
    path = prepare(cfg.triplets, cfg.images, cfg.boxes, cache_root, cfg.resize_size, cfg.ontology,
                   cfg.prepare_workers, echo, cfg.text_sections)
    cache = Cache.open(path)
    val_ids = None
    if cfg.val_reports is not None:
        val_ids = read_report_ids(cfg.val_reports)
        missing = len(set(val_ids) - set(cache.report_ids))
        if missing == len(set(val_ids)):
            raise SplitError(f"{cfg.val_reports}: none of its {len(val_ids)} report ids is in the prepared reports")
        if missing:
            echo(f"warning: {cfg.val_reports}: {missing} of {len(set(val_ids))} validation report ids are not in the "
                 f"prepared reports (not given, or skipped: see skipped.csv)")
    train_idx, val_idx = split_by_report(cache, cfg.val_fraction, val_ids)
    tokenizer = make_tokenizer(cfg, cache, train_idx)
    tokens = tokenize_cache(cache, tokenizer, cfg.max_text_tokens, echo)
    return Prepared(cache, tokenizer, tokens, train_idx, val_idx)
