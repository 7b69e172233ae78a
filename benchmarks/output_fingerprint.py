"""Fingerprints of the parser's output on fixed inputs, to prove a refactoring leaves every byte unchanged.

For each input set (OpenI dev, both gold sets, the example file) it writes the `asg-parse` CLI output and the
records of the five-component pipeline (`asg_parse.load()`), and prints one sha256 per set and pipeline:

    python benchmarks/output_fingerprint.py --json before.json      # on the old tree
    python benchmarks/output_fingerprint.py --compare before.json   # on the new tree: exit 1 on any difference

Only the public API and the console command are used, so the script runs unchanged across layouts.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SETS = {
    "openi_dev": DATA / "openi" / "openi_dev.csv",
    "gold_dev": ROOT / "annotations" / "gold" / "dev.jsonl",
    "gold_heldout": ROOT / "annotations" / "gold" / "heldout.jsonl",
    "examples": ROOT / "examples" / "reports.csv",
}


def _cli_digest(path: Path, out_dir: Path) -> str:
    out = out_dir / f"{path.stem}.jsonl"
    subprocess.run([sys.executable, "-c", "from asg_parse.cli import main; main()", str(path), "-o", str(out),
                    "--quiet", "--workers", "2"], check=True)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def fingerprints() -> dict[str, str]:
    result: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in SETS.items():
            if not path.exists():
                print(f"skip {name}: {path} not found", file=sys.stderr)
                continue
            result[f"{name}/cli"] = _cli_digest(path, Path(tmp))
            result[f"{name}/components"] = _components(path)
    return result


def _components(path: Path) -> str:
    """sha256 of the five-component pipeline's records (JSON, sorted keys) for every report of `path`."""
    import asg_parse

    items = _read(path)
    nlp = asg_parse.load()
    digest = hashlib.sha256()
    for rec in asg_parse.parse_records(items, nlp=nlp):
        digest.update(json.dumps(rec, sort_keys=True).encode() + b"\n")
    return digest.hexdigest()


def _read(path: Path) -> list[tuple[str, str]]:
    """(id, text) pairs as the CLI reads them (the CLI's own reader, wherever it lives)."""
    try:
        from asg_parse.cli.io import read_inputs
    except ImportError:
        from asg_parse.cli.io import read_inputs  # type: ignore[no-redef]
    return [(item[0], item[1]) for item in read_inputs(str(path)).items]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write the fingerprints to this file")
    ap.add_argument("--compare", type=Path, help="compare with fingerprints written before; exit 1 on a difference")
    args = ap.parse_args()
    result = fingerprints()
    for key, value in result.items():
        print(f"{key:28s} {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.compare:
        before = json.loads(args.compare.read_text())
        diff = sorted(k for k in before.keys() | result.keys() if before.get(k) != result.get(k))
        print("identical" if not diff else f"DIFFERENT: {', '.join(diff)}")
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
