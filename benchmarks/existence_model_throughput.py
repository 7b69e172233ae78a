"""Throughput of `asg-parse` with the learned existence layer: rules vs model vs vote, in one interleaved run.

Builds the corpus of benchmarks/parse_throughput.py (the OpenI dev reports repeated under new ids, 20k by default)
and, in `--rounds` interleaved rounds, times `asg-parse CORPUS -o OUT --workers N` end to end (a subprocess:
start-up, reading, parsing, writing) for
  - `rules`: no model loaded (the default parse),
  - `rules+model`: the model loaded in `rules` mode (it decides nothing; every triplet gets `decided_by`),
  - `model` and `vote`: `--existence-model DIR --existence-mode model|vote`.
For each it reports the best and median wall time, reports/s (best), and the CPU time per report (user + system of
the command and its workers, from the kernel's accounting of the waited-for processes; the median over the rounds).
The CPU time is what the machine's load does not change much: on a shared machine the wall-time rates are low and
scattered, and an idle machine's rate is estimated from the CPU time (`estimated idle`: the CPU time spread over
`--workers` cores, an upper bound that ignores the serial start-up and the parent's reading and writing).

The corpus repeats 990 reports, so after the first pass every mention context is in the model's cache (per worker).
A site's own reports repeat their stock phrases too, but less: the `cold contexts` line measures, in this process,
what featurising and predicting every distinct mention context of the OpenI dev reports costs per report, the cost
a corpus of distinct reports adds on top of the cached rate.

    python benchmarks/existence_model_throughput.py [--model DIR] [--reports 20000] [--workers 2] [--rounds 3]
        [--json OUT.json] [--baseline-checkout OTHER_TREE]

Without `--model`, a model is trained first on the redistributable data (our dev gold, the OpenI standoff gold, the
NegEx dev TSV) with `asg-parse train existence` (seed 0, 10 epochs), as docs/existence.md describes.
`--baseline-checkout` also times another checkout's code (e.g. a `git worktree` of an older commit), with this
Python, in the same rounds: an A/B of two trees on the same model and corpus (outputs compared per mode).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from parse_throughput import DEFAULT_OPENI, ROOT, build_corpus, openi_texts, process_env

DATA = ROOT.parent / "shared" / "data"
TRAIN_INPUTS = [ROOT / "annotations" / "gold" / "dev.jsonl", ROOT / "annotations" / "openi_standoff.jsonl",
                DATA / "negex" / "negex_dev.tsv"]
MODES = ("rules", "rules+model", "model", "vote")


def cli_command(corpus: Path, out: Path, workers: int, mode: str, model: Path) -> list[str]:
    """`asg-parse` (the checkout in the working directory) on `corpus` in `mode`."""
    cmd = [sys.executable, "-m", "asg_parse.cli", str(corpus), "-o", str(out), "--workers", str(workers), "--quiet"]
    if mode != "rules":
        cmd += ["--existence-model", str(model), "--existence-mode", mode.replace("rules+model", "rules")]
    return cmd


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the command and the processes it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[2:])} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def train_model(out: Path, env: dict[str, str]) -> None:
    """The redistributable model of docs/existence.md, trained into `out`."""
    missing = [str(p) for p in TRAIN_INPUTS if not p.is_file()]
    if missing:
        raise SystemExit(f"error: cannot train a model, missing: {', '.join(missing)} (pass --model DIR)")
    cmd = [sys.executable, "-m", "asg_parse.cli", "train", "existence", "--out", str(out), "--epochs", "10",
           "--seed", "0", "-q"]
    for path in TRAIN_INPUTS:
        cmd += ["--gold", str(path)]
    wall, _ = timed(cmd, env, ROOT)
    print(f"trained {out} in {wall:.1f} s")


def cold_context_cost(texts: list[str], model: Path, rounds: int = 3) -> dict[str, float]:
    """CPU seconds per report of featurising and predicting every distinct mention context of `texts` with an empty
    cache (one model call per 1,000 contexts), best of `rounds`, and the counts. As in the CLI: numpy's BLAS on one
    thread, no torch."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.modules.setdefault("torch", None)
    from asg_parse.cli import runner
    from asg_parse.pipeline.existence_features import context_features

    nlp = runner.load_pipeline(existence_model=str(model), existence_mode="vote")
    parser = nlp.get_pipe("asg_parser")
    comp = parser.existence_model
    contexts = [c for text in texts for c in parser._analyse(nlp.make_doc(text)).model_input[0]]
    distinct = list(dict.fromkeys(contexts))
    times = []
    for _ in range(rounds):
        comp.clear_cache()
        t0 = time.process_time()
        for k in range(0, len(distinct), 1000):
            comp.probabilities([context_features(c) for c in distinct[k:k + 1000]])
        times.append(time.process_time() - t0)
    cpu = min(times)
    return {"reports": len(texts), "mentions": len(contexts), "distinct_contexts": len(distinct),
            "cpu_s": cpu, "us_per_context": 1e6 * cpu / max(1, len(distinct)), "us_per_report": 1e6 * cpu / len(texts)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--openi", type=Path, default=DEFAULT_OPENI, help="OpenI dev CSV (env ASG_OPENI_CSV)")
    ap.add_argument("--model", type=Path, help="existence model directory (default: train the redistributable one)")
    ap.add_argument("--reports", type=int, default=20000, help="corpus size (default 20000)")
    ap.add_argument("--workers", type=int, default=2, help="--workers of every run (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds of every mode, interleaved (default 3)")
    ap.add_argument("--baseline-checkout", type=Path, metavar="DIR",
                    help="also time the asg_parse of this checkout (run from it with this Python) in the same rounds")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    if not args.openi.is_file():
        raise SystemExit(f"error: {args.openi}: no such file (pass --openi or set ASG_OPENI_CSV)")
    if args.model is not None and not (args.model / "config.json").is_file():
        raise SystemExit(f"error: {args.model}: not an existence model directory (no config.json)")
    texts = openi_texts(args.openi)
    load_before = os.getloadavg()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}  (cpus: {os.cpu_count()})")
    trees = [("this tree", ROOT)] + ([("baseline", args.baseline_checkout.resolve())] if args.baseline_checkout else [])
    with tempfile.TemporaryDirectory(prefix="asg-bench-") as tmp:
        tmpd = Path(tmp)
        env = process_env(tmpd / "pycache")
        model = args.model.resolve() if args.model is not None else tmpd / "model"
        if args.model is None:
            train_model(model, env)
        corpus_path = tmpd / "corpus.csv"
        corpus = build_corpus(texts, args.reports, corpus_path)
        warm = tmpd / "warm.csv"
        build_corpus(texts, 50, warm)
        print(f"corpus: {len(corpus)} reports ({len(texts)} distinct OpenI dev reports repeated); model {model}; "
              f"--workers {args.workers}; {args.rounds} rounds")
        for _, root in trees:
            for mode in MODES:  # untimed: compiles each side's modules into the bytecode cache once
                timed(cli_command(warm, tmpd / "warm.jsonl", 1, mode, model), env, root)
        runs = [(tree, root, mode) for tree, root in trees for mode in MODES]
        wall: dict[str, list[float]] = {f"{tree}/{mode}": [] for tree, _, mode in runs}
        cpu: dict[str, list[float]] = {name: [] for name in wall}
        outputs: dict[str, bytes] = {}
        for r in range(args.rounds):  # interleaved, and each round in another order, so load falls on all alike
            order = runs[r % len(runs):] + runs[:r % len(runs)]
            for tree, root, mode in order:
                name = f"{tree}/{mode}"
                out = tmpd / f"{name.replace('/', '_').replace(' ', '_')}.jsonl"
                w, c = timed(cli_command(corpus_path, out, args.workers, mode, model), env, root)
                wall[name].append(w)
                cpu[name].append(c)
                outputs[name] = out.read_bytes()
        print("cold contexts: measuring ...", flush=True)
        cold = cold_context_cost(texts, model, args.rounds)
    n = len(corpus)
    figures: dict[str, dict[str, float]] = {}
    print(f"\n{'run':<26}{'best s':>8}{'median s':>10}{'reports/s':>11}{'CPU us/report':>15}{'est. idle r/s':>15}")
    for name in wall:
        w, c = sorted(wall[name]), sorted(cpu[name])
        cpu_report = c[len(c) // 2] / n
        figures[name] = {"best_s": w[0], "median_s": w[len(w) // 2], "reports_per_s": n / w[0],
                         "cpu_us_per_report": 1e6 * cpu_report,
                         "estimated_idle_reports_per_s": args.workers / cpu_report}
        f = figures[name]
        print(f"{name:<26}{f['best_s']:>8.2f}{f['median_s']:>10.2f}{f['reports_per_s']:>11,.0f}"
              f"{f['cpu_us_per_report']:>15,.0f}{f['estimated_idle_reports_per_s']:>15,.0f}")
    ratios = {}
    for tree, _ in trees:
        rules = figures[f"{tree}/rules"]
        for mode in ("vote", "model"):
            this = figures[f"{tree}/{mode}"]
            ratios[f"{tree}/{mode}/rules"] = {"reports_per_s": this["reports_per_s"] / rules["reports_per_s"],
                                              "cpu_per_report": this["cpu_us_per_report"] / rules["cpu_us_per_report"]}
            print(f"{tree}: {mode} / rules: {ratios[f'{tree}/{mode}/rules']['reports_per_s']:.2f}x reports/s (best "
                  f"of {args.rounds}), {ratios[f'{tree}/{mode}/rules']['cpu_per_report']:.2f}x CPU per report")
    same = {}
    if len(trees) > 1:
        for mode in MODES:
            same[mode] = outputs[f"this tree/{mode}"] == outputs[f"baseline/{mode}"]
            a, b = figures[f"this tree/{mode}"], figures[f"baseline/{mode}"]
            print(f"this tree vs baseline, {mode}: {a['reports_per_s'] / b['reports_per_s']:.2f}x reports/s, "
                  f"{a['cpu_us_per_report'] / b['cpu_us_per_report']:.2f}x CPU per report; output "
                  + ("byte-identical" if same[mode] else "DIFFERENT"))
    print(f"cold contexts: {cold['distinct_contexts']:,} distinct mention contexts in the {cold['reports']} OpenI dev "
          f"reports ({cold['mentions']:,} mentions): featurise + predict {cold['us_per_context']:.0f} us CPU each, "
          f"{cold['us_per_report']:.0f} us per report, best of {args.rounds} (what model / vote add for reports whose "
          "contexts are all new)")
    load_after = os.getloadavg()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in load_after)}")
    if args.json:
        args.json.write_text(json.dumps({"reports": n, "workers": args.workers, "rounds": args.rounds,
                                         "load_before": load_before, "load_after": load_after, "runs": figures,
                                         "ratios": ratios, "cold_contexts": cold,
                                         "baseline_output_identical": same or None}, indent=1), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
