"""Does ASG pre-training learn? Synthetic phantoms end to end, on CPU, over several seeds.

    synth (train/val/test) -> asg-parse (train and val reports) -> asg-train prepare (train reports to train on,
    the val phantoms' reports as the fixed validation split, `--val-reports`) -> per seed: asg-train pretrain
    --preset tiny (full ASG, and IRA only; best.pt = lowest validation loss) -> linear probe at 10% and 100% of
    the train labels for three frozen image encoders (ASG-pretrained, random init `random:tiny`, IRA-only
    pretrained) -> zero-shot of the ASG run with the prompts of asg_train/data/prompts_phantom.yaml.

The phantom labels (labels.csv) are never seen by pre-training: findings reach the model only through the report
text and our parser; the test phantoms are seen only by the probes and the zero-shot. The data are drawn once;
each seed changes the pre-training seed and the probe's label subsets. Prints mean ± std over the seeds done so far after every seed; `--json PATH` (re)writes
{"asg": {"auc@0.1": mean, "auc@1.0": mean, "auc@0.1_std": std, ...}, "random": {...}, "ira_only": {...},
 "zeroshot": {"mean_auc": mean over seeds, "per_class": {finding: mean AUC}}, "_meta": {...}}.

    python benchmarks/phantom_learning.py --json runs/phantom.json
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PROMPTS = ROOT / "asg_train" / "data" / "prompts_phantom.yaml"


def _start(args: list[str], log: Path, threads: int) -> tuple[subprocess.Popen, Path, str]:
    """Start `asg-train ARGS` in a child process with `threads` torch threads, output to a log file."""
    cmd = [sys.executable, "-c", "from asg_train.cli import main; main()", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    fh = open(log, "w")
    return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env), log, args[0]


def _wait(procs: list[tuple[subprocess.Popen, Path, str]]) -> None:
    for proc, log, name in procs:
        rc = proc.wait()
        if rc != 0:
            sys.exit(f"asg-train {name} failed (exit {rc}); see {log}:\n" + log.read_text()[-2000:])


def _parse(reports: Path, out: Path) -> int:
    import asg_parse

    with open(reports, newline="") as fh:
        items = [(r["id"], r["report"]) for r in csv.DictReader(fh)]
    with open(out, "w", encoding="utf-8") as fh:
        for rec in asg_parse.parse_many(items):
            fh.write(rec.to_json() + "\n")
    return len(items)


def _pretrain_inputs(work: Path) -> list[str]:
    """One triplets/images/boxes set over the train and val phantoms (paths relative to WORK/pretrain) and the val
    report ids as the fixed validation split: pre-training trains on every train report and picks best.pt on the
    val phantoms' reports."""
    out = work / "pretrain"
    out.mkdir(exist_ok=True)
    with open(out / "triplets.jsonl", "w", encoding="utf-8") as fh:
        for split in ("train", "val"):
            fh.write((work / split / "triplets.jsonl").read_text(encoding="utf-8"))
    for name in ("images.csv", "boxes.csv"):
        rows: list[dict[str, str]] = []
        for split in ("train", "val"):
            with open(work / split / name, newline="", encoding="utf-8") as fh:
                for r in csv.DictReader(fh):
                    rows.append({**r, "path": f"../{split}/{r['path']}"})
        with open(out / name, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    with open(work / "val" / "images.csv", newline="", encoding="utf-8") as fh:
        (out / "val_reports.txt").write_text("".join(r["id"] + "\n" for r in csv.DictReader(fh)), encoding="utf-8")
    return ["--triplets", str(out / "triplets.jsonl"), "--images", str(out / "images.csv"),
            "--boxes", str(out / "boxes.csv"), "--val-reports", str(out / "val_reports.txt")]


def _key(frac: float) -> str:
    return f"auc@{frac:.1f}" if frac >= 0.1 else f"auc@{frac:g}"


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/phantom"), help="Working folder (data, runs).")
    ap.add_argument("--n-train", type=int, default=1000, help="Phantoms for pre-training and the probes' training set.")
    ap.add_argument("--n-val", type=int, default=250, help="Phantoms for validation (best.pt, probe early stopping).")
    ap.add_argument("--n-test", type=int, default=500, help="Phantoms seen only by the probes' and zero-shot's test.")
    ap.add_argument("--size", type=int, default=128, help="Phantom image side in pixels (the tiny preset resizes and crops).")
    ap.add_argument("--steps", type=int, default=1000, help="Pre-training steps per run.")
    ap.add_argument("--batch-size", type=int, default=32, help="Pre-training batch size.")
    ap.add_argument("--lr", type=float, default=1e-3, help="Pre-training peak LR.")
    ap.add_argument("--fractions", default="0.1,1.0", help="Comma-separated label fractions for the linear probes.")
    ap.add_argument("--seeds", type=int, default=3, help="Number of pre-training / probe seeds (mean ± std).")
    ap.add_argument("--first-seed", type=int, default=0, help="The seeds are FIRST..FIRST+N-1 (e.g. 10 for a second, "
                                                              "independent set).")
    ap.add_argument("--data-seed", type=int, default=0, help="Seed of the phantom data (drawn once).")
    ap.add_argument("--jobs", type=int, default=2, help="Pre-training runs at a time (each gets cores/jobs threads).")
    ap.add_argument("--reuse", action="store_true", help="Keep the phantoms, the parse and the finished pre-training "
                                                         "runs found in --work.")
    ap.add_argument("--json", type=Path, default=None, help="Write the results here (after every seed).")
    args = ap.parse_args()

    from asg_train.export import load_image_encoder
    from asg_train.probe import parse_fractions, run_linear
    from asg_train.synth import generate
    from asg_train.zeroshot import run_zeroshot

    t0 = time.time()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    splits = {"train": (args.n_train, 1000 + args.data_seed), "val": (args.n_val, 2000 + args.data_seed),
              "test": (args.n_test, 3000 + args.data_seed)}
    for name, (n, seed) in splits.items():
        if not (args.reuse and (work / name / "labels.csv").is_file()):
            generate(n, work / name, size=args.size, seed=seed, prefix=f"{name}-")
    timings["synth"] = time.time() - t0

    t = time.time()
    n_reports = 0
    for split in ("train", "val"):
        if args.reuse and (work / split / "triplets.jsonl").is_file():
            n_reports += sum(1 for _ in (work / split / "triplets.jsonl").open())
        else:
            n_reports += _parse(work / split / "reports.csv", work / split / "triplets.jsonl")
    timings["parse"] = time.time() - t

    threads = max(1, (os.cpu_count() or 1) // max(1, args.jobs))
    inputs = [*_pretrain_inputs(work), "--preset", "tiny", "--cache", str(work / "cache")]
    t = time.time()
    _wait([_start(["prepare", *inputs], work / "prepare.log", threads)])  # the runs below reuse the cache
    timings["prepare"] = time.time() - t
    common = [*inputs, "--max-steps", str(args.steps), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
              "--num-workers", "0", "--no-progress"]
    variants = {"asg": [], "ira_only": ["--w-arsa", "0", "--w-irl", "0", "--w-erl", "0"]}
    fractions = parse_fractions(args.fractions)
    per_seed: dict[str, dict[str, list[float]]] = {n: {_key(f): [] for f in fractions}
                                                   for n in ("asg", "random", "ira_only")}
    per_class: dict[str, dict[str, list[float]]] = {n: {} for n in per_seed}
    zs_mean: list[float] = []
    zs_class: dict[str, list[float]] = {}
    timings["pretrain"] = timings["probes_and_zeroshot"] = 0.0
    for seed in range(args.first_seed, args.first_seed + args.seeds):  # results are written after every seed
        t = time.time()
        todo = [(name, extra) for name, extra in variants.items()
                if not (args.reuse and (work / f"run_{name}_s{seed}" / "checkpoints" / "last.pt").is_file())]
        for lo in range(0, len(todo), max(1, args.jobs)):
            _wait([_start(["pretrain", *common, "--seed", str(seed), "--out", str(work / f"run_{name}_s{seed}"),
                           *extra], work / f"pretrain_{name}_s{seed}.log", threads)
                   for name, extra in todo[lo:lo + args.jobs]])
        timings["pretrain"] += time.time() - t
        t = time.time()
        encoders = {"asg": str(work / f"run_asg_s{seed}"), "random": "random:tiny",
                    "ira_only": str(work / f"run_ira_only_s{seed}")}
        for name, spec in encoders.items():
            res = run_linear(spec, work / "train" / "labels.csv", work / "val" / "labels.csv",
                             work / "test" / "labels.csv", fractions=fractions, metric="auc", seed=seed,
                             encoder=load_image_encoder(spec))
            for frac, v in zip(fractions, res["results"].values()):
                per_seed[name][_key(frac)].append(v["mean"])
            for c, auc in list(res["results"].values())[-1]["per_class"].items():
                per_class[name].setdefault(c, []).append(auc)
        zs = run_zeroshot(encoders["asg"], work / "test" / "labels.csv", PROMPTS)
        zs_mean.append(zs["mean"]["auc"])
        for c, m in zs["per_class"].items():
            zs_class.setdefault(c, []).append(m["auc"])
        timings["probes_and_zeroshot"] += time.time() - t
        _report(args, per_seed, per_class, zs_mean, zs_class, timings, time.time() - t0, n_reports,
                seed + 1 - args.first_seed)


def _report(args, per_seed, per_class, zs_mean, zs_class, timings, wall, n_reports, done) -> None:
    """Print the table over the seeds done so far and (re)write --json."""
    results: dict[str, dict[str, float]] = {}
    for name, keys in per_seed.items():
        results[name] = {}
        for k, vals in keys.items():
            m, s = _mean_std(vals)
            results[name][k] = m
            results[name][f"{k}_std"] = s
    keys = list(per_seed["asg"])
    print(f"\nphantom learning check: {args.n_train}/{args.n_val}/{args.n_test} phantoms ({n_reports} reports "
          f"parsed), pretrain {args.steps} steps x {args.batch_size}, {done} of {args.seeds} seeds, "
          f"wall {wall / 60:.1f} min")
    print(f"{'encoder':<12}" + "".join(f"{k:>18}" for k in keys))
    for name, vals in results.items():
        print(f"{name:<12}" + "".join(f"{vals[k]:>11.3f} ± {vals[k + '_std']:.3f}" for k in keys))
    k10 = "auc@0.1" if "auc@0.1" in keys else keys[0]
    gaps = [a - r for a, r in zip(per_seed["asg"][k10], per_seed["random"][k10])]
    print(f"ASG - random at {k10}: {statistics.fmean(gaps):+.3f} (per seed {', '.join(f'{g:+.3f}' for g in gaps)};"
          f" target >= +0.10); ASG - IRA-only: {results['asg'][k10] - results['ira_only'][k10]:+.3f} (target > 0)")
    zs_m, zs_s = _mean_std(zs_mean)
    print(f"zero-shot (ASG runs, {PROMPTS.name}): mean AUC {zs_m:.3f} ± {zs_s:.3f} (target >= 0.70)")
    print(f"{'class':<18}" + "".join(f"{n:>10}" for n in per_class) + f"{'zero-shot':>11}")
    for c in per_class["asg"]:
        print(f"{c:<18}" + "".join(f"{statistics.fmean(per_class[n][c]):>10.3f}" for n in per_class)
              + f"{statistics.fmean(zs_class[c]):>11.3f}", flush=True)
    if args.json:
        out: dict = dict(results)
        out["zeroshot"] = {"mean_auc": zs_m, "mean_auc_std": zs_s,
                           "per_class": {c: statistics.fmean(v) for c, v in zs_class.items()}}
        out["_meta"] = {"n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test, "size": args.size,
                        "steps": args.steps, "batch_size": args.batch_size, "seeds": args.seeds, "first_seed": args.first_seed,
                        "seeds_done": done,
                        "jobs": args.jobs, "wall_s": round(wall, 1), "cpus": os.cpu_count(),
                        "load_avg_1min": round(os.getloadavg()[0], 1),
                        "timings_s": {k: round(v, 1) for k, v in timings.items()},
                        "per_seed": per_seed, "zeroshot_per_seed": zs_mean,
                        "per_class_at_largest_fraction": {n: {c: statistics.fmean(v) for c, v in d.items()}
                                                          for n, d in per_class.items()}}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
