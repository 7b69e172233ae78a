"""Does `asg-parse review --order confidence` put the reports the parser gets wrong first?

On a gold file (default: annotations/gold/dev.jsonl) every report is parsed and scored by the review queue's
uncertainty score (asg_parse/review/uncertainty.py); the parser's triplet errors per report (false positives plus
misses, as `asg-parse evaluate` counts them) are then compared between the two queue orders. Printed: for the first
quarter and the first half of each order, the share of all triplet errors and of the reports with an error that
a reviewer meets there. Usage:
    python benchmarks/review_order.py [--gold annotations/gold/dev.jsonl]
"""
from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", type=Path, default=ROOT / "annotations" / "gold" / "dev.jsonl",
                    help="gold JSONL whose reports are ordered (default annotations/gold/dev.jsonl)")
    args = ap.parse_args()

    import asg_parse
    from anatomy_ontology import load_ontology
    from asg_parse.evaluation.scoring import evaluate_records, load_records
    from asg_parse.review.store import parse_view
    from asg_parse.review.uncertainty import UncertaintyScorer

    gold, problems = load_records(args.gold)
    if gold is None or problems:
        raise SystemExit(f"{args.gold}: {problems[0] if problems else 'unreadable'}")
    onto = load_ontology()
    annotated = {s.id for s in onto.sections.values() if s.parse}
    scorer = UncertaintyScorer(onto)
    nlp = asg_parse.load(spans=True)
    pred, score = {}, {}
    for record, anatomy in parse_view(nlp, [(rid, g["text"]) for rid, g in gold.items()]):
        pred[record["id"]] = record
        score[record["id"]] = scorer.score(record, gold[record["id"]]["text"], annotated, anatomy).score
    diffs = {d.id: len(d.triplet_fp) + len(d.triplet_fn) for d in evaluate_records(gold, pred).diffs}
    orders = {"input": list(gold), "confidence": sorted(gold, key=lambda i: -score[i])}
    total, wrong = sum(diffs.values()), sum(v > 0 for v in diffs.values())
    print(f"{args.gold}: {len(gold)} reports, {wrong} with a triplet error, {total} triplet errors")
    print(f"{'order':<12}{'first':>8}{'errors met':>12}{'wrong reports met':>19}")
    for name, ids in orders.items():
        for part, cut in (("1/4", len(ids) // 4), ("1/2", len(ids) // 2)):
            head = ids[:cut]
            print(f"{name:<12}{part:>8}{sum(diffs[i] for i in head) / total:>12.1%}"
                  f"{sum(diffs[i] > 0 for i in head) / wrong:>19.1%}")


if __name__ == "__main__":
    main()
