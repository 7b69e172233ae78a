"""benchmarks/phantom_learning.py: pre-training reads the train and val phantoms, validates on the val phantoms'
reports only, and never sees the test phantoms."""
import csv
import importlib.util
import json
from pathlib import Path

import pytest

from asg_train import synth
from asg_train.config import TrainConfig
from asg_train.prepare import prepare_run
from asg_train.toy import toy_record

pytest.importorskip("PIL")
ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("phantom_learning", ROOT / "benchmarks" / "phantom_learning.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pretraining_inputs_hold_out_the_val_phantoms_by_report(tmp_path):
    counts = {"train": 6, "val": 4, "test": 3}
    for split, n in counts.items():
        synth.generate(n, tmp_path / split, size=64, seed=len(split), prefix=f"{split}-")
        with open(tmp_path / split / "images.csv", newline="") as fh:
            ids = [r["id"] for r in csv.DictReader(fh)]
        # triplets in the schema asg-parse writes (toy sentences of our own; the benchmark itself parses the reports)
        (tmp_path / split / "triplets.jsonl").write_text("".join(json.dumps(toy_record(i, [0, 3])) + "\n" for i in ids))
    args = _bench()._pretrain_inputs(tmp_path)
    opts = dict(zip(args[0::2], args[1::2]))
    assert Path(opts["--val-reports"]).read_text().split() == [f"val-{k:05d}" for k in range(4)]
    cfg = TrainConfig(triplets=opts["--triplets"], images=opts["--images"], boxes=opts["--boxes"],
                      val_reports=opts["--val-reports"], cache=tmp_path / "cache", progress=False).resolved()
    said: list[str] = []
    data = prepare_run(cfg, tmp_path / "cache", said.append)
    report = [data.cache.report_ids[r] for r in data.cache.image_report]
    assert sorted(report[i] for i in data.val_idx) == [f"val-{k:05d}" for k in range(4)]
    assert sorted(report[i] for i in data.train_idx) == [f"train-{k:05d}" for k in range(6)]
    assert not any(r.startswith("test-") for r in report)
    # nothing skipped: every image of the combined manifest found its file and its own boxes through the ../ paths
    assert (tmp_path / "cache" / "skipped.csv").read_text().splitlines() == ["kind,source,id,detail,reason"]
    assert not any("warning" in m for m in said)
