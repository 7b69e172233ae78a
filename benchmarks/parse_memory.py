"""Peak memory and throughput of the whole asg-parse CLI as the input grows, against another revision in the same run.

Builds corpora of OpenI dev reports repeated under new ids (a CSV per size, in a temporary directory, never kept),
then for each size runs `python -m asg_parse.cli CORPUS -o OUT --workers N --quiet` under `/usr/bin/time -v`
(else `resource.getrusage` of the children) for this checkout and, with `--baseline-ref`, for that git revision
(checked out in a temporary worktree and run with the same interpreter), interleaved round by round. Max RSS is
that of the largest process of the run (the parent, a worker or the reading process), as the kernel reports it.
It checks the two outputs are byte-identical and prints one table row per code and size: max RSS, wall time,
reports/s (best and median round) and the CPU time of all the run's processes per report (user + system: the work
done, less sensitive than the wall time to other jobs on a shared machine):

    python benchmarks/parse_memory.py --baseline-ref main                       # 20k, 100k and 500k reports
    python benchmarks/parse_memory.py --sizes 20000 100000 --baseline-ref main --rounds 2

Targets: max RSS at 500k within 1.3x of the 20k figure; reports/s within 5% of the baseline's at every size.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse_throughput import DEFAULT_OPENI, ROOT, build_corpus, openi_texts, process_env  # noqa: E402

GNU_TIME = Path("/usr/bin/time")


def measure(root: Path, corpus: Path, out: Path, workers: int, env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, max RSS in MB, CPU seconds of all its processes) of one CLI run of the code under `root`."""
    cmd = [sys.executable, "-m", "asg_parse.cli", str(corpus), "-o", str(out), "--workers", str(workers), "--quiet"]
    env = {**env, "PYTHONPATH": str(root)}
    timed = GNU_TIME.exists()
    if timed:
        cmd = [str(GNU_TIME), "-v", *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{root}: asg-parse failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if timed:
        kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    else:  # the largest child so far: valid when the runs grow, as they do here
        kb = max(before.ru_maxrss, after.ru_maxrss)
    return wall, kb / 1024, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--openi", type=Path, default=DEFAULT_OPENI, help="OpenI dev CSV (env ASG_OPENI_CSV)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[20000, 100000, 500000], help="corpus sizes")
    ap.add_argument("--workers", type=int, default=2, help="--workers of every run (default 2)")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds per size (default 1)")
    ap.add_argument("--baseline-ref", help="a git revision to run alongside (e.g. main)")
    ap.add_argument("--baseline-sizes", type=int, nargs="+",
                    help="sizes to run the baseline on (default: every size)")
    args = ap.parse_args()
    if not args.openi.exists():
        raise SystemExit(f"{args.openi}: not found (set --openi or ASG_OPENI_CSV)")
    texts = openi_texts(args.openi)
    with tempfile.TemporaryDirectory(prefix="asg-parse-memory-") as tmp_name:
        tmp = Path(tmp_name)
        env = process_env(tmp / "pycache")
        roots = {"this checkout": ROOT}
        if args.baseline_ref:
            base = tmp / "baseline"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline_ref],
                           check=True, capture_output=True)
            roots[f"baseline {args.baseline_ref}"] = base
        try:
            corpus = tmp / "warm.csv"
            build_corpus(texts, 200, corpus)
            for root in roots.values():  # fills the bytecode cache (untimed)
                measure(root, corpus, tmp / "warm.jsonl", args.workers, env)
            print(f"{'code':24s} {'reports':>8s} {'input MB':>8s} {'max RSS MB':>10s} {'wall s':>8s} "
                  f"{'reports/s':>9s} {'median/s':>9s} {'CPU ms/report':>13s}  rounds={args.rounds} "
                  f"workers={args.workers} (wall, reports/s, CPU: the best round)", flush=True)
            for n in args.sizes:
                corpus = tmp / f"corpus_{n}.csv"
                build_corpus(texts, n, corpus)
                size_mb = corpus.stat().st_size / 1e6
                results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in roots}
                digests = set()
                for r in range(args.rounds):
                    order = list(roots.items()) if r % 2 == 0 else list(roots.items())[::-1]
                    for name, root in order:
                        if name != "this checkout" and args.baseline_sizes and n not in args.baseline_sizes:
                            continue
                        out = tmp / "out.jsonl"
                        results[name].append(measure(root, corpus, out, args.workers, env))
                        digests.add(hashlib.sha256(out.read_bytes()).hexdigest())
                        out.unlink()
                for name, runs in results.items():
                    if not runs:
                        continue
                    wall = min(w for w, _, _ in runs)
                    median = statistics.median(w for w, _, _ in runs)
                    rss = max(m for _, m, _ in runs)
                    cpu = min(c for _, _, c in runs)
                    print(f"{name:24s} {n:8d} {size_mb:8.1f} {rss:10.0f} {wall:8.1f} {n / wall:9.0f} "
                          f"{n / median:9.0f} {1000 * cpu / n:13.3f}", flush=True)
                print(f"{'':24s} outputs {'identical' if len(digests) == 1 else 'DIFFERENT'}", flush=True)
                corpus.unlink()
        finally:
            if args.baseline_ref:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                               capture_output=True)
                shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
