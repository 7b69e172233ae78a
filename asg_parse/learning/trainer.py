"""The seeded training loop of `asg_existence_model`, its scores against the rules, and model directories.

A model directory holds `config.json` (the thinc architecture's config, mode and threshold), `cfg` and `model` (the
component's `to_disk`), `metrics.json` (dev scores) and, for a pretrained encoder, `encoder/` (its config and
tokenizer; the weights are in `model`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Optional

import numpy
from spacy.vocab import Vocab
from thinc.api import Adam, Config, fix_random_seed
from spacy.util import registry as thinc_registry

from ..pipeline.existence_classifier import DEFAULT_MODEL
from ..pipeline.existence_model import LABELS, ExistenceModel
from .examples import Featurised

ABSENT, UNCERTAIN = LABELS.index("absent"), LABELS.index("uncertain")


class ModelDirError(ValueError):
    """A model directory that cannot be loaded (one-line message)."""


def default_model_config(**overrides: Any) -> dict[str, Any]:
    """The classifier's config (`DEFAULT_MODEL`) with `overrides`; `encoder=PATH_OR_ID` switches to the pretrained
    encoder architecture."""
    cfg = dict(Config().from_str(DEFAULT_MODEL)["model"])
    if overrides.get("encoder"):
        cfg = {"@architectures": "asg.ExistenceEncoder.v1", "encoder": overrides["encoder"], "pretrained": True}
    else:
        cfg.update({k: v for k, v in overrides.items() if v is not None and k != "encoder"})
    return cfg


def build_component(model_config: dict[str, Any], mode: str = "vote", threshold: float = 0.9) -> ExistenceModel:
    """A fresh (untrained) component of `model_config`."""
    model = thinc_registry.resolve({"model": model_config})["model"]
    comp = ExistenceModel(Vocab(), model, mode=mode, threshold=threshold)
    comp.cfg["model_config"] = model_config
    return comp


def scores(gold: list[int], pred: list[int]) -> dict[str, float]:
    """3-way accuracy, negation (absent vs not) accuracy and P/R/F1, hedge (uncertain) P/R/F1 of mention labels."""
    g, p = numpy.array(gold), numpy.array(pred)
    out: dict[str, float] = {"n": int(len(g)), "accuracy": float((g == p).mean()) if len(g) else 0.0,
                             "negation_accuracy": float(((g == ABSENT) == (p == ABSENT)).mean()) if len(g) else 0.0}
    for name, k in (("negation", ABSENT), ("hedge", UNCERTAIN)):
        tp, fp, fn = int(((p == k) & (g == k)).sum()), int(((p == k) & (g != k)).sum()), int(((p != k) & (g == k)).sum())
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        out[f"{name}_p"], out[f"{name}_r"] = prec, rec
        out[f"{name}_f1"] = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return out


def predictions(comp: ExistenceModel, data: Featurised) -> dict[str, list[int]]:
    """The rules', the model's and the vote's label index of each mention of `data`."""
    probs = numpy.array(comp.probabilities(data.feats)) if data.feats else numpy.zeros((0, len(LABELS)))
    model = probs.argmax(axis=1).tolist() if len(probs) else []
    fixed = data.fixed or [False] * len(model)
    model = [r if f else m for m, r, f in zip(model, data.rules, fixed)]
    vote = [m if m != r and probs[i, m] >= comp.threshold else r for i, (m, r) in enumerate(zip(model, data.rules))]
    return {"rules": list(data.rules), "model": model, "vote": vote}


def evaluate(comp: ExistenceModel, data: Featurised) -> dict[str, dict[str, float]]:
    """Scores of the rules, the model and the vote on `data`."""
    return {name: scores(data.golds, pred) for name, pred in predictions(comp, data).items()}


def train(train_data: Featurised, dev: Optional[Featurised] = None, *, epochs: int = 10, seed: int = 0,
          model_config: Optional[dict[str, Any]] = None, threshold: float = 0.9, batch_size: int = 32,
          learn_rate: float = 0.002, on_batch: Optional[Callable[[int, int, float], None]] = None
          ) -> tuple[ExistenceModel, dict[str, Any]]:
    """Train a component on `train_data` (`epochs` passes, shuffled with `seed`); with `dev`, the epoch of lowest dev
    loss is kept. Returns the component and its metrics (dev scores of rules / model / vote, epochs, loss)."""
    if not train_data.feats:
        raise ValueError("no training mentions")
    fix_random_seed(seed)
    comp = build_component(model_config or default_model_config(), threshold=threshold)
    comp.initialize_features(train_data.feats[:64])
    optimizer = Adam(learn_rate)
    rng = numpy.random.RandomState(seed)
    n = len(train_data.feats)
    best: tuple[float, int, Optional[bytes]] = (float("inf"), -1, None)
    history = []
    for epoch in range(epochs):
        order = rng.permutation(n)
        total = 0.0
        for b in range(0, n, batch_size):
            idx = order[b:b + batch_size]
            total += comp.update_features([train_data.feats[i] for i in idx], [train_data.golds[i] for i in idx],
                                          [train_data.weights[i] for i in idx], optimizer)
            if on_batch is not None:
                on_batch(epoch, len(idx), total)
        row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": total / n}
        if dev is not None and dev.feats:
            row["dev_loss"] = dev_loss(comp, dev)
            if row["dev_loss"] < best[0]:
                best = (row["dev_loss"], epoch + 1, comp.model.to_bytes())
        history.append(row)
    if best[2] is not None:
        comp.model.from_bytes(best[2])
        comp.clear_cache()
    metrics: dict[str, Any] = {"epochs": epochs, "best_epoch": best[1] if best[2] is not None else epochs,
                               "seed": seed, "threshold": threshold, "train_mentions": n, "history": history}
    if dev is not None and dev.feats:
        metrics["dev"] = evaluate(comp, dev)
    return comp, metrics


def dev_loss(comp: ExistenceModel, dev: Featurised) -> float:
    """Mean cross-entropy of the model on `dev`."""
    probs = numpy.array(comp.probabilities(dev.feats))
    comp.clear_cache()  # the weights change after every epoch
    return float(-numpy.log(numpy.clip(probs[numpy.arange(len(dev.golds)), dev.golds], 1e-8, 1)).mean())


def save(comp: ExistenceModel, out: Path, metrics: dict[str, Any]) -> None:
    """Write the model directory `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model_config = dict(comp.cfg.get("model_config") or default_model_config())
    if model_config.get("@architectures") == "asg.ExistenceEncoder.v1":
        from ..pipeline.existence_encoder import save_encoder_files

        save_encoder_files(comp.model, out / "encoder")
        model_config.update({"encoder": "encoder", "pretrained": False})
    (out / "config.json").write_text(json.dumps({"model": model_config, "threshold": comp.threshold}, indent=2),
                                     encoding="utf-8")
    comp.to_disk(out)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")


def load(path: Any, mode: Optional[str] = None, threshold: Optional[float] = None) -> ExistenceModel:
    """The component of model directory `path` (`mode` / `threshold` override the saved ones)."""
    model_config, saved_threshold = read_model_dir(path)
    comp = build_component(model_config, mode=mode or "vote", threshold=saved_threshold)
    try:
        comp.from_disk(path)
    except Exception as exc:  # a weights file of another architecture or a damaged one
        raise ModelDirError(f"{Path(path) / 'model'}: cannot load the weights ({type(exc).__name__}: {exc})") from None
    if threshold is not None:
        comp.cfg["threshold"] = float(threshold)
    if mode is not None:
        comp.mode = mode
    return comp


def read_model_dir(path: Any) -> tuple[dict[str, Any], float]:
    """The thinc config and vote threshold of model directory `path`, checked (one-line `ModelDirError`)."""
    path = Path(path)
    cfg_file = path / "config.json"
    if not path.is_dir():
        raise ModelDirError(f"{path}: existence model directory not found")
    if not cfg_file.is_file() or not (path / "model").is_file():
        raise ModelDirError(f"{path}: not an existence model directory (no config.json / model; "
                            "make one with `asg-parse train existence`)")
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
        model_config = dict(cfg["model"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelDirError(f"{cfg_file}: invalid model config ({exc})") from None
    if model_config.get("@architectures") == "asg.ExistenceEncoder.v1" and not model_config.get("pretrained", True):
        model_config["encoder"] = str(path / model_config["encoder"])
    return model_config, float(cfg.get("threshold", 0.9))
