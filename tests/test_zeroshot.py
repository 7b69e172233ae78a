"""Zero-shot: prompt file rules, score arithmetic, and a run with stand-in encoders on tiny images."""
import csv
from pathlib import Path

import numpy as np
import pytest

from asg_train.probe import ProbeError
from asg_train.zeroshot import read_prompts, run_zeroshot, score_zeroshot, zeroshot_scores


def test_read_prompts(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text("classes:\n  Pneumonia:\n    positive: Consolidation in the right lower lobe.\n"
                 "    negative: [The lungs are clear., No focal consolidation.]\n")
    assert read_prompts(p) == {"Pneumonia": (["Consolidation in the right lower lobe."],
                                             ["The lungs are clear.", "No focal consolidation."])}
    p.write_text("classes:\n  Pneumonia:\n    positive: Consolidation.\n")
    with pytest.raises(ProbeError, match="class 'Pneumonia': needs both `positive` and `negative`"):
        read_prompts(p)


def test_scores_by_hand() -> None:
    img = np.array([[1.0, 0.0], [0.0, 2.0]])
    pos, neg = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    p = zeroshot_scores(img, pos, neg, tau=1.0)
    assert p[:, 0] == pytest.approx([1 / (1 + np.exp(-1)), 1 / (1 + np.exp(1))])
    y = np.array([[1], [0], [1], [0]])
    prob = np.array([[0.9], [0.6], [0.4], [0.1]])
    r = score_zeroshot(y, prob, "multilabel", ["a"])["per_class"]["a"]
    # predictions 1,1,0,0 -> tp 1, fp 1, fn 1: F1 0.5, ACC 0.5; AUC: pairs (0.9>0.6, 0.9>0.1, 0.4<0.6, 0.4>0.1)
    assert r == {"auc": pytest.approx(0.75), "f1": 0.5, "acc": 0.5}
    mc = score_zeroshot(np.array([0, 1, 1]), np.array([[0.8, 0.3], [0.4, 0.9], [0.7, 0.2]]), "multiclass", ["a", "b"])
    assert mc["accuracy"] == pytest.approx(2 / 3) and mc["per_class"]["b"]["auc"] == pytest.approx(0.5)


def test_run_with_stand_in_encoders(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from PIL import Image

    rows = [["path", "Bright"]]
    for i in range(10):
        level = 200 if i % 2 else 40
        Image.fromarray(np.full((20, 16), level + i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
        rows.append([f"{i}.png", i % 2])
    with open(tmp_path / "test.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    (tmp_path / "p.yaml").write_text("classes:\n  Bright:\n    positive: bright\n    negative: dark\n")

    class Image2D(torch.nn.Module):  # embedding (mean pixel, 0.2) in the normalised [-1, 1] range
        def forward(self, x):
            m = x.mean(dim=(1, 2, 3))
            return torch.stack([m, torch.full_like(m, 0.2)], dim=1)

    def text(texts):
        return torch.tensor([[1.0, 0.0] if t == "bright" else [-1.0, 0.0] for t in texts])

    res = run_zeroshot("stand-in", tmp_path / "test.csv", tmp_path / "p.yaml",
                       encoders=(Image2D(), 16, {"mean": (0.5,) * 3, "std": (0.5,) * 3}, text))
    assert res["n"] == 10 and res["mean"] == {"auc": 1.0, "f1": 1.0, "acc": 1.0}
    (tmp_path / "q.yaml").write_text("classes:\n  Other:\n    positive: a\n    negative: b\n")
    with pytest.raises(ProbeError, match="no prompts for class\\(es\\) Bright"):
        run_zeroshot("stand-in", tmp_path / "test.csv", tmp_path / "q.yaml",
                     encoders=(Image2D(), 16, None, text))


def test_shipped_prompt_files_cover_their_datasets() -> None:
    from asg_train.splits import load_config
    from asg_train.synth import classes

    data = Path(__file__).resolve().parents[1] / "asg_train" / "data"
    nih = read_prompts(data / "prompts_nih.yaml")
    assert list(nih) == load_config()["nih"]["classes"]  # the label columns `asg-train splits --nih` writes
    assert list(read_prompts(data / "prompts_rsna.yaml")) == [load_config()["rsna"]["class"]]
    assert set(read_prompts(data / "prompts_phantom.yaml")) == set(classes())
    for table in (nih, read_prompts(data / "prompts_phantom.yaml")):
        for pos, neg in table.values():
            assert not set(pos) & set(neg)
