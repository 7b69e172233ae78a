"""Training throughput (samples/s) of asg_train on the current device, against an implementation with the official
ASG code's habits, measured in the same run on the same data:

  ours          cached tag-name queries, reports tokenised at prepare time (the collate only stacks), bf16 autocast
                on CUDA (fp32 on CPU), fused AdamW on CUDA
  ours-compile  the same under torch.compile (--variants ours,ours-compile,legacy)
  legacy        the 40 tag prompts re-encoded by a frozen text model with dropout on at every step, reports
                tokenised in the collate, word-pieces merged by a Python loop over every token, fp32

A step's time includes the collate. Encoders are built from configs (no download): throughput does not depend on the
weights.

--data-only measures the input pipeline alone, as training runs it (cache -> random 224 crop of the 256 cache ->
collated batches of 72, persistent workers, prefetch), for 0 and 2 data-loader workers:
{"data_only": {"workers_0": samples/s, "workers_2": samples/s}}.

  python benchmarks/train_throughput.py --data-only --json out.json                     # CPU, input pipeline
  python benchmarks/train_throughput.py --preset tiny                                   # CPU, training steps
  python benchmarks/train_throughput.py --preset vit-b16 --batch-size 72 --variants ours,ours-compile,legacy --json tp.json
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asg_train.config import TrainConfig  # noqa: E402
from asg_train.dataset import Collator, PretrainDataset  # noqa: E402
from asg_train.model import ASGModel  # noqa: E402
from asg_train.tokens import build_table  # noqa: E402
from asg_train.toy import write_toy_dataset  # noqa: E402
from asg_train.train import DistInfo, _loaders, build_model, make_optimizer, prepare_run, train_step  # noqa: E402


class LegacyHabits(torch.nn.Module):
    """Wraps our model with the official code's per-step costs (tag re-encoding, Python word-piece merge)."""

    def __init__(self, model: ASGModel, tokenizer, tag_names: list[str]):
        super().__init__()
        self.model = model
        self.frozen_text = copy.deepcopy(model.text).requires_grad_(False)  # a frozen BERT, left in train mode
        enc = tokenizer(tag_names, padding=True, return_tensors="pt")
        self.register_buffer("tag_ids", enc["input_ids"], persistent=False)
        self.register_buffer("tag_mask", enc["attention_mask"], persistent=False)
        self.tokenizer = tokenizer
        model_embed = model.embed_texts

        def embed_texts(input_ids, attention_mask):
            _, tokens = model_embed(input_ids, attention_mask)
            tokens = self.merge_wordpieces(tokens, input_ids)
            m = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * m).sum(1) / m.sum(1).clamp_min(1.0)
            return torch.nn.functional.normalize(model.txt_global(pooled), dim=-1), tokens

        model.embed_texts = embed_texts

    def merge_wordpieces(self, tokens: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        """Every token's embedding replaced by the mean of its word's pieces, one Python step per token."""
        rows = []
        for b in range(tokens.shape[0]):
            pieces = self.tokenizer.convert_ids_to_tokens(input_ids[b].tolist())
            out, word = [], []
            for t, piece in enumerate(pieces):
                if piece.startswith("##") and word:
                    word.append(tokens[b, t])
                    continue
                if word:
                    mean = torch.stack(word).mean(0)
                    out.extend([mean] * len(word))
                word = [tokens[b, t]]
            if word:
                mean = torch.stack(word).mean(0)
                out.extend([mean] * len(word))
            rows.append(torch.stack(out))
        return torch.stack(rows)

    def forward(self, batch: dict) -> dict:
        with torch.no_grad():  # re-encode the tag prompts, dropout on, every step
            hidden = self.frozen_text(self.tag_ids, self.tag_mask)
            m = self.tag_mask.unsqueeze(-1).to(hidden.dtype)
            self.model.tag_decoder.queries.copy_((hidden * m).sum(1) / m.sum(1))
        return self.model(batch)


class TokenisingCollator(Collator):
    """The legacy habit: tokenise each batch's reports (and build their region masks) inside the collate."""

    def __init__(self, tokenizer, texts: list[str], spans: list, n_regions: int, max_tokens: int):
        self.tokenizer, self.texts, self.spans = tokenizer, texts, spans
        self.n_regions, self.max_tokens = n_regions, max_tokens
        self.shifts = torch.arange(n_regions, dtype=torch.int64).view(1, -1, 1)

    def __call__(self, items: list[dict]) -> dict:
        reps = [it["report"] for it in items]
        self.tokens = build_table([self.texts[r] for r in reps], [self.spans[r] for r in reps], self.n_regions,
                                  self.tokenizer, self.max_tokens)
        return super().__call__([{**it, "report": k} for k, it in enumerate(items)])


def measure(net, batches_fn, opt, sched, cfg, device, steps: int, warmup: int) -> float:
    """samples/s over `steps` timed steps after `warmup` untimed ones (collate included)."""
    for _ in range(warmup):
        train_step(net, [batches_fn()], opt, sched, cfg, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    n = 0
    for _ in range(steps):
        batch = batches_fn()
        n += batch["images"].shape[0]
        train_step(net, [batch], opt, sched, cfg, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def data_only(args, tmp: Path) -> dict:
    """Input-pipeline samples/s for 0 and 2 workers, the training loop's own DataLoader (train._loaders)."""
    cfg = TrainConfig(preset="vit-b16", batch_size=args.batch_size or 72, tiny_vocab_size=2000,
                      pretrained=False).resolved()  # --from-scratch: our own WordPiece, no download
    paths = write_toy_dataset(tmp, n=args.images, size=cfg.resize_size, seed=0)
    cfg = cfg.model_copy(update={"triplets": paths["triplets"], "images": paths["images"], "boxes": paths["boxes"],
                                 "val_fraction": 0.0})
    data = prepare_run(cfg, tmp / "cache", echo=lambda m: None)
    out = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a worker: the collate's small ops gain nothing from (contended) OpenMP threads
    for workers in (0, 2):
        sampler, loader, _ = _loaders(cfg.model_copy(update={"num_workers": workers}), data, DistInfo(),
                                      torch.device("cpu"))
        rates = []
        for epoch in range(args.epochs + 1):  # epoch 0 starts the workers: not timed
            sampler.set_position(epoch, 0)
            t0, n = time.perf_counter(), 0
            for batch in loader:
                n += batch["images"].shape[0]
            if epoch:
                rates.append(n / (time.perf_counter() - t0))
        out[f"workers_{workers}"] = statistics.median(rates)
        shape = tuple(batch["images"].shape)
        print(f"data only, {workers} workers: median {out[f'workers_{workers}']:.0f} samples/s over {args.epochs} "
              f"epochs of {len(data.train_idx)} images (batch {shape[0]}, {shape[-1]} px crop of {cfg.resize_size})",
              flush=True)
        del loader
    torch.set_num_threads(threads)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny", choices=["tiny", "vit-b16", "resnet50"],
                    help="model preset to time (default tiny; vit-b16 is the paper's)")
    ap.add_argument("--batch-size", type=int, default=None, help="default 72 on CUDA and for --data-only, 16 on CPU")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per variant")
    ap.add_argument("--rounds", type=int, default=3, help="alternating timing rounds; the median is reported")
    ap.add_argument("--device", default="auto", help="cpu, cuda, ... (default: cuda when present)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    ap.add_argument("--variants", default=None, help="comma list of ours,ours-compile,legacy,ours-fp32 (default: "
                                                     "ours,legacy plus ours-fp32 on CUDA)")
    ap.add_argument("--data-only", action="store_true", help="measure the input pipeline alone (0 and 2 workers)")
    ap.add_argument("--images", type=int, default=1440, help="--data-only: toy images in the cache")
    ap.add_argument("--epochs", type=int, default=5, help="--data-only: timed passes over them per worker count")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="asg_bench_"))
    if args.data_only:
        out = {"data_only": data_only(args, tmp), "batch_size": args.batch_size or 72, "cpus": os.cpu_count()}
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(out, indent=1))
        return
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    batch_size = args.batch_size or (72 if device.type == "cuda" else 16)
    variants = (args.variants.split(",") if args.variants else
                ["ours", "legacy"] + (["ours-fp32"] if device.type == "cuda" else []))

    base = TrainConfig(preset=args.preset, pretrained=False, lr=1e-4, warmup_steps=0).resolved()
    paths = write_toy_dataset(tmp, n=max(2 * batch_size, 8), size=base.resize_size, seed=0)
    base = base.model_copy(update={"triplets": paths["triplets"], "images": paths["images"], "boxes": paths["boxes"],
                                   "val_fraction": 0.0})
    data = prepare_run(base, tmp / "cache", echo=lambda m: None)
    cache, tok = data.cache, data.tokenizer
    ds = PretrainDataset(cache, crop=base.image_size, random=True)
    collates = {"ours": Collator(data.tokens),
                "legacy": TokenisingCollator(tok, cache.texts, cache.spans, len(cache.regions), base.max_text_tokens)}
    g = torch.Generator().manual_seed(0)

    def batches_for(name: str):
        collate = collates["legacy" if name == "legacy" else "ours"]

        def next_batch() -> dict:
            idx = torch.randperm(len(ds), generator=g)[:batch_size].tolist()
            return collate([ds[(i, 0)] for i in idx])

        return next_batch

    built = {}
    for name in variants:  # build every variant first, then alternate their timings (shared-machine noise)
        precision = "fp32" if name in ("legacy", "ours-fp32") else "auto"
        cfg = base.model_copy(update={"precision": precision})
        model = build_model(cfg, tok, cache.tag_names, device).train()
        net = LegacyHabits(model, tok, cache.tag_names).to(device) if name == "legacy" else model
        if name == "ours-compile":
            net = torch.compile(model)
        opt, sched = make_optimizer(model, cfg, 10**6, 0)
        built[name] = (net, opt, sched, cfg)
    runs: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(args.rounds):
        for name, (net, opt, sched, cfg) in built.items():
            runs[name].append(measure(net, batches_for(name), opt, sched, cfg, device, args.steps,
                                      args.warmup if r == 0 else 1))
            print(f"round {r + 1}: {name:12s} {runs[name][-1]:8.2f} samples/s", flush=True)
    results = {name: statistics.median(v) for name, v in runs.items()}
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    out = {"device": dev_name, "preset": args.preset, "batch_size": batch_size, "steps": args.steps,
           "rounds": args.rounds, "samples_per_s": results, "all_rounds": runs}
    for name, v in results.items():
        print(f"{name:12s} median {v:8.2f} samples/s")
    if "ours" in results and "legacy" in results:
        out["speedup"] = results["ours"] / results["legacy"]
        print(f"speedup ours/legacy: {out['speedup']:.2f}x on {dev_name}, {args.preset}, batch {batch_size}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
