"""Throughput of `asg-parse CORPUS -o labels.csv --labels chexpert` (the CheXpert-labeler drop-in) against the JSONL
parse of the same corpus, in one run.

Builds a corpus by repeating the OpenI dev reports under new ids (as benchmarks/parse_throughput.py does), then in
`--rounds` interleaved rounds times, end to end in a subprocess (start-up, reading, parsing, writing), the JSONL
parse and the label CSV for each worker count; prints the best round's reports/s (wall clock, and from the CPU time
of the command and its workers, which holds on a shared, loaded machine), the CSV/JSONL ratios, and what that speed
means for MIMIC-CXR's 227,835 reports.

    python benchmarks/label_throughput.py [--openi ../shared/data/openi/openi_dev.csv] [--reports 20000]
"""
from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from parse_throughput import DEFAULT_OPENI, build_corpus, cli_command, openi_texts, process_env, time_process  # noqa: E402,I001

MIMIC_REPORTS = 227_835


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its workers): on a loaded machine the CPU time still says what
    an idle one would take."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time_process(cmd, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--openi", type=Path, default=DEFAULT_OPENI, help="OpenI dev CSV (env ASG_OPENI_CSV)")
    ap.add_argument("--reports", type=int, default=20000, help="corpus size (default 20000)")
    ap.add_argument("--workers", default="2", help="worker counts to time, comma-separated (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds, interleaved (default 3)")
    ap.add_argument("--labels", default="chexpert", help="label set (default chexpert)")
    args = ap.parse_args()
    if not args.openi.is_file():
        raise SystemExit(f"{args.openi}: OpenI CSV not found (pass --openi or set ASG_OPENI_CSV)")
    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        corpus = tmp_dir / "corpus.csv"
        build_corpus(openi_texts(args.openi), args.reports, corpus)
        env = process_env(tmp_dir / "pycache")
        runs = {}
        for w in workers:
            runs[("jsonl", w)] = cli_command(corpus, tmp_dir / f"out{w}.jsonl", w)
            runs[("labels", w)] = cli_command(corpus, tmp_dir / f"labels{w}.csv", w) + ["--labels", args.labels]
        time_process(runs[("labels", workers[0])], env)  # warm-up: fills the bytecode cache
        times: dict[tuple[str, int], list[tuple[float, float]]] = {k: [] for k in runs}
        for _ in range(args.rounds):
            for key, cmd in runs.items():
                times[key].append(timed(cmd, env))
        with (tmp_dir / f"labels{workers[0]}.csv").open(newline="", encoding="utf-8") as fh:
            rows = sum(1 for _ in csv.reader(fh)) - 1
        print(f"{args.reports} reports (OpenI dev repeated), best of {args.rounds} rounds, whole command:")
        for w in workers:
            (jsonl, jsonl_cpu), (labels, labels_cpu) = min(times[("jsonl", w)]), min(times[("labels", w)])
            speed = args.reports / labels
            idle = args.reports / (labels_cpu / w)  # if each worker had its core to itself
            print(f"  {w} worker(s): --labels {args.labels} {labels:.2f}s wall ({speed:,.0f} reports/s), "
                  f"{labels_cpu:.2f}s CPU; JSONL {jsonl:.2f}s wall ({args.reports / jsonl:,.0f} reports/s), "
                  f"{jsonl_cpu:.2f}s CPU; labels/JSONL time {labels / jsonl:.2f}, CPU {labels_cpu / jsonl_cpu:.2f}")
            print(f"    MIMIC-CXR's {MIMIC_REPORTS:,} reports: {MIMIC_REPORTS / speed:.0f}s at this wall speed; "
                  f"{MIMIC_REPORTS / idle:.0f}s ({idle:,.0f} reports/s) with {w} idle core(s), from the CPU time")
        print(f"  label CSV rows: {rows} (one per report)")


if __name__ == "__main__":
    main()
