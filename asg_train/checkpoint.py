"""Checkpoints that load with torch.load(weights_only=True): tensors, numbers, strings, lists and dicts only
(the config as a plain mapping, every RNG state as tensors and ints)."""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_VERSION = 2


def rng_state() -> dict:
    """Python, NumPy, torch (and CUDA) RNG states in weights_only-safe types."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {"python": [version, torch.tensor(internal, dtype=torch.int64), gauss],
                             "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                                       float(cached)],
                             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what rng_state() captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(int(x) for x in internal.tolist()), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, model: torch.nn.Module, optimizer, scheduler, pos: dict, config: dict,
                    rngs: list) -> None:
    """Atomic torch.save of everything --resume needs (config: the resolved config as a JSON-able mapping)."""
    ckpt = {"version": CHECKPOINT_VERSION, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "position": dict(pos), "rng": rngs, "config": config}
    tmp = Path(path).with_suffix(".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    """torch.load with weights_only=True: a checkpoint from elsewhere cannot run code when loaded."""
    return torch.load(path, map_location="cpu", weights_only=True)
