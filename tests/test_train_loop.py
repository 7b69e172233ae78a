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
from asg_train.tokens import tokenize_cache
from asg_train.toy import write_toy_dataset
from asg_train.train import LOSS_KEYS, build_model, lr_factor, make_optimizer, pretrain, train_step

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
    batch = Collator(tokenize_cache(cache, tok, 64, echo=lambda m: None))([PretrainDataset(cache)[i] for i in range(4)])
    assert batch["region_tokens"].any(-1).sum() > 4  # ARSA has regions to align
    opt, sched = make_optimizer(model, cfg, 10**6, 0)  # constant lr for the check
    history = torch.stack([train_step(model, [batch], opt, sched, cfg, torch.device("cpu")) for _ in range(30)])
    first, last = history[:3].mean(0), history[-3:].mean(0)
    for k, name in enumerate(LOSS_KEYS):
        assert last[k] < 0.8 * first[k], f"{name}: {first[k]:.3f} -> {last[k]:.3f}"


def _cfg(paths: dict, tmp_path: Path, out: str, **kw) -> TrainConfig:
    base = dict(triplets=paths["triplets"], images=paths["images"], boxes=paths["boxes"], out=tmp_path / out,
                cache=tmp_path / "cache", batch_size=2, val_fraction=0.0, progress=False, seed=3, log_every=1,
                num_workers=0)
    return TrainConfig(**{**base, **kw})


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
           "--val-fraction", "0", "--no-progress", "--device", "cpu", "--log-every", "1", "--num-workers", "1"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    m = _metrics(run)
    assert [x["step"] for x in m] == [1, 2, 3]
    assert all(x["loss"] == x["loss"] and x["loss"] > 0 for x in m)
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
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
    cfg.write_text("batch_size: 8\nval_fraction: 0.0\nprogress: false\nlog_every: 1\nnum_workers: 0\n")
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


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A short tiny run on toy data (with a validation split) and its export."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("run")
    paths = write_toy_dataset(root / "d", n=16, size=64, seed=7)
    cfg = TrainConfig(triplets=paths["triplets"], images=paths["images"], boxes=paths["boxes"], out=root / "run",
                      cache=root / "cache", batch_size=4, val_fraction=0.3, progress=False, seed=1, max_steps=8,
                      log_every=4, num_workers=0, lr=1e-3)
    pretrain(cfg, lambda m: None)
    from asg_train.export import export

    export(root / "run", root / "exp")
    return root


def test_exported_encoders_embed_exactly_as_training(trained_run):
    """Zero-shot and probes must see the embeddings training optimised: same pooling, same heads, same pixels."""
    from asg_train.export import load_image_encoder, load_run, load_text_encoder
    from asg_train.probe import load_batch
    from asg_train.train import prepare_run

    model, _, cfg = load_run(trained_run / "run")
    data = prepare_run(cfg, trained_run / "cache", lambda m: None)
    items = [PretrainDataset(data.cache, data.val_idx, cfg.image_size)[i] for i in range(len(data.val_idx))]
    batch = Collator(data.tokens)(items)
    texts = [data.cache.texts[int(r)] for r in batch["report"]]
    with torch.no_grad():
        train_txt, _ = model.embed_texts(batch["input_ids"], batch["attention_mask"])
        train_img, _ = model.embed_images(batch["images"])
    for spec in (trained_run / "exp", trained_run / "run"):
        text = load_text_encoder(str(spec))
        assert torch.allclose(text(texts), train_txt, atol=1e-5), spec
        image, size, norm = load_image_encoder(str(spec), projected=True)
        paths = [Path(p) for p in (trained_run / "d" / "images").glob("*.png")]
        by_id = {p.stem: p for p in paths}
        pix = load_batch([by_id[data.cache.report_ids[int(r)]] for r in batch["report"]], size, norm)
        with torch.no_grad():
            assert torch.allclose(image(pix), train_img, atol=1e-5), spec
    # different texts give clearly different embeddings (the [CLS]-pooling bug made prompts nearly identical)
    a, b = load_text_encoder(str(trained_run / "exp"))(["There is no pneumothorax.", "A right apical pneumothorax is present."])
    assert float(a @ b) < 0.999


def test_checkpoints_and_export_load_without_pickle(trained_run):
    ckpt_dir = trained_run / "run" / "checkpoints"
    for name in ("last.pt", "best.pt"):
        ckpt = torch.load(ckpt_dir / name, weights_only=True)  # raises on any pickled object
        assert ckpt["config"]["preset"] == "tiny" and "model" in ckpt
    weights = [p.name for p in (trained_run / "exp").rglob("*") if p.suffix in (".pt", ".bin", ".pkl", ".pth")]
    assert weights == []
    from safetensors.torch import load_file

    heads = load_file(str(trained_run / "exp" / "asg_heads.safetensors"))
    assert "txt_global.net.0.weight" in heads and "img_global.net.3.weight" in heads
    assert list((trained_run / "exp" / "text_encoder").glob("*.safetensors"))


def test_best_checkpoint_is_the_lowest_validation_loss(trained_run):
    from asg_train.export import load_run

    val = [json.loads(line) for line in (trained_run / "run" / "val.jsonl").read_text().splitlines()]
    assert len(val) >= 2 and all("val_loss" in v and "epoch" in v for v in val)  # validated at each epoch end
    best = torch.load(trained_run / "run" / "checkpoints" / "best.pt", weights_only=True)
    assert best["position"]["best_val"] == pytest.approx(min(v["val_loss"] for v in val), rel=1e-6)
    # the run folder loads best.pt by default
    model, _, _ = load_run(trained_run / "run")
    assert torch.equal(model.img_global.net[0].weight, best["model"]["img_global.net.0.weight"])


def test_early_stopping_stops_after_patience(tmp_path):
    paths = write_toy_dataset(tmp_path, n=12, size=64, seed=9)
    run = pretrain(_cfg(paths, tmp_path, "p", max_steps=None, epochs=40, lr=0.5, warmup_steps=0, patience=1,
                        val_fraction=0.3), lambda m: None)
    val = [json.loads(line) for line in (run / "val.jsonl").read_text().splitlines()]
    losses = [v["val_loss"] for v in val]
    stops = [i for i in range(1, len(losses)) if losses[i] >= min(losses[:i])]
    assert stops, "the validation loss never rose at lr 0.5: the check says nothing"
    assert len(losses) == stops[0] + 1  # stopped at the first epoch without improvement
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"] < 40 * 4


def test_warmup_then_cosine_to_min_lr():
    total, warm, ratio = 100, 40, 1e-8 / 4e-5
    f = [lr_factor(s, total, warm, ratio) for s in range(total + 1)]
    assert f[0] == pytest.approx(ratio + (1 - ratio) / 40) and f[39] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(f[:40], f[1:40]))  # rises through the warm-up
    assert all(a >= b for a, b in zip(f[40:], f[41:]))  # then only decays
    assert f[total] == pytest.approx(ratio)


def test_config_command_prints_the_resolved_paper_preset():
    import yaml

    res = CliRunner().invoke(app, ["config", "--preset", "vit-b16", "--grad-accum", "4", "--text-layers", "4"])
    assert res.exit_code == 0, res.output
    cfg = yaml.safe_load(res.output)
    assert cfg["image_model"] == "facebook/deit-base-patch16-224" and cfg["image_norm"] == "imagenet"
    assert cfg["text_model"] == "emilyalsentzer/Bio_ClinicalBERT" and cfg["text_layers"] == 4
    assert (cfg["batch_size"], cfg["grad_accum"], cfg["epochs"], cfg["warmup_fraction"]) == (72, 4, 50, 0.4)
    assert (cfg["lr"], cfg["weight_decay"], cfg["beta1"], cfg["beta2"]) == (4e-5, 0.05, 0.9, 0.999)
    assert (cfg["image_size"], cfg["resize_size"], cfg["head_hidden"], cfg["embed_dim"]) == (224, 256, 2048, 128)
    assert cfg["max_text_tokens"] == 112 and cfg["num_workers"] == min(os.cpu_count() or 1, 8)
    assert cfg["objective"] == {"tau": 0.07, "w_ira": 1.0, "w_arsa": 1.0, "w_irl": 5.0, "w_erl": 1.0,
                                "erl_alpha": 0.8, "uncertain_as": "0"}
    res = CliRunner().invoke(app, ["config", "--preset", "vit-b16", "--pool", "first"])
    assert res.exit_code == 2 and "pool" in res.output


def test_text_layers_cut_the_text_encoder():
    from asg_train.encoders import build_text_backbone

    tok = train_wordpiece(["no effusion"], 100)
    text = build_text_backbone("vit-b16", tok, pretrained=False, layers=6)
    assert text.model.config.num_hidden_layers == 6 and len(text.model.encoder.layer) == 6


def test_official_variants_train_and_project_then_pool(tmp_path):
    """--head-norm batch --pool cls --region-path project-pool --tag-decoder official (and gradient checkpointing)."""
    import torch.nn.functional as F

    paths = write_toy_dataset(tmp_path, n=4, size=64, seed=2)
    cache = Cache.open(prepare(paths["triplets"], paths["images"], paths["boxes"], tmp_path / "c", 64,
                               echo=lambda m: None))
    tok = train_wordpiece(cache.texts + cache.tag_names, 300)
    cfg = TrainConfig(lr=1e-3, warmup_steps=0, max_steps=3, head_norm="batch", pool="cls", region_path="project-pool",
                      tag_decoder="official", grad_checkpointing=True).resolved()
    model = build_model(cfg, tok, cache.tag_names, torch.device("cpu")).train()
    assert isinstance(model.img_global.net[1], torch.nn.BatchNorm1d) and model.tag_decoder.cls_w.shape[0] == 1
    batch = Collator(tokenize_cache(cache, tok, 64, echo=lambda m: None))([PretrainDataset(cache)[i] for i in range(4)])
    opt, sched = make_optimizer(model, cfg, 10, 0)
    losses = [train_step(model, [batch], opt, sched, cfg, torch.device("cpu")) for _ in range(3)]
    assert all(torch.isfinite(x).all() for x in losses)
    model.eval()
    from asg_train.model import text_features
    from asg_train.pooling import roi_pool

    with torch.no_grad():
        _, grid = model.embed_images(batch["images"])
        got = model.regions(grid, batch["boxes"])
        b, d, h, w = grid.shape
        patches = F.normalize(model.img_local(grid.flatten(2).transpose(1, 2)), dim=-1)  # project, normalise
        pooled = roi_pool(patches.transpose(1, 2).reshape(b, -1, h, w), batch["boxes"], 64)  # then pool
        pool_first = F.normalize(model.img_local(roi_pool(grid, batch["boxes"], 64)), dim=-1)
        valid = batch["box_valid"]
        assert torch.allclose(got[valid], F.normalize(pooled, dim=-1)[valid], atol=1e-5)
        assert not torch.allclose(got[valid], pool_first[valid], atol=1e-3)
        feat, tokens = text_features(model.text, batch["input_ids"], batch["attention_mask"], "cls")
        assert torch.equal(feat, tokens[:, 0])


def test_compile_trains_the_same_steps_and_saves_plain_weights(tmp_path, monkeypatch):
    """--compile wraps the training module in torch.compile (here dynamo with the eager backend, so no C++ build):
    the steps match an uncompiled run's, and the checkpoint holds the model's own keys (no `_orig_mod.`)."""
    real_compile = torch.compile
    wrapped = []

    def eager_compile(module, **kw):
        wrapped.append(module)
        return real_compile(module, backend="eager", **kw)

    monkeypatch.setattr(torch, "compile", eager_compile)
    paths = write_toy_dataset(tmp_path, n=4, size=64, seed=5)
    quiet = lambda m: None  # noqa: E731
    plain = pretrain(_cfg(paths, tmp_path, "plain", max_steps=2), quiet)
    assert not wrapped
    compiled = pretrain(_cfg(paths, tmp_path, "compiled", max_steps=2, compile=True), quiet)
    assert len(wrapped) == 1
    for ma, mb in zip(_metrics(plain), _metrics(compiled), strict=True):
        for key in LOSS_KEYS:
            assert abs(ma[key] - mb[key]) <= 1e-5 * max(1.0, abs(ma[key])), (ma["step"], key)
    state = torch.load(compiled / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert state.keys() == torch.load(plain / "checkpoints" / "last.pt", weights_only=True)["model"].keys()
    assert not any(k.startswith("_orig_mod.") for k in state)
