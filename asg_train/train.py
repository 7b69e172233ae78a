"""One training loop for CPU and torchrun DDP (multi-node via env vars): build, train, validate each epoch (best.pt,
early stopping), checkpoint, resume."""
from __future__ import annotations

import contextlib
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

from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import TrainConfig
from .dataset import Collator, PretrainDataset, ResumableSampler
from .encoders import build_image_backbone, build_text_backbone, save_tokenizer, tag_name_embeddings
from .model import ASGModel, compute_losses
from .prepare import Prepared, prepare_run, split_by_report  # noqa: F401 - split_by_report is part of this API

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


def build_model(cfg: TrainConfig, tokenizer, tag_names: list[str], device: torch.device) -> ASGModel:
    """Encoders for the preset, tag-name queries computed once (text model in eval mode), ASG heads."""
    torch.manual_seed(cfg.seed)
    image = build_image_backbone(cfg.preset, cfg.image_size, cfg.image_model, cfg.pretrained, cfg.image_norm, cfg.pool)
    text = build_text_backbone(cfg.preset, tokenizer, cfg.text_model, cfg.pretrained, cfg.max_text_tokens,
                               cfg.text_layers)
    queries = tag_name_embeddings(text, tokenizer, tag_names, torch.device("cpu"))
    model = ASGModel(image, text, queries, cfg.embed_dim, cfg.decoder_dim, cfg.decoder_heads, cfg.decoder_layers,
                     cfg.head_hidden, cfg.head_norm, cfg.pool, cfg.region_path, cfg.tag_decoder)
    if cfg.grad_checkpointing:
        for part in (model.image.model, model.text.model):
            if getattr(part, "supports_gradient_checkpointing", False):  # transformers 5 renamed the method
                (getattr(part, "activation_checkpointing_enable", None) or part.gradient_checkpointing_enable)()
    return model.to(device)


def save_model_spec(model: ASGModel, cfg: TrainConfig, run: Path) -> None:
    """Encoder configs and normalisation, so export and load_image_encoder can rebuild without the hub."""
    model.image.model.config.save_pretrained(str(run / "image_config"))
    model.text.model.config.save_pretrained(str(run / "text_config"))
    spec = {"image_size": model.image.image_size, "resize": cfg.resize_size, "mean": list(model.image.norm["mean"]),
            "std": list(model.image.norm["std"]), "image_dim": model.image.dim, "text_dim": model.text.dim,
            "n_tags": int(model.tag_decoder.queries.shape[0]), "tag_query_dim": int(model.tag_decoder.queries.shape[1])}
    (run / "model.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")


def lr_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Linear warm-up from min_lr to lr over `warmup` steps, then cosine decay to min_lr at `total`."""
    if step < warmup:
        f = (step + 1) / warmup
    else:
        f = 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
    return min_ratio + (1.0 - min_ratio) * f


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, total: int, warmup: int):
    """AdamW (no decay on biases and norms; fused on CUDA) with the warm-up + cosine schedule of lr_factor."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    fused = all(p.is_cuda for p in decay + no_decay)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                            fused=fused or None)
    ratio = min(1.0, cfg.min_lr / cfg.lr)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, total, warmup, ratio))


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def train_step(model: torch.nn.Module, batches: list[dict], optimizer, scheduler, cfg: TrainConfig,
               device: torch.device, ddp: bool = False) -> torch.Tensor:
    """One optimizer step over `batches` (the accumulation micro-batches); returns the mean loss parts [5], detached
    and left on the device (no synchronisation: read them only when logging)."""
    sums = torch.zeros(len(LOSS_KEYS), device=device)
    for k, batch in enumerate(batches):
        sync = contextlib.nullcontext() if (not ddp or k == len(batches) - 1) else model.no_sync()
        with sync:
            batch = to_device(batch, device)
            with autocast_for(cfg, device):
                out = model(batch)
                parts = compute_losses(out, batch, cfg.objective)
            (parts["loss"] / len(batches)).backward()
        sums += torch.stack([parts[key].detach().float() for key in LOSS_KEYS])
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return sums / len(batches)


@torch.no_grad()
def validation_metrics(model: ASGModel, loader: DataLoader, device: torch.device, cfg: TrainConfig
                       ) -> dict[str, float]:
    """Mean loss parts (weighted by batch size) and retrieval accuracy over the validation loader, from one forward
    pass per batch, model in eval mode."""
    was = model.training
    model.eval()
    total, n = torch.zeros(len(LOSS_KEYS), device=device), 0
    imgs, txts, reps = [], [], []
    for batch in loader:
        b = to_device(batch, device)
        with autocast_for(cfg, device):
            out = model(b)
            parts = compute_losses(out, b, cfg.objective)
        k = b["images"].shape[0]
        total += k * torch.stack([parts[key].float() for key in LOSS_KEYS])
        n += k
        imgs.append(out["img"].float()), txts.append(out["txt"].float()), reps.append(b["report"])
    model.train(was)
    losses = {f"val_{key}": v for key, v in zip(LOSS_KEYS, (total / max(n, 1)).tolist())}
    return {**losses, **retrieval_accuracy(torch.cat(imgs), torch.cat(txts), torch.cat(reps))}


def retrieval_accuracy(img: torch.Tensor, txt: torch.Tensor, rep: torch.Tensor) -> dict[str, float]:
    """Image->report and report->image acc@1/@5 from image and report embeddings [N, E] and the report index of each
    image [N] (reports shared by images count once)."""
    device = img.device
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


def _broadcast(value: object, info: DistInfo) -> object:
    if info.world == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def pretrain(cfg: TrainConfig, echo: Callable[[str], None] = print) -> Path:
    """Train ASG as configured (cfg.out is the run directory); returns the run directory."""
    cfg = cfg.resolved()
    if cfg.out is None or cfg.triplets is None or cfg.images is None:
        raise TrainError("pretrain needs --triplets, --images and --out")
    with distributed() as info:
        return _train(cfg, echo, info)


def _loaders(cfg: TrainConfig, data: Prepared, info: DistInfo, device: torch.device):
    collate = Collator(data.tokens)
    sampler = ResumableSampler(len(data.train_idx), cfg.batch_size, info.rank, info.world, cfg.seed)
    workers = cfg.num_workers
    extra = {"persistent_workers": True, "prefetch_factor": cfg.prefetch_factor} if workers > 0 else {}
    loader = DataLoader(PretrainDataset(data.cache, data.train_idx, cfg.image_size, random=True, seed=cfg.seed),
                        batch_size=cfg.batch_size, sampler=sampler, collate_fn=collate, num_workers=workers,
                        drop_last=True, pin_memory=device.type == "cuda",
                        generator=torch.Generator().manual_seed(cfg.seed), **extra)  # own generator: keep global RNG
    val_loader = DataLoader(PretrainDataset(data.cache, data.val_idx, cfg.image_size), batch_size=cfg.batch_size,
                            shuffle=False, collate_fn=collate, num_workers=0) if len(data.val_idx) else None
    return sampler, loader, val_loader


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
    if info.main:  # other ranks wait here; run `asg-train prepare` first so that this is a quick reuse
        prepare_run(cfg, cache_root, say)
        if (cache_root / "skipped.csv").is_file() and cache_root != run:
            (run / "skipped.csv").write_bytes((cache_root / "skipped.csv").read_bytes())
    barrier(info)
    data = prepare_run(cfg.model_copy(update={"prepare_workers": 1}), cache_root, lambda _m: None)
    global_batch = cfg.batch_size * info.world
    if len(data.train_idx) < global_batch * cfg.grad_accum:
        raise TrainError(f"{len(data.train_idx)} training images is fewer than one step "
                         f"(batch {cfg.batch_size} x {info.world} processes x accumulation {cfg.grad_accum})")
    if len(data.val_idx) < 2:
        data.val_idx = data.val_idx[:0]
    if info.main:
        save_tokenizer(data.tokenizer, run / "tokenizer")
    model = build_model(cfg, data.tokenizer, data.cache.tag_names, device)
    if info.main:
        save_model_spec(model, cfg, run)
    sampler, loader, val_loader = _loaders(cfg, data, info, device)

    steps_per_epoch = sampler.batches_per_epoch // cfg.grad_accum
    max_steps = cfg.max_steps if cfg.max_steps is not None else max(1, math.ceil(cfg.epochs * steps_per_epoch))
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else int(cfg.warmup_fraction * max_steps)
    optimizer, scheduler = make_optimizer(model, cfg, max_steps, warmup)
    pos = {"step": 0, "epoch": 0, "micro": 0, "best_val": math.inf, "bad_epochs": 0}
    rngs = None
    if cfg.resume:
        last = ckpt_dir / "last.pt"
        if not last.is_file():
            raise TrainError(f"--resume: no checkpoint at {last}")
        ckpt = load_checkpoint(last)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        pos, rngs = {**pos, **ckpt["position"]}, ckpt["rng"]
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
    if cfg.compile:
        net = torch.compile(net)
    net.train()
    if rngs is not None:
        set_rng_state(rngs[min(info.rank, len(rngs) - 1)])
    else:
        random.seed(cfg.seed + info.rank), np.random.seed(cfg.seed + info.rank), torch.manual_seed(cfg.seed + info.rank)

    say(f"training {max_steps} steps ({steps_per_epoch} per epoch): {len(data.train_idx)} train / "
        f"{len(data.val_idx)} val images, global batch {global_batch * cfg.grad_accum}, device {device}, "
        f"{info.world} process(es)")
    metrics = (run / "metrics.jsonl").open("a", encoding="utf-8") if info.main else None
    prog, task = _progress(info.main and cfg.progress, max_steps, pos["step"])
    config = cfg.model_dump(mode="json")

    def checkpoint(name: str, rng_all: list) -> None:
        if info.main:
            save_checkpoint(ckpt_dir / name, model, optimizer, scheduler, pos, config, rng_all)

    def validate(epoch_end: bool) -> bool:
        """Validation loss (+ retrieval) on rank 0; at an epoch end, keep best.pt and count patience. True: stop."""
        if val_loader is None:
            return False
        rng_all = _gather_rng(info) if epoch_end else []
        stop = False
        if info.main:
            res = validation_metrics(model, val_loader, device, cfg)
            if epoch_end:
                if res["val_loss"] < pos["best_val"]:
                    pos["best_val"], pos["bad_epochs"] = res["val_loss"], 0
                    checkpoint("best.pt", rng_all)
                else:
                    pos["bad_epochs"] += 1
                stop = cfg.patience is not None and pos["bad_epochs"] >= cfg.patience
            with (run / "val.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"step": pos["step"], "epoch": pos["epoch"], **res}) + "\n")
            say(f"step {pos['step']} val " + " ".join(f"{k}={v:.3f}" for k, v in res.items()))
        pos.update(_broadcast({k: pos[k] for k in ("best_val", "bad_epochs")}, info))
        return bool(_broadcast(stop, info))

    stopped = False
    sums, since, t_log = torch.zeros(len(LOSS_KEYS), device=device), 0, time.perf_counter()
    with prog:
        while pos["step"] < max_steps and not stopped:
            sampler.set_position(pos["epoch"], pos["micro"])
            it: Iterator[dict] = iter(loader)
            while pos["step"] < max_steps and pos["micro"] + cfg.grad_accum <= steps_per_epoch * cfg.grad_accum:
                batches = [next(it) for _ in range(cfg.grad_accum)]
                lr = scheduler.get_last_lr()[0]
                sums += train_step(net, batches, optimizer, scheduler, cfg, device, ddp)
                since += 1
                pos["micro"] += cfg.grad_accum
                pos["step"] += 1
                if pos["step"] % cfg.log_every == 0 or pos["step"] == max_steps:
                    parts = sums / since
                    if ddp:
                        dist.all_reduce(parts)
                        parts /= info.world
                    vals = parts.tolist()  # the only host sync of the loop
                    dt = time.perf_counter() - t_log
                    rec = {"step": pos["step"], **dict(zip(LOSS_KEYS, vals)), "lr": lr,
                           "samples_per_s": since * global_batch * cfg.grad_accum / dt}
                    if metrics is not None:
                        metrics.write(json.dumps(rec) + "\n")
                        metrics.flush()
                    prog.update(task, completed=pos["step"], info=f"loss {vals[0]:.3f} {rec['samples_per_s']:.1f}/s")
                    sums, since, t_log = torch.zeros_like(sums), 0, time.perf_counter()
                else:
                    prog.update(task, completed=pos["step"])
                if cfg.val_every and pos["step"] % cfg.val_every == 0:
                    validate(epoch_end=False)
                if cfg.save_every and pos["step"] % cfg.save_every == 0 and pos["step"] != max_steps:
                    rng_all = _gather_rng(info)
                    checkpoint("last.pt", rng_all)
                    checkpoint(f"step_{pos['step']:07d}.pt", rng_all)
                    barrier(info)
            if pos["micro"] + cfg.grad_accum > steps_per_epoch * cfg.grad_accum:  # a whole epoch is done
                pos["epoch"] += 1
                pos["micro"] = 0
                stopped = validate(epoch_end=True)
                if stopped:
                    say(f"early stop after epoch {pos['epoch']}: no better validation loss in {cfg.patience} epochs")
    if metrics is not None:
        metrics.close()
    if pos["micro"] and val_loader is not None:  # ended inside an epoch: one more look at the validation set
        validate(epoch_end=True)
    checkpoint("last.pt", _gather_rng(info))
    barrier(info)
    say(f"done: {ckpt_dir / 'last.pt'}" + (f" (best: {ckpt_dir / 'best.pt'})" if (ckpt_dir / "best.pt").is_file() else ""))
    return run
