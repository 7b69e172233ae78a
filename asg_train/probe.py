"""Linear probing of a frozen image encoder (the paper's protocol), with its metrics and label-CSV reader.

Features are extracted once per split with the frozen encoder; a linear head is then trained on 1%/10%/100% of
the training split (fixed-seed subsets, the same ones `asg-train splits` writes) with early stopping on the
validation split, and scored on the test split: per-class and mean AUC, or accuracy. `TASKS` maps a task name to
its runner so that further protocols (segmentation fine-tuning with Dice) can be added beside the linear probe.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Sequence, Union

import numpy as np

from asg_parse.files import utf8_text

Mode = Literal["multilabel", "multiclass"]


class ProbeError(ValueError):
    """Bad probe input (CSV, option), with a one-line message naming the file/line/field."""


# ----------------------------------------------------------------------------------------------- metrics
def auc_score(y_true: Sequence[float], score: Sequence[float]) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted half; NaN when only one class is present."""
    y = np.asarray(y_true, dtype=np.float64).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"auc_score: {y.shape[0]} labels but {s.shape[0]} scores")
    pos = y > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(len(s), dtype=np.float64)
    # average 1-based ranks over runs of equal scores
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(s)]])
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Fraction of equal entries."""
    a, b = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    return float((a == b).mean()) if a.size else float("nan")


def f1_binary(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """F1 of the positive class (0 when there is no true or predicted positive)."""
    a, b = np.asarray(y_true).ravel() > 0.5, np.asarray(y_pred).ravel() > 0.5
    tp = float((a & b).sum())
    denom = float(a.sum() + b.sum())
    return 2 * tp / denom if denom else 0.0


def _nanmean(values: Sequence[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(sum(vals) / len(vals)) if vals else float("nan")


def score_predictions(y: np.ndarray, prob: np.ndarray, mode: Mode, metric: str, classes: list[str]
                      ) -> dict[str, Any]:
    """Per-class and mean metric. Multi-label: AUC per column, or accuracy at 0.5. Multi-class: one-vs-rest AUC,
    or per-class recall with `mean` = overall accuracy."""
    per: dict[str, float] = {}
    if mode == "multilabel":
        for j, c in enumerate(classes):
            per[c] = auc_score(y[:, j], prob[:, j]) if metric == "auc" else accuracy(y[:, j], prob[:, j] > 0.5)
        return {"per_class": per, "mean": _nanmean(list(per.values()))}
    pred = prob.argmax(axis=1)
    for j, c in enumerate(classes):
        if metric == "auc":
            per[c] = auc_score(y == j, prob[:, j])
        else:
            mask = y == j
            per[c] = accuracy(y[mask], pred[mask]) if mask.any() else float("nan")
    mean = _nanmean(list(per.values())) if metric == "auc" else accuracy(y, pred)
    return {"per_class": per, "mean": mean}


# ----------------------------------------------------------------------------------------------- label CSVs
@dataclass
class LabelSet:
    """Images and labels of one split: y is [N, C] of 0/1 (multi-label) or [N] class indices (multi-class)."""

    paths: list[Path]
    y: np.ndarray
    classes: list[str]
    mode: Mode
    source: Path


def read_labels(path: Union[str, Path], mode: str = "auto", classes: Optional[list[str]] = None) -> LabelSet:
    """Read `path,label...` (multi-label, 0/1 columns) or `path,label` (multi-class, one column of class names).

    Relative image paths are resolved against the CSV's folder. `mode="auto"` picks multi-class when there is a
    single label column whose values are not all 0/1. `classes` fixes the class order (multi-class: the names seen
    in the training split)."""
    path = Path(path)
    try:
        rows = list(csv.reader(io.StringIO(utf8_text(path, ProbeError), newline="")))
    except OSError as exc:
        raise ProbeError(f"{path}: cannot open: {exc.strerror}") from None
    if not rows:
        raise ProbeError(f"{path}: empty file (expected a header `path,label...`)")
    header = [h.strip() for h in rows[0]]
    if len(header) < 2 or header[0] != "path":
        raise ProbeError(f"{path}: line 1: header must be `path,<label>...` (got {','.join(header)!r})")
    body = [(i + 2, r) for i, r in enumerate(rows[1:]) if any(x.strip() for x in r)]
    if not body:
        raise ProbeError(f"{path}: no data rows")
    for line, r in body:
        if len(r) != len(header):
            raise ProbeError(f"{path}: line {line}: {len(r)} fields, header has {len(header)}")
    label_cols = header[1:]
    if mode == "auto":
        single_values = {r[1].strip() for _, r in body}
        mode = "multiclass" if len(label_cols) == 1 and not single_values <= {"0", "1", "0.0", "1.0"} \
            else "multilabel"
    base = path.parent
    paths = [Path(r[0]) if Path(r[0]).is_absolute() else base / r[0] for _, r in body]
    if mode == "multilabel":
        y = np.zeros((len(body), len(label_cols)), dtype=np.float32)
        for k, (line, r) in enumerate(body):
            for j, v in enumerate(r[1:]):
                try:
                    val = float(v)
                except ValueError:
                    raise ProbeError(f"{path}: line {line}: field '{label_cols[j]}': expected 0 or 1, got {v!r}") \
                        from None
                if val not in (0.0, 1.0):
                    raise ProbeError(f"{path}: line {line}: field '{label_cols[j]}': expected 0 or 1, got {v!r}")
                y[k, j] = val
        if classes is not None and classes != label_cols:
            raise ProbeError(f"{path}: label columns {label_cols} differ from the training split's {classes}")
        return LabelSet(paths, y, label_cols, "multilabel", path)
    if mode != "multiclass":
        raise ProbeError(f"unknown mode '{mode}' (expected auto, multilabel or multiclass)")
    if len(label_cols) != 1:
        raise ProbeError(f"{path}: multi-class needs exactly one label column, got {len(label_cols)}")
    names = [r[1].strip() for _, r in body]
    known = list(classes) if classes is not None else sorted(set(names))
    index = {c: i for i, c in enumerate(known)}
    for (line, _), name in zip(body, names):
        if name not in index:
            raise ProbeError(f"{path}: line {line}: field '{label_cols[0]}': class {name!r} not in the training "
                             f"split's classes {known}")
    return LabelSet(paths, np.array([index[n] for n in names], dtype=np.int64), known, "multiclass", path)


def subset_indices(n: int, fraction: float, seed: int = 0) -> np.ndarray:
    """The fixed-seed training subset for a label fraction (sorted indices; at least one item)."""
    if not 0 < fraction <= 1:
        raise ProbeError(f"label fraction must be in (0, 1], got {fraction}")
    if fraction >= 1:
        return np.arange(n)
    k = max(1, int(round(n * fraction)))
    return np.sort(np.random.default_rng(seed).permutation(n)[:k])


# ----------------------------------------------------------------------------------------------- features
def _norm_values(norm: Any) -> tuple[list[float], list[float]]:
    """Accept (mean, std) / {"mean", "std"} / an object with image_mean and image_std; scalars or 3-vectors."""
    if norm is None:
        mean, std = 0.5, 0.5
    elif isinstance(norm, dict):
        mean, std = norm.get("mean", norm.get("image_mean")), norm.get("std", norm.get("image_std"))
    elif hasattr(norm, "image_mean"):
        mean, std = norm.image_mean, norm.image_std
    else:
        mean, std = norm
    as3 = (lambda x: [float(x)] * 3 if np.isscalar(x) else [float(v) for v in x])
    return as3(mean), as3(std)


def load_batch(paths: Sequence[Path], image_size: int, norm: Any) -> "torch.Tensor":
    """Images as a normalised [B, 3, S, S] float tensor (grayscale, longest side resized to norm["resize"] (default
    S), padded square, centre crop of S: what the model saw at validation)."""
    import torch

    from .cache import letterbox, load_pixels

    mean, std = _norm_values(norm)
    resize = int(norm.get("resize") or image_size) if isinstance(norm, dict) else image_size
    off = max(0, (resize - image_size) // 2)
    arrs = []
    for p in paths:
        try:
            arrs.append(letterbox(load_pixels(Path(p)), max(resize, image_size))[0][off:off + image_size,
                                                                                 off:off + image_size])
        except (OSError, ValueError) as exc:
            raise ProbeError(f"{p}: cannot read image: {exc}") from None
    x = torch.from_numpy(np.stack(arrs)).float().div_(255.0)[:, None].expand(-1, 3, -1, -1)
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    return (x - m) / s


def extract_features(encoder: Any, paths: Sequence[Path], image_size: int, norm: Any, batch_size: int = 64,
                     device: Optional[str] = None) -> np.ndarray:
    """Pooled features [N, D] of the frozen encoder (eval mode, no gradient)."""
    import torch

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    encoder = encoder.to(dev).eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(paths), batch_size):
            x = load_batch(paths[i:i + batch_size], image_size, norm).to(dev)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                f = encoder(x)
            out.append(f.float().reshape(f.shape[0], -1).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def load_encoder(spec: str) -> tuple[Any, int, Any]:
    """(module, image_size, normalisation) for a run dir, `random[:preset]` or `imagenet:<hub id or path>`."""
    from .export import load_image_encoder

    return load_image_encoder(spec)


# ----------------------------------------------------------------------------------------------- linear head
@dataclass
class HeadResult:
    weight: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    val_score: float
    weight_decay: float
    steps: int

    def predict(self, x: np.ndarray, mode: Mode) -> np.ndarray:
        z = ((x - self.mean) / self.std) @ self.weight.T + self.bias
        if mode == "multilabel":
            return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


def train_linear(xtr: np.ndarray, ytr: np.ndarray, xva: np.ndarray, yva: np.ndarray, mode: Mode, metric: str,
                 classes: list[str], weight_decays: Sequence[float] = (1e-4, 1e-3, 1e-2, 1e-1),
                 lr: float = 1e-2, max_steps: int = 1000, eval_every: int = 10, patience: int = 10,
                 batch_size: int = 1024, seed: int = 0) -> HeadResult:
    """Logistic-regression head on standardised features; per weight decay, early stopping on the validation
    metric (ties broken by validation loss); the best weight decay by the same rule."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a linear head on cached features: threads only add overhead
    try:
        return _train_linear(torch, xtr, ytr, xva, yva, mode, metric, classes, weight_decays, lr, max_steps,
                             eval_every, patience, batch_size, seed)
    finally:
        torch.set_num_threads(threads)


def _train_linear(torch: Any, xtr: np.ndarray, ytr: np.ndarray, xva: np.ndarray, yva: np.ndarray, mode: Mode,
                  metric: str, classes: list[str], weight_decays: Sequence[float], lr: float, max_steps: int,
                  eval_every: int, patience: int, batch_size: int, seed: int) -> HeadResult:
    mean = xtr.mean(axis=0)
    std = xtr.std(axis=0) + 1e-6
    xt = torch.from_numpy((xtr - mean) / std).float()
    xv = torch.from_numpy((xva - mean) / std).float()
    n_out = len(classes)
    yt = torch.from_numpy(ytr).float() if mode == "multilabel" else torch.from_numpy(ytr).long()
    yv = torch.from_numpy(yva).float() if mode == "multilabel" else torch.from_numpy(yva).long()
    loss_fn = torch.nn.BCEWithLogitsLoss() if mode == "multilabel" else torch.nn.CrossEntropyLoss()
    best: Optional[HeadResult] = None
    best_key = (-math.inf, -math.inf)
    for wd in weight_decays:
        gen = torch.Generator().manual_seed(seed)
        head = torch.nn.Linear(xt.shape[1], n_out)
        with torch.no_grad():
            head.weight.normal_(0, 0.01, generator=gen)
            head.bias.zero_()
        opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=wd)
        run_best, run_key, bad, step = None, (-math.inf, -math.inf), 0, 0
        while step < max_steps and bad < patience:
            for _ in range(eval_every):
                idx = torch.randint(0, xt.shape[0], (min(batch_size, xt.shape[0]),), generator=gen) \
                    if xt.shape[0] > batch_size else slice(None)
                opt.zero_grad()
                loss_fn(head(xt[idx]), yt[idx]).backward()
                opt.step()
                step += 1
            with torch.no_grad():
                logits = head(xv)
                vloss = float(loss_fn(logits, yv))
                prob = torch.sigmoid(logits) if mode == "multilabel" else torch.softmax(logits, dim=1)
            score = score_predictions(yva, prob.numpy(), mode, metric, classes)["mean"]
            key = (round(score, 6) if not math.isnan(score) else -math.inf, round(-vloss, 4))
            if key > run_key:
                run_key, bad = key, 0
                run_best = HeadResult(head.weight.detach().numpy().copy(), head.bias.detach().numpy().copy(),
                                      mean, std, score, wd, step)
            else:
                bad += 1
        if run_best is not None and run_key > best_key:
            best, best_key = run_best, run_key
    assert best is not None
    return best


# ----------------------------------------------------------------------------------------------- protocol
def linear_probe(train: LabelSet, val: LabelSet, test: LabelSet, feats: dict[str, np.ndarray],
                 fractions: Sequence[float], metric: str, seed: int = 0, seeds: int = 1) -> dict[str, Any]:
    """Train/evaluate the head for each label fraction on precomputed features ({"train","val","test"}).

    With seeds > 1, each fraction is probed on `seeds` different subsets (seed, seed + 1, ...): "mean" and
    "per_class" are then means over them, "std" / "per_class_std" their standard deviations (n - 1), "seeds" the
    per-subset means."""
    results: dict[str, Any] = {}
    for frac in fractions:
        runs = []
        for s in range(seed, seed + max(1, seeds)):
            idx = subset_indices(len(train.paths), frac, s)
            head = train_linear(feats["train"][idx], train.y[idx], feats["val"], val.y, train.mode, metric,
                                train.classes, seed=s)
            res = score_predictions(test.y, head.predict(feats["test"], train.mode), train.mode, metric, train.classes)
            res.update(n_train=int(len(idx)), val=head.val_score, weight_decay=head.weight_decay, steps=head.steps)
            runs.append(res)
        results[_frac_key(frac)] = runs[0] if len(runs) == 1 else _over_seeds(runs, train.classes)
    return results


def _std(values: Sequence[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan")


def _over_seeds(runs: list[dict[str, Any]], classes: list[str]) -> dict[str, Any]:
    """Mean ± std over the per-subset results of one fraction."""
    means = [r["mean"] for r in runs]
    return {"mean": _nanmean(means), "std": _std(means), "seeds": means, "n_train": runs[0]["n_train"],
            "per_class": {c: _nanmean([r["per_class"][c] for r in runs]) for c in classes},
            "per_class_std": {c: _std([r["per_class"][c] for r in runs]) for c in classes},
            "val": _nanmean([r["val"] for r in runs])}


def _frac_key(frac: float) -> str:
    return f"{frac:g}"


def run_linear(checkpoint: str, train: Path, val: Path, test: Path, fractions: Sequence[float] = (0.01, 0.1, 1.0),
               metric: str = "auc", mode: str = "auto", batch_size: int = 64, seed: int = 0,
               encoder: Optional[tuple[Any, int, Any]] = None, device: Optional[str] = None,
               seeds: int = 1) -> dict[str, Any]:
    """The linear-probe task end to end: read CSVs, extract features once, probe each fraction (on `seeds`
    different label subsets, mean ± std)."""
    if metric not in ("auc", "acc"):
        raise ProbeError(f"--metric must be auc or acc (got '{metric}')")
    tr = read_labels(train, mode)
    va = read_labels(val, tr.mode, tr.classes)
    te = read_labels(test, tr.mode, tr.classes)
    module, image_size, norm = encoder if encoder is not None else load_encoder(checkpoint)
    feats = {name: extract_features(module, ls.paths, image_size, norm, batch_size, device)
             for name, ls in (("train", tr), ("val", va), ("test", te))}
    return {"task": "linear", "checkpoint": checkpoint, "metric": metric, "mode": tr.mode, "classes": tr.classes,
            "feature_dim": int(feats["train"].shape[1]),
            "n": {"train": len(tr.paths), "val": len(va.paths), "test": len(te.paths)},
            "seeds": seeds, "results": linear_probe(tr, va, te, feats, fractions, metric, seed, seeds)}


# Task registry: a new protocol (e.g. "segmentation": Dice after fine-tuning a decoder on SIIM/RSNA masks) adds an
# entry with the same keyword interface and its own result layout under "results".
TASKS: dict[str, Callable[..., dict[str, Any]]] = {"linear": run_linear}


def format_table(result: dict[str, Any]) -> list[list[str]]:
    """Rows (class, one column per fraction) for display, the mean row last."""
    fracs = list(result["results"])
    rows = [["class", *[f"{float(f) * 100:g}%" for f in fracs]]]
    res = result["results"]
    for c in result["classes"]:
        rows.append([c, *[_fmt(res[f]["per_class"][c], res[f].get("per_class_std", {}).get(c)) for f in fracs]])
    label = "mean" if not (result["mode"] == "multiclass" and result["metric"] == "acc") else "overall"
    rows.append([label, *[_fmt(res[f]["mean"], res[f].get("std")) for f in fracs]])
    return rows


def _fmt(x: float, std: Optional[float] = None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{100 * x:.1f}" if std is None or math.isnan(std) else f"{100 * x:.1f} ± {100 * std:.1f}"


def parse_fractions(text: str) -> list[float]:
    """'0.01,0.1,1.0' -> [0.01, 0.1, 1.0], each in (0, 1]."""
    out = []
    for part in text.split(","):
        try:
            f = float(part)
        except ValueError:
            raise ProbeError(f"--fractions: {part!r} is not a number") from None
        if not 0 < f <= 1:
            raise ProbeError(f"--fractions: {f} is not in (0, 1]")
        out.append(f)
    return out
