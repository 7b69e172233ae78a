"""Linear probe: metric arithmetic on hand-made scores, label CSVs, and a probe run on a tiny phantom set."""
import csv
import math
from pathlib import Path

import numpy as np
import pytest

from asg_train import probe
from asg_train.probe import ProbeError, accuracy, auc_score, f1_binary, read_labels, subset_indices


def test_auc_by_hand() -> None:
    # positives 0.9, 0.4; negatives 0.8, 0.3, 0.1 -> pairs won: (0.9 beats 3) + (0.4 beats 2) = 5 of 6
    assert auc_score([1, 0, 1, 0, 0], [0.9, 0.8, 0.4, 0.3, 0.1]) == pytest.approx(5 / 6)
    assert auc_score([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert auc_score([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0
    # a tie between a positive and a negative counts half: pairs (0.5 vs 0.5) = 0.5, (0.5 vs 0.1) = 1 -> 1.5/2
    assert auc_score([1, 0, 0], [0.5, 0.5, 0.1]) == pytest.approx(0.75)
    assert auc_score([1, 0], [0.3, 0.3]) == 0.5
    assert math.isnan(auc_score([1, 1], [0.2, 0.3]))


def test_auc_matches_pair_counting_on_random_scores() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = rng.integers(0, 20, 200) / 20.0  # many ties
    pos, neg = s[y == 1], s[y == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert auc_score(y, s) == pytest.approx(pairs)


def test_accuracy_and_f1_by_hand() -> None:
    assert accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    # tp 1, fp 1, fn 1 -> F1 = 2/4
    assert f1_binary([1, 1, 0, 0], [1, 0, 1, 0]) == 0.5
    assert f1_binary([0, 0], [0, 0]) == 0.0


def test_score_predictions_multiclass_acc_and_auc() -> None:
    y = np.array([0, 1, 2, 2])
    prob = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.6, 0.3], [0.1, 0.2, 0.7]])
    acc = probe.score_predictions(y, prob, "multiclass", "acc", ["a", "b", "c"])
    assert acc["mean"] == 0.75 and acc["per_class"] == {"a": 1.0, "b": 1.0, "c": 0.5}
    auc = probe.score_predictions(y, prob, "multiclass", "auc", ["a", "b", "c"])
    assert auc["per_class"]["a"] == 1.0
    # class c: positives 0.3, 0.7 vs negatives 0.1, 0.1 -> 1.0
    assert auc["per_class"]["c"] == 1.0


def test_subsets_are_fixed_and_nested_sizes() -> None:
    a = subset_indices(1000, 0.1, seed=0)
    assert len(a) == 100 and np.array_equal(a, subset_indices(1000, 0.1, seed=0))
    assert len(subset_indices(1000, 0.01)) == 10 and len(subset_indices(50, 0.01)) == 1
    assert np.array_equal(subset_indices(7, 1.0), np.arange(7))
    with pytest.raises(ProbeError):
        subset_indices(10, 0.0)


def _write(path: Path, rows: list[list]) -> Path:
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_read_labels_modes_and_errors(tmp_path: Path) -> None:
    ml = read_labels(_write(tmp_path / "ml.csv", [["path", "a", "b"], ["x.png", 1, 0], ["/abs/y.png", 0, 1]]))
    assert ml.mode == "multilabel" and ml.classes == ["a", "b"] and ml.y.tolist() == [[1, 0], [0, 1]]
    assert ml.paths[0] == tmp_path / "x.png" and ml.paths[1] == Path("/abs/y.png")
    mc = read_labels(_write(tmp_path / "mc.csv", [["path", "label"], ["x.png", "normal"], ["y.png", "covid"]]))
    assert mc.mode == "multiclass" and mc.classes == ["covid", "normal"] and mc.y.tolist() == [1, 0]
    binary = read_labels(_write(tmp_path / "b.csv", [["path", "label"], ["x.png", 1], ["y.png", 0]]))
    assert binary.mode == "multilabel"
    with pytest.raises(ProbeError, match=r"bad.csv: line 3: field 'b': expected 0 or 1, got '2'"):
        read_labels(_write(tmp_path / "bad.csv", [["path", "a", "b"], ["x.png", 1, 0], ["y.png", 0, 2]]))
    with pytest.raises(ProbeError, match="line 1: header"):
        read_labels(_write(tmp_path / "h.csv", [["file", "a"], ["x.png", 1]]))
    with pytest.raises(ProbeError, match="class 'flu' not in"):
        read_labels(_write(tmp_path / "t.csv", [["path", "label"], ["x.png", "flu"]]), "multiclass",
                    ["covid", "normal"])


class _MeanPool:
    """A fixed 'encoder': 4x4 average-pooled pixels (no learning), enough to see the phantom findings."""

    def __new__(cls):
        import torch

        return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(8), torch.nn.Flatten(), torch.nn.Identity())


def test_probe_runs_on_a_tiny_phantom_set(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from asg_train.synth import generate

    for name, n, seed in (("train", 80, 1), ("val", 30, 2), ("test", 40, 3)):
        generate(n, tmp_path / name, size=64, seed=seed)
    enc = (_MeanPool(), 64, (0.5, 0.25))
    res = probe.run_linear("pool", tmp_path / "train" / "labels.csv", tmp_path / "val" / "labels.csv",
                           tmp_path / "test" / "labels.csv", fractions=[0.25, 1.0], metric="auc", encoder=enc)
    assert res["mode"] == "multilabel" and res["feature_dim"] == 3 * 64
    assert set(res["results"]) == {"0.25", "1"} and res["results"]["0.25"]["n_train"] == 20
    full = res["results"]["1"]
    assert set(full["per_class"]) == set(res["classes"])
    assert full["mean"] > 0.6  # a linear head on pooled pixels sees large findings (heart, effusion)
    rows = probe.format_table(res)
    assert rows[0] == ["class", "25%", "100%"] and rows[-1][0] == "mean"


def test_probe_seeds_draw_different_subsets_and_report_mean_and_std(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    feats = {k: rng.standard_normal((n, 6)).astype(np.float32) for k, n in (("train", 200), ("val", 60), ("test", 80))}
    sets = {}
    for k, x in feats.items():
        y = np.stack([(x[:, 0] + 0.8 * rng.standard_normal(len(x)) > 0), (x[:, 1] > 0.5)], 1).astype(np.float32)
        sets[k] = probe.LabelSet([Path(f"{i}.png") for i in range(len(y))], y, ["a", "b"], "multilabel", Path(k))
    res = probe.linear_probe(sets["train"], sets["val"], sets["test"], feats, [0.1], "auc", seed=0, seeds=3)["0.1"]
    singles = [probe.linear_probe(sets["train"], sets["val"], sets["test"], feats, [0.1], "auc", seed=s)["0.1"]
               for s in range(3)]
    assert res["seeds"] == [r["mean"] for r in singles]  # seed s probes subset s
    assert len({tuple(probe.subset_indices(200, 0.1, s)) for s in range(3)}) == 3
    assert res["mean"] == pytest.approx(np.mean(res["seeds"]))
    assert res["std"] == pytest.approx(np.std(res["seeds"], ddof=1)) and res["std"] > 0
    rows = probe.format_table({"results": {"0.1": res}, "classes": ["a", "b"], "mode": "multilabel", "metric": "auc"})
    assert rows[-1][1] == f"{100 * res['mean']:.1f} ± {100 * res['std']:.1f}"


def test_probe_multiclass_accuracy(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    feats = {k: rng.standard_normal((n, 5)).astype(np.float32) for k, n in (("train", 60), ("val", 20), ("test", 30))}
    sets = {}
    for k, x in feats.items():
        y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1).astype(np.int64)  # 3 classes, linearly readable
        sets[k] = probe.LabelSet([Path(f"{i}.png") for i in range(len(y))], y, ["a", "b", "c"], "multiclass",
                                 Path(k))
    res = probe.linear_probe(sets["train"], sets["val"], sets["test"], feats, [1.0], "acc")
    assert res["1"]["mean"] >= 0.8
