"""OpenI report-level benchmark of our parser (or any predictions JSONL) on the dev split, with error lists.

    python benchmarks/openi_benchmark.py [--csv PATH] [--pred PRED.jsonl] [--json OUT] [--errors N] [--show-text]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asg_parse.cli.benchmark import run_openi_benchmark  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=None, help="OpenI CSV (default $ASG_OPENI_CSV or ../shared/...)")
    ap.add_argument("--pred", type=Path, default=None, help="score this predictions JSONL instead of our parser")
    ap.add_argument("--json", type=Path, default=None, help="write figures + error lists as JSON")
    ap.add_argument("--errors", type=int, default=0, help="top N false positives / negatives per category")
    ap.add_argument("--show-text", action="store_true", help="print a report snippet with each error")
    ap.add_argument("--save-pred", type=Path, default=None, help="write our predictions as JSONL")
    args = ap.parse_args()
    return run_openi_benchmark(args.csv, args.pred, args.json, args.errors, args.show_text, save_pred=args.save_pred)


if __name__ == "__main__":
    sys.exit(main())
