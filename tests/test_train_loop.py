"""The training loop: overfitting a fixed batch, exact --resume, two-process gloo DDP, and prepare->pretrain->export."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from asg_train.cache import Cache, prepare
from asg_train.cli import app
from asg_train.config import TrainConfig
from asg_train.dataset import Collator, PretrainDataset
from asg_train.encoders import train_wordpiece
from asg_train.toy import write_toy_dataset
from asg_train.train import LOSS_KEYS, build_model, make_optimizer, pretrain, train_step

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: the tiny model gains nothing from more, and shared cores make them spin."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_overfitting_a_fixed_batch_lowers_every_loss(tmp_path):
    torch.manual_seed(0)
    paths = write_toy_dataset(tmp_path, n=4, size=64, seed=1)
    cache = Cache.open(prepare(paths["triplets"], paths["images"], paths["boxes"], tmp_path / "c", 64,
                               echo=lambda m: None))
    cfg = TrainConfig(lr=1e-3, warmup_steps=0, max_steps=30).resolved()
    tok = train_wordpiece(cache.texts + cache.tag_names, 300)
    model = build_model(cfg, tok, cache.tag_names, torch.device("cpu")).train()
    batch = Collator(tok, cache.texts, cache.spans, len(cache.regions), 64)([PretrainDataset(cache)[i] for i in range(4)])
    assert batch["region_tokens"].any(-1).sum() > 4  # ARSA has regions to align
    opt, sched = make_optimizer(model, cfg, 10**6, 0)  # constant lr for the check
    history = torch.stack([train_step(model, [batch], opt, sched, cfg, torch.device("cpu")) for _ in range(30)])
    first, last = history[:3].mean(0), history[-3:].mean(0)
    for k, name in enumerate(LOSS_KEYS):
        assert last[k] < 0.8 * first[k], f"{name}: {first[k]:.3f} -> {last[k]:.3f}"


def _cfg(paths: dict, tmp_path: Path, out: str, **kw) -> TrainConfig:
    return TrainConfig(triplets=paths["triplets"], images=paths["images"], boxes=paths["boxes"], out=tmp_path / out,
                       cache=tmp_path / "cache", batch_size=2, val_fraction=0.0, progress=False, seed=3, **kw)


def test_resume_reproduces_the_next_steps_exactly(tmp_path):
    paths = write_toy_dataset(tmp_path, n=6, size=64, seed=2)
    quiet = lambda m: None  # noqa: E731
    # 6 images, batch 2 -> 3 steps per epoch: steps 4-5 cross an epoch boundary after the resume point
    full = pretrain(_cfg(paths, tmp_path, "a", max_steps=5, save_every=3), quiet)
    shutil.copytree(full, tmp_path / "b", ignore=shutil.ignore_patterns("cache"))
    resumed = tmp_path / "b"
    shutil.copy(resumed / "checkpoints" / "step_0000003.pt", resumed / "checkpoints" / "last.pt")
    pretrain(_cfg(paths, tmp_path, "b", max_steps=5, save_every=3, resume=True), quiet)
    a, b = _metrics(full), _metrics(resumed)
    assert [m["step"] for m in b] == [1, 2, 3, 4, 5]
    for ma, mb in zip(a[3:], b[3:]):
        for key in LOSS_KEYS + ("lr",):
            assert ma[key] == mb[key], (ma["step"], key)


def test_two_process_gloo_ddp(tmp_path):
    paths = write_toy_dataset(tmp_path, n=8, size=64, seed=4)
    run = tmp_path / "ddp"
    env = dict(os.environ, PYTHONPATH=str(ROOT), ASG_DIST_BACKEND="gloo", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "asg_train.cli", "pretrain", "--triplets", str(paths["triplets"]), "--images", str(paths["images"]),
           "--boxes", str(paths["boxes"]), "--out", str(run), "--max-steps", "3", "--batch-size", "2",
           "--val-fraction", "0", "--no-progress", "--device", "cpu"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    m = _metrics(run)
    assert [x["step"] for x in m] == [1, 2, 3]
    assert all(x["loss"] == x["loss"] and x["loss"] > 0 for x in m)
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert len(ckpt["rng"]) == 2 and ckpt["position"]["step"] == 3
    assert "2 process(es)" in res.stdout


REPORTS = [
    "FINDINGS: Small left pleural effusion. No pneumothorax. Heart size is normal.",
    "FINDINGS: The lungs are clear. No pleural effusion or pneumothorax.",
    "FINDINGS: Mild cardiomegaly. Bibasilar atelectasis. IMPRESSION: Possible early pneumonia in the right lower lobe.",
    "FINDINGS: Right upper lobe nodule. Heart size is normal. No focal consolidation.",
    "FINDINGS: Moderate right pleural effusion with adjacent atelectasis. Stable cardiomegaly.",
    "FINDINGS: No acute cardiopulmonary process.",
]


def test_end_to_end_prepare_pretrain_export_with_our_parser(tmp_path):
    import asg_parse

    from asg_train.export import load_image_encoder, load_text_encoder

    data = write_toy_dataset(tmp_path / "d", n=len(REPORTS), size=72, seed=5)  # images, manifest, boxes
    with data["triplets"].open("w") as fh:  # replace the hand-made records by our parser's output
        for rep in asg_parse.parse_many([(f"r{i:03d}", t) for i, t in enumerate(REPORTS)]):
            fh.write(rep.to_json() + "\n")
    runner = CliRunner()
    common = ["--triplets", str(data["triplets"]), "--images", str(data["images"]), "--boxes", str(data["boxes"])]
    res = runner.invoke(app, ["prepare", *common, "--cache", str(tmp_path / "cache"), "--preset", "tiny"])
    assert res.exit_code == 0, res.output
    assert "6 reports, 6 images, boxes from csv" in res.output
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("batch_size: 8\nval_fraction: 0.0\nprogress: false\n")
    res = runner.invoke(app, ["pretrain", *common, "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "run"),
                              "--preset", "tiny", "--max-steps", "20", "--batch-size", "3", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "reusing cache" in res.output
    m = _metrics(tmp_path / "run")
    assert len(m) == 20 and set(m[0]) == {"step", "loss", "loss_ira", "loss_arsa", "loss_irl", "loss_erl", "lr",
                                          "samples_per_s"}
    assert m[-1]["loss_irl"] < m[0]["loss_irl"]
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert "batch_size: 3" in saved and "max_steps: 20" in saved  # CLI beats the YAML
    res = runner.invoke(app, ["export", "--checkpoint", str(tmp_path / "run"), "--out", str(tmp_path / "exp")])
    assert res.exit_code == 0, res.output
    from transformers import AutoModel

    assert AutoModel.from_pretrained(str(tmp_path / "exp" / "image_encoder")).config.model_type == "vit"
    enc, size, norm = load_image_encoder(str(tmp_path / "exp"))
    with torch.no_grad():
        feats = enc(torch.zeros(2, 3, size, size))
    assert feats.shape == (2, 128) and len(norm["mean"]) == 3
    text = load_text_encoder(str(tmp_path / "run"))
    assert text(["no pneumothorax", "small effusion"]).shape == (2, 128)
