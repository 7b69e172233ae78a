"""Zero-shot classification with a pre-trained run: a positive and a negative prompt per class; AUC, F1 and ACC.

An image's score for a class is the softmax, over the pair (positive, negative), of its joint-space cosine
similarities divided by the temperature; the class is predicted present when the positive prompt is the closer
one. Multi-class test sets (`path,label`) also get the overall accuracy of the highest-scoring class.

Prompts YAML:
    classes:
      Pneumonia:
        positive: "Patchy consolidation in the right lower lobe, consistent with pneumonia."
        negative: "The lungs are clear."
A prompt may also be a list of sentences; their embeddings are averaged.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import yaml

from .probe import ProbeError, _fmt, _nanmean, accuracy, auc_score, extract_features, f1_binary, read_labels


def read_prompts(path: Union[str, Path]) -> dict[str, tuple[list[str], list[str]]]:
    """{class: (positive prompts, negative prompts)} from the YAML file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProbeError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ProbeError(f"{path}: invalid YAML: {exc}") from None
    if isinstance(data, dict) and "classes" in data:
        data = data["classes"]
    if not isinstance(data, dict) or not data:
        raise ProbeError(f"{path}: expected `classes:` mapping each class to {{positive: ..., negative: ...}}")
    out = {}
    for cls, entry in data.items():
        if not isinstance(entry, dict) or "positive" not in entry or "negative" not in entry:
            raise ProbeError(f"{path}: class '{cls}': needs both `positive` and `negative` prompts")
        pair = []
        for key in ("positive", "negative"):
            val = entry[key]
            texts = [val] if isinstance(val, str) else list(val or [])
            if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
                raise ProbeError(f"{path}: class '{cls}': field '{key}': expected a sentence or a list of them")
            pair.append(texts)
        out[str(cls)] = (pair[0], pair[1])
    return out


def _embed_prompts(text_encoder: Any, prompts: dict[str, tuple[list[str], list[str]]], classes: list[str]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm mean embeddings [C, E] of the positive and of the negative prompts."""
    import torch

    pos, neg = [], []
    with torch.no_grad():
        for c in classes:
            for texts, dest in ((prompts[c][0], pos), (prompts[c][1], neg)):
                e = text_encoder(texts).float().mean(0)
                dest.append((e / e.norm().clamp_min(1e-8)).cpu().numpy())
    return np.stack(pos), np.stack(neg)


def zeroshot_scores(image_emb: np.ndarray, pos: np.ndarray, neg: np.ndarray, tau: float = 0.07) -> np.ndarray:
    """P(positive) per image and class, [N, C]: softmax over (cos to positive, cos to negative) / tau."""
    img = image_emb / np.maximum(np.linalg.norm(image_emb, axis=1, keepdims=True), 1e-8)
    d = (img @ pos.T - img @ neg.T) / tau
    return 1.0 / (1.0 + np.exp(-np.clip(d, -50, 50)))


def score_zeroshot(y: np.ndarray, prob: np.ndarray, mode: str, classes: Sequence[str]) -> dict[str, Any]:
    """Per-class and mean AUC, F1 and ACC (threshold 0.5); multi-class also the argmax accuracy."""
    classes = list(classes)
    onehot = y if mode == "multilabel" else np.eye(len(classes))[y]
    per = {}
    for j, c in enumerate(classes):
        pred = prob[:, j] > 0.5
        per[c] = {"auc": auc_score(onehot[:, j], prob[:, j]), "f1": f1_binary(onehot[:, j], pred),
                  "acc": accuracy(onehot[:, j] > 0.5, pred)}
    mean = {m: _nanmean([per[c][m] for c in classes]) for m in ("auc", "f1", "acc")}
    out: dict[str, Any] = {"per_class": per, "mean": mean}
    if mode == "multiclass":
        out["accuracy"] = accuracy(y, prob.argmax(axis=1))
    return out


def run_zeroshot(checkpoint: str, test: Union[str, Path], prompts: Union[str, Path], batch_size: int = 64,
                 device: Optional[str] = None, tau: float = 0.07,
                 encoders: Optional[tuple[Any, int, Any, Any]] = None) -> dict[str, Any]:
    """Zero-shot evaluation end to end. `encoders` = (image module, image size, normalisation, text module)
    replaces loading them from `checkpoint` (tests)."""
    te = read_labels(test)
    table = read_prompts(prompts)
    missing = [c for c in te.classes if c not in table]
    if missing:
        raise ProbeError(f"{prompts}: no prompts for class(es) {', '.join(missing)} of {test}")
    if encoders is None:
        from .export import load_image_encoder, load_text_encoder

        image, size, norm = load_image_encoder(checkpoint, projected=True)
        text = load_text_encoder(checkpoint)
    else:
        image, size, norm, text = encoders
    emb = extract_features(image, te.paths, size, norm, batch_size, device)
    text = text.to("cpu") if hasattr(text, "to") else text
    pos, neg = _embed_prompts(text, table, te.classes)
    prob = zeroshot_scores(emb, pos, neg, tau)
    return {"task": "zeroshot", "checkpoint": checkpoint, "mode": te.mode, "classes": te.classes,
            "n": len(te.paths), **score_zeroshot(te.y, prob, te.mode, te.classes)}


def format_table(result: dict[str, Any]) -> list[list[str]]:
    """Rows (class, AUC, F1, ACC), mean last (and the argmax accuracy for multi-class)."""
    rows = [["class", "AUC", "F1", "ACC"]]
    for c in result["classes"]:
        m = result["per_class"][c]
        rows.append([c, _fmt(m["auc"]), _fmt(m["f1"]), _fmt(m["acc"])])
    m = result["mean"]
    rows.append(["mean", _fmt(m["auc"]), _fmt(m["f1"]), _fmt(m["acc"])])
    if "accuracy" in result and not math.isnan(result["accuracy"]):
        rows.append(["argmax accuracy", "", "", _fmt(result["accuracy"])])
    return rows
