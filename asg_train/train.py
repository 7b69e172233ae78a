"""One training loop for CPU and torchrun DDP (multi-node via env vars): build, train, validate, checkpoint, resume."""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from .cache import Cache, prepare
from .config import TrainConfig
from .dataset import Collator, PretrainDataset, ResumableSampler
from .encoders import (build_image_backbone, build_text_backbone, load_tokenizer,
                       save_tokenizer, tag_name_embeddings, train_wordpiece)
from .model import ASGModel, compute_losses

LOSS_KEYS = ("loss", "loss_ira", "loss_arsa", "loss_irl", "loss_erl")


class TrainError(RuntimeError):
    """A run that cannot proceed (too little data, missing checkpoint), with a one-line message."""


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


@contextlib.contextmanager
def distributed() -> Iterator[DistInfo]:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR/PORT, LOCAL_RANK) for the block and
    leave it on the way out (a gloo group still open at interpreter exit can abort the process); else one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield DistInfo()
        return
    owned = not dist.is_initialized()
    if owned:
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("ASG_DIST_BACKEND") != "gloo" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    try:
        yield DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    finally:
        if owned and dist.is_initialized():
            dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.world > 1:
        dist.barrier()


def pick_device(cfg: TrainConfig, info: DistInfo) -> torch.device:
    if cfg.device != "auto":
        return torch.device(cfg.device)
    if torch.cuda.is_available():
        return torch.device("cuda", info.local_rank)
    return torch.device("cpu")


def autocast_for(cfg: TrainConfig, device: torch.device):
    """bf16 autocast on CUDA (precision auto|bf16); explicit bf16 also on CPU; otherwise fp32."""
    if (device.type == "cuda" and cfg.precision in ("auto", "bf16")) or cfg.precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def split_by_report(cache: Cache, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Image indices of (train, val); a report and all its images go to the same side (stable hash of the id)."""
    if fraction <= 0:
        return np.arange(len(cache.image_report)), np.zeros(0, dtype=np.int64)
    is_val = np.array([int(hashlib.sha1(r.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction
                       for r in cache.report_ids], dtype=bool)
    img_val = is_val[cache.image_report]
    return np.nonzero(~img_val)[0], np.nonzero(img_val)[0]


def build_tokenizer(cfg: TrainConfig, run: Path, texts: list[str], tag_names: list[str], info: DistInfo):
    """Rank 0 trains (tiny / from-config) or loads the tokenizer and saves it to RUN/tokenizer; all ranks load it."""
    path = run / "tokenizer"
    if info.main and not (path / "tokenizer.json").is_file():
        own_vocab = (cfg.preset == "tiny" and cfg.text_model is None) or not cfg.pretrained
        tok = train_wordpiece(texts + tag_names, cfg.tiny_vocab_size) if own_vocab else \
            load_tokenizer(cfg.text_model or "emilyalsentzer/Bio_ClinicalBERT")
        save_tokenizer(tok, path)
    barrier(info)
    return load_tokenizer(str(path))


def build_model(cfg: TrainConfig, tokenizer, tag_names: list[str], device: torch.device) -> ASGModel:
    """Encoders for the preset, tag-name queries computed once (text model in eval mode), ASG heads."""
    torch.manual_seed(cfg.seed)
    image = build_image_backbone(cfg.preset, cfg.image_size, cfg.image_model, cfg.pretrained)
    text = build_text_backbone(cfg.preset, tokenizer, cfg.text_model, cfg.pretrained, cfg.max_text_len)
    queries = tag_name_embeddings(text, tokenizer, tag_names, torch.device("cpu"))
    return ASGModel(image, text, queries, cfg.embed_dim, cfg.decoder_dim, cfg.decoder_heads, cfg.decoder_layers).to(device)


def save_model_spec(model: ASGModel, cfg: TrainConfig, run: Path) -> None:
    """Encoder configs and normalisation, so export and load_image_encoder can rebuild without the hub."""
    model.image.model.config.save_pretrained(str(run / "image_config"))
    model.text.model.config.save_pretrained(str(run / "text_config"))
    spec = {"image_size": model.image.image_size, "mean": list(model.image.norm["mean"]),
            "std": list(model.image.norm["std"]), "image_dim": model.image.dim, "text_dim": model.text.dim,
            "n_tags": int(model.tag_decoder.queries.shape[0]), "tag_query_dim": int(model.tag_decoder.queries.shape[1])}
    (run / "model.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, total: int, warmup: int):
    """AdamW (no decay on biases and norms) with linear warmup then cosine decay to 0."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def train_step(model: torch.nn.Module, batches: list[dict], optimizer, scheduler, cfg: TrainConfig,
               device: torch.device, ddp: bool = False) -> torch.Tensor:
    """One optimizer step over `batches` (the accumulation micro-batches); returns the mean loss parts [5] (detached)."""
    sums = torch.zeros(len(LOSS_KEYS), device=device)
    for k, batch in enumerate(batches):
        sync = contextlib.nullcontext() if (not ddp or k == len(batches) - 1) else model.no_sync()
        with sync:
            batch = to_device(batch, device)
            with autocast_for(cfg, device):
                out = model(batch)
                parts = compute_losses(out, batch, cfg)
            (parts["loss"] / len(batches)).backward()
        sums += torch.stack([parts[key].detach().float() for key in LOSS_KEYS])
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return sums / len(batches)


@torch.no_grad()
def retrieval_accuracy(model: ASGModel, loader: DataLoader, device: torch.device, cfg: TrainConfig) -> dict[str, float]:
    """Image->report and report->image acc@1/@5 over a validation loader (reports shared by images count once)."""
    was = model.training
    model.eval()
    imgs, txts, reps = [], [], []
    for batch in loader:
        b = to_device(batch, device)
        with autocast_for(cfg, device):
            img, _ = model.embed_images(b["images"])
            txt, _ = model.embed_texts(b["input_ids"], b["attention_mask"])
        imgs.append(img.float()), txts.append(txt.float()), reps.append(b["report"])
    model.train(was)
    img, txt, rep = torch.cat(imgs), torch.cat(txts), torch.cat(reps)
    uniq, first = np.unique(rep.cpu().numpy(), return_index=True)
    txt_u = txt[torch.as_tensor(first, device=device)]
    rep_u = torch.as_tensor(uniq, device=device)
    sim = img @ txt_u.t()  # [N images, U reports]
    res = {}
    for k in (1, 5):
        kk = min(k, sim.shape[1])
        top = sim.topk(kk, dim=1).indices
        res[f"i2t_acc{k}"] = (rep_u[top] == rep[:, None]).any(1).float().mean().item()
        kk = min(k, sim.shape[0])
        top = sim.t().topk(kk, dim=1).indices  # [U, k] image indices
        res[f"t2i_acc{k}"] = (rep[top] == rep_u[:, None]).any(1).float().mean().item()
    return res


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, model: ASGModel, optimizer, scheduler, pos: dict, cfg: TrainConfig,
                    rngs: list) -> None:
    """Atomic torch.save of everything --resume needs."""
    ckpt = {"version": 1, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "position": dict(pos), "rng": rngs,
            "config": cfg.model_dump(mode="json")}
    tmp = path.with_suffix(".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)


def _gather_rng(info: DistInfo) -> list:
    state = rng_state()
    if info.world == 1:
        return [state]
    out: list = [None] * info.world
    dist.all_gather_object(out, state)
    return out


def _truncate_jsonl(path: Path, step: int) -> None:
    if path.is_file():
        keep = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln and json.loads(ln)["step"] <= step]
        path.write_text("".join(k + "\n" for k in keep), encoding="utf-8")


def _progress(enabled: bool, total: int, start: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    prog = Progress(TextColumn("pretrain"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                    TimeRemainingColumn(), disable=not enabled)
    task = prog.add_task("train", total=total, completed=start, info="")
    return prog, task


def pretrain(cfg: TrainConfig, echo: Callable[[str], None] = print) -> Path:
    """Train ASG as configured (cfg.out is the run directory); returns the run directory."""
    cfg = cfg.resolved()
    if cfg.out is None or cfg.triplets is None or cfg.images is None:
        raise TrainError("pretrain needs --triplets, --images and --out")
    with distributed() as info:
        return _train(cfg, echo, info)


def _train(cfg: TrainConfig, echo: Callable[[str], None], info: DistInfo) -> Path:
    say = echo if info.main else (lambda _msg: None)
    run = Path(cfg.out)
    ckpt_dir = run / "checkpoints"
    if info.main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(run / "config.yaml")
    device = pick_device(cfg, info)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    cache_root = Path(cfg.cache) if cfg.cache else run / "cache"
    if info.main:
        prepare(cfg.triplets, cfg.images, cfg.boxes, cache_root, cfg.image_size, cfg.ontology, cfg.prepare_workers, say)
        if (cache_root / "skipped.csv").is_file() and cache_root != run:
            (run / "skipped.csv").write_bytes((cache_root / "skipped.csv").read_bytes())
    barrier(info)
    cache_path = prepare(cfg.triplets, cfg.images, cfg.boxes, cache_root, cfg.image_size, cfg.ontology, 1,
                         lambda _m: None)
    cache = Cache.open(cache_path)
    train_idx, val_idx = split_by_report(cache, cfg.val_fraction)
    global_batch = cfg.batch_size * info.world
    if len(train_idx) < global_batch * cfg.grad_accum:
        raise TrainError(f"{len(train_idx)} training images is fewer than one step "
                         f"(batch {cfg.batch_size} x {info.world} processes x accumulation {cfg.grad_accum})")
    if len(val_idx) < 2:
        val_idx = val_idx[:0]

    tokenizer = build_tokenizer(cfg, run, [cache.texts[i] for i in np.unique(cache.image_report[train_idx])],
                                cache.tag_names, info)
    model = build_model(cfg, tokenizer, cache.tag_names, device)
    if info.main:
        save_model_spec(model, cfg, run)
    collate = Collator(tokenizer, cache.texts, cache.spans, len(cache.regions), cfg.max_text_len)
    sampler = ResumableSampler(len(train_idx), cfg.batch_size, info.rank, info.world, cfg.seed)
    loader = DataLoader(PretrainDataset(cache, train_idx), batch_size=cfg.batch_size, sampler=sampler,
                        collate_fn=collate, num_workers=cfg.num_workers, drop_last=True,
                        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(cfg.seed),
                        persistent_workers=False)  # own generator: iter() must not consume the global RNG
    val_loader = DataLoader(PretrainDataset(cache, val_idx), batch_size=cfg.batch_size, shuffle=False,
                            collate_fn=collate, num_workers=0) if len(val_idx) else None

    steps_per_epoch = sampler.batches_per_epoch // cfg.grad_accum
    max_steps = cfg.max_steps if cfg.max_steps is not None else max(1, math.ceil(cfg.epochs * steps_per_epoch))
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else min(1000, max_steps // 20)
    optimizer, scheduler = make_optimizer(model, cfg, max_steps, warmup)
    pos = {"step": 0, "epoch": 0, "micro": 0}
    rngs = None
    if cfg.resume:
        last = ckpt_dir / "last.pt"
        if not last.is_file():
            raise TrainError(f"--resume: no checkpoint at {last}")
        ckpt = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        pos, rngs = dict(ckpt["position"]), ckpt["rng"]
        if len(rngs) != info.world:
            say(f"warning: checkpoint was written by {len(rngs)} processes, now {info.world}: RNG streams differ")
        if info.main:
            _truncate_jsonl(run / "metrics.jsonl", pos["step"])
            _truncate_jsonl(run / "val.jsonl", pos["step"])
        say(f"resuming at step {pos['step']} (epoch {pos['epoch']}, batch {pos['micro']})")
    ddp = info.world > 1
    net: torch.nn.Module = model
    if ddp:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    net.train()
    if rngs is not None:
        set_rng_state(rngs[min(info.rank, len(rngs) - 1)])
    else:
        random.seed(cfg.seed + info.rank), np.random.seed(cfg.seed + info.rank), torch.manual_seed(cfg.seed + info.rank)

    say(f"training {max_steps} steps: {len(train_idx)} train / {len(val_idx)} val images, global batch "
        f"{global_batch * cfg.grad_accum}, device {device}, {info.world} process(es)")
    metrics = (run / "metrics.jsonl").open("a", encoding="utf-8") if info.main else None
    prog, task = _progress(info.main and cfg.progress, max_steps, pos["step"])

    def validate() -> None:
        if val_loader is None:
            return
        if info.main:
            res = retrieval_accuracy(model, val_loader, device, cfg)
            with (run / "val.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"step": pos["step"], **res}) + "\n")
            say(f"step {pos['step']} val " + " ".join(f"{k}={v:.3f}" for k, v in res.items()))
        barrier(info)

    def checkpoint(final: bool = False) -> None:
        rng_all = _gather_rng(info)
        if info.main:
            save_checkpoint(ckpt_dir / "last.pt", model, optimizer, scheduler, pos, cfg, rng_all)
            if cfg.save_every and pos["step"] % cfg.save_every == 0:
                save_checkpoint(ckpt_dir / f"step_{pos['step']:07d}.pt", model, optimizer, scheduler, pos, cfg, rng_all)
        barrier(info)

    with prog:
        while pos["step"] < max_steps:
            sampler.set_position(pos["epoch"], pos["micro"])
            it: Iterator[dict] = iter(loader)
            while pos["step"] < max_steps and pos["micro"] + cfg.grad_accum <= steps_per_epoch * cfg.grad_accum:
                t0 = time.perf_counter()
                batches = [next(it) for _ in range(cfg.grad_accum)]
                lr = scheduler.get_last_lr()[0]
                parts = train_step(net, batches, optimizer, scheduler, cfg, device, ddp)
                pos["micro"] += cfg.grad_accum
                pos["step"] += 1
                if pos["step"] % cfg.log_every == 0 or pos["step"] == max_steps:
                    if ddp:
                        dist.all_reduce(parts)
                        parts /= info.world
                    vals = parts.tolist()
                    dt = time.perf_counter() - t0
                    rec = {"step": pos["step"], **dict(zip(LOSS_KEYS, vals)), "lr": lr,
                           "samples_per_s": global_batch * cfg.grad_accum / dt}
                    if metrics is not None:
                        metrics.write(json.dumps(rec) + "\n")
                        metrics.flush()
                    prog.update(task, completed=pos["step"], info=f"loss {vals[0]:.3f} {rec['samples_per_s']:.1f}/s")
                else:
                    prog.update(task, completed=pos["step"])
                if cfg.val_every and pos["step"] % cfg.val_every == 0:
                    validate()
                if cfg.save_every and pos["step"] % cfg.save_every == 0 and pos["step"] != max_steps:
                    checkpoint()
            if pos["step"] < max_steps:
                pos["epoch"] += 1
                pos["micro"] = 0
    if metrics is not None:
        metrics.close()
    checkpoint(final=True)
    if not cfg.val_every or max_steps % cfg.val_every:
        validate()
    say(f"done: {run / 'checkpoints' / 'last.pt'}")
    return run
