"""The learned existence layer against the rule engine: cross-site, cross-validated, on the same mentions in one run.

    python benchmarks/existence_learning.py [--folds 5] [--epochs 10] [--seed 0] [--json OUT.json]
                                            [--skip bioscope,negex,gold,curve,speed]

Parts (each fold's model is trained on the other folds only; rules, model and vote are scored on the same mentions):
- bioscope: BioScope dev half, 5-fold by document, gold under the linguistic reading (every speculation cue is a
  hedge): negation F1, hedge F1, 3-way accuracy over the parser's Impression mentions (README's benchmark mentions).
- negex: the NegEx dev half, 5-fold by sentence: negation F1 and accuracy.
- gold: our dev gold + the OpenI standoff gold, 5-fold by report: mention-level accuracy on the gold spans, and the
  parser's triplet existence accuracy (asg-parse evaluate's figure) with rules vs vote.
- curve: the learning curve, 50 / 100 / 200 / all training reports (BioScope and our gold), same folds.
- speed: training time of the largest redistributable model; `asg-parse --workers 2` reports/s with rules and vote on
  the OpenI dev CSV; the per-mention cost of the model modes.
The held-out halves are never read. Data paths: ../shared/data (set ASG_OPENI_CSV for the OpenI texts).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import numpy

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
BIOSCOPE = DATA / "bioscope" / "bioscope_dev.jsonl"
NEGEX = DATA / "negex" / "negex_dev.tsv"
OPENI_CSV = DATA / "openi" / "openi_dev.csv"
GOLD = ROOT / "annotations" / "gold" / "dev.jsonl"
STANDOFF = ROOT / "annotations" / "openi_standoff.jsonl"
CURVE = (50, 100, 200, None)

sys.path.insert(0, str(ROOT))
os.environ.setdefault("ASG_OPENI_CSV", str(OPENI_CSV))

from asg_parse.learning import trainer  # noqa: E402
from asg_parse.learning.examples import Featurised, Featuriser, LabelledReport  # noqa: E402
from asg_parse.learning.readers import read_labelled  # noqa: E402


def folds_of(reports: list[LabelledReport], k: int, seed: int) -> list[list[int]]:
    """Report indices in `k` folds, whole groups (document / report / sentence) kept together."""
    groups = sorted({r.group for r in reports})
    rng = numpy.random.RandomState(seed)
    order = rng.permutation(len(groups))
    fold_of = {groups[g]: i % k for i, g in enumerate(order)}
    out: list[list[int]] = [[] for _ in range(k)]
    for i, r in enumerate(reports):
        out[fold_of[r.group]].append(i)
    return out


def mention_rows(data: Featurised, reports: set[int]) -> list[int]:
    return [i for i, r in enumerate(data.report) if r in reports]


def cross_validate(name: str, reports: list[LabelledReport], data: Featurised, args: argparse.Namespace,
                   sizes: tuple[Optional[int], ...] = (None,)) -> dict[str, Any]:
    """Pooled held-out predictions of rules / model / vote over `args.folds` folds, per training size."""
    folds = folds_of(reports, args.folds, args.seed)
    rng = numpy.random.RandomState(args.seed)
    out: dict[str, Any] = {}
    for size in sizes:
        preds: dict[str, list[int]] = {"rules": [], "model": [], "vote": []}
        golds: list[int] = []
        seconds = []
        for k, test in enumerate(folds):
            train_reports = [i for j, f in enumerate(folds) if j != k for i in f]
            if size is not None:
                if size > len(train_reports):
                    continue
                train_reports = list(rng.permutation(train_reports)[:size])
            train = data.subset(mention_rows(data, set(train_reports)))
            test_rows = data.subset(mention_rows(data, set(test)))
            t0 = time.perf_counter()
            comp, _ = trainer.train(train, None, epochs=args.epochs, seed=args.seed, threshold=args.threshold)
            seconds.append(time.perf_counter() - t0)
            for key, values in trainer.predictions(comp, test_rows).items():
                preds[key] += values
            golds += test_rows.golds
        if not golds:
            continue
        label = "all" if size is None else str(size)
        out[label] = {key: trainer.scores(golds, values) for key, values in preds.items()}
        out[label]["train_seconds_per_fold"] = float(numpy.mean(seconds))
        print(f"[{name}] training reports {label}: " + "; ".join(
            f"{key} acc {s['accuracy']:.3f} neg acc {s['negation_accuracy']:.3f} F1 {s['negation_f1']:.3f} "
            f"hedge F1 {s['hedge_f1']:.3f}"
            for key, s in out[label].items() if isinstance(s, dict)), flush=True)
    return out


def gold_triplets(reports: list[LabelledReport], data: Featurised, records: dict[str, dict], args: argparse.Namespace
                  ) -> dict[str, Any]:
    """The parser's triplet existence accuracy (rules vs vote vs model) over 5 folds by report, each fold parsed
    with a model trained on the other folds."""
    import asg_parse
    from asg_parse.evaluation.scoring import evaluate_records

    folds = folds_of(reports, args.folds, args.seed)
    rules_nlp = asg_parse.load(spans=False)
    preds: dict[str, dict[str, dict]] = {"rules": {}, "vote": {}, "model": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for k, test in enumerate(folds):
            train = data.subset(mention_rows(data, {i for j, f in enumerate(folds) if j != k for i in f}))
            comp, metrics = trainer.train(train, None, epochs=args.epochs, seed=args.seed, threshold=args.threshold)
            model_dir = Path(tmp) / f"fold{k}"
            trainer.save(comp, model_dir, metrics)
            items = [(reports[i].id, reports[i].text) for i in test]
            preds["rules"].update({r["id"]: r for r in asg_parse.parse_records(items, rules_nlp)})
            for mode in ("vote", "model"):
                nlp = asg_parse.load(spans=False, existence_model=model_dir, existence_mode=mode)
                preds[mode].update({r["id"]: r for r in asg_parse.parse_records(items, nlp)})
    out = {}
    for mode, pred in preds.items():
        result = evaluate_records(records, pred).to_dict()
        out[mode] = {"existence_accuracy": result["existence_accuracy"],
                     "triplet_f1": result["triplet"]["f1"], "mention_existence_f1": result["mention_existence"]["f1"]}
    print("[gold triplets] " + "; ".join(f"{m} existence acc {s['existence_accuracy']:.4f} triplet F1 "
                                         f"{s['triplet_f1']:.4f}" for m, s in out.items()), flush=True)
    return out


def speed(featuriser: Featuriser, data: Featurised, args: argparse.Namespace) -> dict[str, Any]:
    """Training time of the full redistributable model; CLI reports/s with rules and vote (--workers 2)."""
    t0 = time.perf_counter()
    comp, metrics = trainer.train(data, None, epochs=args.epochs, seed=args.seed, threshold=args.threshold)
    train_s = time.perf_counter() - t0
    out: dict[str, Any] = {"train_seconds": train_s, "train_mentions": len(data.feats), "epochs": args.epochs}
    print(f"[speed] training on {len(data.feats)} mentions, {args.epochs} epochs: {train_s:.1f} s", flush=True)
    if not OPENI_CSV.exists():
        return out
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        trainer.save(comp, model_dir, metrics)
        exe = str(Path(sys.executable).parent / "asg-parse")
        lines = OPENI_CSV.read_text(encoding="utf-8").splitlines(keepends=True)
        repeated = Path(tmp) / "openi_x10.csv"  # the same reports ten times: start-up amortised, contexts repeat
        with repeated.open("w", encoding="utf-8") as fh:
            fh.write(lines[0])
            for k in range(10):
                fh.writelines(lines[1:])
        for corpus, n, name in ((OPENI_CSV, len(lines) - 1, "openi"), (repeated, 10 * (len(lines) - 1), "openi_x10")):
            runs: dict[str, list[float]] = {"rules": [], "vote": [], "model": []}
            for _ in range(2):  # two A/B rounds, best of each
                for mode in runs:
                    cmd = [exe, str(corpus), "-o", str(Path(tmp) / f"{mode}.jsonl"), "-w", "2", "-q"]
                    if mode != "rules":
                        cmd += ["--existence-model", str(model_dir), "--existence-mode", mode]
                    t0 = time.perf_counter()
                    subprocess.run(cmd, check=True)
                    runs[mode].append(time.perf_counter() - t0)
            for mode, times in runs.items():
                out[f"cli_{name}_{mode}_reports_per_s"] = n / min(times)
            print(f"[speed] asg-parse -w 2 on {name} ({n} reports, wall time with start-up): " + "; ".join(
                f"{m} {out[f'cli_{name}_{m}_reports_per_s']:.0f} reports/s" for m in runs), flush=True)
    return out


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    ap.add_argument("--epochs", type=int, default=10, help="training epochs per fold (default 10)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the folds and the training (default 0)")
    ap.add_argument("--threshold", type=float, default=0.9,
                    help="the vote's confidence: the model overrides the rules at or above it (default 0.9)")
    ap.add_argument("--json", type=Path, default=None, help="write all figures here")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: bioscope,negex,gold,curve,speed")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    featuriser = Featuriser()
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    if BIOSCOPE.exists() and not {"bioscope", "curve"} <= skip:
        reports = read_labelled(BIOSCOPE, nlp=featuriser.nlp)
        data = featuriser.featurise(reports)
        sizes = (None,) if "curve" in skip else CURVE
        if "bioscope" in skip:
            sizes = tuple(s for s in sizes if s is not None)
        results["bioscope"] = cross_validate("bioscope", reports, data, args, sizes)
    if NEGEX.exists() and "negex" not in skip:
        reports = read_labelled(NEGEX)
        results["negex"] = cross_validate("negex", reports, featuriser.featurise(reports), args)
    redistributable = Featurised()
    if not {"gold", "curve", "speed"} <= skip:
        from asg_parse.evaluation.scoring import load_openi_standoff, load_records

        reports = read_labelled(GOLD)
        records, _ = load_records(GOLD)
        if OPENI_CSV.exists():
            reports += read_labelled(STANDOFF)
            standoff, _ = load_openi_standoff(STANDOFF, OPENI_CSV)
            records.update(standoff or {})
        data = featuriser.featurise(reports)
        redistributable.extend(data)
        sizes = tuple(s for s in ((None,) if "gold" not in skip else ()) + (CURVE[:-1] if "curve" not in skip else ()))
        if sizes:
            results["gold_mentions"] = cross_validate("gold+openi", reports, data, args, sizes)
        if "gold" not in skip:
            results["gold_triplets"] = gold_triplets(reports, data, records, args)
    if "speed" not in skip:
        if NEGEX.exists():
            redistributable.extend(featuriser.featurise(read_labelled(NEGEX)))
        results["speed"] = speed(featuriser, redistributable, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
