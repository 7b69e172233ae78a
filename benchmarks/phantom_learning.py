"""Does ASG pre-training learn? Synthetic phantoms end to end, on CPU.

    synth (train/val/test) -> asg-parse (train reports) -> asg-train pretrain --preset tiny (full ASG, and IRA only)
    -> linear probe at 10% and 100% of the train labels for three frozen image encoders:
       ASG-pretrained, random init (`random:tiny`) and IRA-only pretrained.

The phantom labels (labels.csv) are never seen by pre-training: findings reach the model only through the report
text and our parser. Prints one table of mean test AUC; `--json PATH` writes
{"asg": {"auc@0.1": ..., "auc@1.0": ...}, "random": {...}, "ira_only": {...}} plus per-class details.

    python benchmarks/phantom_learning.py --json phantom.json
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cli(args: list[str], log: Path) -> None:
    """Run `asg-train ARGS` in a child process (its own torch threads), output to a log file."""
    cmd = [sys.executable, "-c", "from asg_train.cli import main; main()", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(log, "w") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env).returncode
    if rc != 0:
        sys.exit(f"asg-train {args[0]} failed (exit {rc}); see {log}:\n" + log.read_text()[-2000:])


def _parse(reports: Path, out: Path) -> int:
    import asg_parse

    with open(reports, newline="") as fh:
        items = [(r["id"], r["report"]) for r in csv.DictReader(fh)]
    with open(out, "w", encoding="utf-8") as fh:
        for rec in asg_parse.parse_many(items):
            fh.write(rec.to_json() + "\n")
    return len(items)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/phantom"), help="Working folder (data, runs).")
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-val", type=int, default=250)
    ap.add_argument("--n-test", type=int, default=500)
    ap.add_argument("--size", type=int, default=128, help="Phantom image side (the tiny preset resizes to 64).")
    ap.add_argument("--steps", type=int, default=1000, help="Pre-training steps per run.")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3, help="Pre-training peak LR.")
    ap.add_argument("--fractions", default="0.1,1.0")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="Write the results here.")
    args = ap.parse_args()

    from asg_train.export import load_image_encoder
    from asg_train.probe import parse_fractions, run_linear
    from asg_train.synth import generate

    t0 = time.time()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    splits = {"train": (args.n_train, 1000 + args.seed), "val": (args.n_val, 2000 + args.seed),
              "test": (args.n_test, 3000 + args.seed)}
    for name, (n, seed) in splits.items():
        generate(n, work / name, size=args.size, seed=seed, prefix=f"{name}-")
    timings["synth"] = time.time() - t0

    t = time.time()
    n_reports = _parse(work / "train" / "reports.csv", work / "train" / "triplets.jsonl")
    timings["parse"] = time.time() - t

    common = ["--triplets", str(work / "train" / "triplets.jsonl"), "--images", str(work / "train" / "images.csv"),
              "--boxes", str(work / "train" / "boxes.csv"), "--preset", "tiny", "--max-steps", str(args.steps),
              "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--no-progress",
              "--cache", str(work / "cache")]
    if args.lr is not None:
        common += ["--lr", str(args.lr)]
    runs = {"asg": [], "ira_only": ["--w-arsa", "0", "--w-irl", "0", "--w-erl", "0"]}
    for name, extra in runs.items():
        t = time.time()
        _cli(["pretrain", *common, "--out", str(work / f"run_{name}"), *extra], work / f"pretrain_{name}.log")
        timings[f"pretrain_{name}"] = time.time() - t

    fractions = parse_fractions(args.fractions)
    encoders = {"asg": str(work / "run_asg"), "random": "random:tiny", "ira_only": str(work / "run_ira_only")}
    results: dict[str, dict] = {}
    details: dict[str, dict] = {}
    for name, spec in encoders.items():
        t = time.time()
        res = run_linear(spec, work / "train" / "labels.csv", work / "val" / "labels.csv", work / "test" / "labels.csv",
                         fractions=fractions, metric="auc", seed=args.seed, encoder=load_image_encoder(spec))
        timings[f"probe_{name}"] = time.time() - t
        results[name] = {f"auc@{float(k):.1f}" if float(k) >= 0.1 else f"auc@{float(k):g}": v["mean"]
                         for k, v in res["results"].items()}
        details[name] = {k: v["per_class"] for k, v in res["results"].items()}
    wall = time.time() - t0

    keys = list(next(iter(results.values())))
    print(f"\nphantom learning check: {args.n_train}/{args.n_val}/{args.n_test} phantoms ({n_reports} reports "
          f"parsed), pretrain {args.steps} steps x {args.batch_size}, wall {wall / 60:.1f} min")
    print(f"{'encoder':<12}" + "".join(f"{k:>12}" for k in keys))
    for name, vals in results.items():
        print(f"{name:<12}" + "".join(f"{vals[k]:>12.3f}" for k in keys))
    k10 = next((k for k in keys if k == "auc@0.1"), keys[0])
    gap = results["asg"][k10] - results["random"][k10]
    print(f"ASG - random at {k10}: {gap:+.3f} (target >= +0.10); ASG - IRA-only: "
          f"{results['asg'][k10] - results['ira_only'][k10]:+.3f} (target > 0)")
    print("per-class test AUC at the largest fraction:")
    last = list(details["asg"])[-1]
    classes = list(details["asg"][last])
    print(f"{'class':<18}" + "".join(f"{n:>10}" for n in encoders))
    for c in classes:
        print(f"{c:<18}" + "".join(f"{details[n][last][c]:>10.3f}" for n in encoders))
    if args.json:
        out = dict(results)
        out["_meta"] = {"n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test, "size": args.size,
                        "steps": args.steps, "batch_size": args.batch_size, "wall_s": round(wall, 1),
                        "timings_s": {k: round(v, 1) for k, v in timings.items()}, "per_class": details}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
