"""Side-by-side accuracy and speed of our parser vs two plain baselines, on OpenI dev and on our gold sets.

Pipelines:
  ours      asg_parse (rules over the curated ontology)
  negspacy  spacy.blank + sentencizer + entity_ruler (plain lexicon) + negspacy NegEx (`en_clinical` termset);
            regions null, or the finding's default regions with --baseline-regions defaults
  keyword   the same entity_ruler, every mention counted present

    python benchmarks/compare_parsers.py [--csv PATH] [--gold annotations/gold/dev.jsonl ...]
        [--baseline-regions null|defaults|both] [--only NAME ...]   (prints a markdown table)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import spacy  # noqa: E402
import yaml  # noqa: E402
from anatomy_ontology import load_ontology  # noqa: E402

from asg_parse.evaluation import openi, scoring as evaluate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LEXICON = Path(__file__).resolve().parent / "plain_lexicon.yaml"
Records = dict[str, dict[str, Any]]
Parser = Callable[[list[tuple[str, str]]], Records]


_ONTO: list[Any] = []


def ontology() -> Any:
    """The ontology, loaded once per run."""
    if not _ONTO:
        _ONTO.append(load_ontology())
    return _ONTO[0]


def plain_lexicon() -> dict[str, list[str]]:
    """finding id -> terms: the plain YAML lexicon plus every other ontology finding's own name."""
    lex = yaml.safe_load(LEXICON.read_text(encoding="utf-8"))
    for fid in ontology().findings:
        lex.setdefault(fid, [fid])
    return lex


def build_ruler(negation: bool) -> spacy.language.Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    ruler.add_patterns([{"label": fid, "pattern": term} for fid, terms in plain_lexicon().items() for term in terms])
    if negation:
        import negspacy.negation  # noqa: F401  (registers the `negex` factory)
        from negspacy.termsets import termset

        nlp.add_pipe("negex", config={"neg_termset": termset("en_clinical").get_patterns()})
    return nlp


def ruler_parser(negation: bool, regions: str) -> Parser:
    """A baseline parser: entity_ruler mentions, NegEx existence (or all present), null/default regions."""
    nlp = build_ruler(negation)
    asg_tags = ontology().asg_tags
    defaults = {f.id: list(f.default_regions) for f in ontology().findings.values()}

    def run(items: list[tuple[str, str]]) -> Records:
        out: Records = {}
        for (rid, _), doc in zip(items, nlp.pipe([t for _, t in items], batch_size=256)):
            sents = list(doc.sents)
            sent_of = {}
            for i, s in enumerate(sents):
                for tok in s:
                    sent_of[tok.i] = i
            trips: list[dict[str, Any]] = []
            rmap: dict[str, set[int]] = {}
            for ent in doc.ents:
                ex = "absent" if negation and ent._.negex else "present"
                si = sent_of.get(ent.start, 0)
                regs = (defaults.get(ent.label_) or [None]) if regions == "defaults" else [None]
                for reg in regs:
                    trips.append({"region": reg, "finding": ent.label_, "existence": ex, "sentence": si,
                                  "start": ent.start_char, "end": ent.end_char, "text": ent.text, "cue": None})
                    if reg is not None:
                        rmap.setdefault(reg, set()).add(si)
            out[rid] = {"id": rid, "triplets": trips, "tags": evaluate.derive_tags(trips, asg_tags),
                        "sentences": [{"text": s.text, "start": s.start_char, "end": s.end_char,
                                       "section": "findings"} for s in sents],
                        "region_sentences": {r: sorted(v) for r, v in rmap.items()}}
        return out

    return run


def ours_parser() -> Parser:
    import asg_parse

    nlp = asg_parse.load(spans=False)  # the pipeline the CLI runs

    def run(items: list[tuple[str, str]]) -> Records:
        return {r["id"]: r for r in asg_parse.parse_records(items, nlp=nlp)}

    return run


def timed(parser: Parser, items: list[tuple[str, str]]) -> tuple[Records, float]:
    parser(items[:20])  # warm-up
    t0 = time.perf_counter()
    recs = parser(items)
    return recs, len(items) / max(time.perf_counter() - t0, 1e-9)


def _f(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=None, help="OpenI CSV (default $ASG_OPENI_CSV or ../shared/...)")
    ap.add_argument("--gold", type=Path, nargs="*", default=None,
                    help="gold JSONL files (default annotations/gold/*.jsonl and annotations/openi_standoff.jsonl)")
    ap.add_argument("--baseline-regions", choices=["null", "defaults", "both"], default="both",
                    help="regions of the negspacy baseline: null, the finding's default regions, or both rows")
    ap.add_argument("--only", nargs="*", default=None, help="run only these pipelines (ours negspacy keyword)")
    args = ap.parse_args()

    pipelines: list[tuple[str, Callable[[], Parser]]] = [("ours", ours_parser)]
    if args.baseline_regions in ("null", "both"):
        pipelines.append(("negspacy", lambda: ruler_parser(True, "null")))
    if args.baseline_regions in ("defaults", "both"):
        pipelines.append(("negspacy + default regions", lambda: ruler_parser(True, "defaults")))
    pipelines.append(("keyword", lambda: ruler_parser(False, "null")))
    if args.only:
        pipelines = [p for p in pipelines if p[0].split()[0] in args.only]

    try:
        reports, skipped = openi.load_reports(openi.resolve_csv(args.csv))
    except openi.OpenIError as exc:
        print(f"OpenI skipped: {exc}")
        reports, skipped = [], {}
    items = [(r.uid, r.text) for r in reports]

    gold_paths = args.gold
    if gold_paths is None:
        gold_paths = sorted((ROOT / "annotations" / "gold").glob("*.jsonl"))
        standoff = ROOT / "annotations" / "openi_standoff.jsonl"
        if standoff.is_file():
            gold_paths.append(standoff)
    golds: list[tuple[str, Records]] = []
    for gp in gold_paths:
        if evaluate.is_standoff(gp):
            recs, problems = evaluate.load_openi_standoff(gp, args.csv)
        else:
            recs, problems = evaluate.load_records(gp, strict=True)
        for prob in problems[:5]:
            print(f"gold problem: {prob}")
        if recs:
            golds.append((gp.stem, recs))
    if not golds:
        print("no gold set found (annotations/gold/*.jsonl): gold columns skipped")

    header = ["pipeline"]
    if items:
        header += ["OpenI micro F1", "macro F1", "abn-vs-normal F1", "normal spec.", "region recall", "wrong side",
                   "reports/s"]
    for name, _ in golds:
        header += [f"{name}: triplet F1 / mention+exist. F1 / exist. acc. / tag acc."]
    rows = []
    for label, make in pipelines:
        try:
            parser = make()
        except Exception as exc:  # a pipeline that cannot be built is reported, not fatal
            print(f"{label}: cannot build ({type(exc).__name__}: {exc})")
            continue
        row = [label]
        try:
            if items:
                preds, speed = timed(parser, items)
                res = openi.score_reports(reports, preds, skipped).to_dict()
                row += [_f(res["micro"]["f1"]), _f(res["macro"]["f1"]), _f(res["abnormal_vs_normal"]["f1"]),
                        _f(res["normal_specificity"]["value"]), _f(res["region"]["recall"]),
                        str(res["region"]["wrong_side"]), f"{speed:,.0f}"]
            for _, gold in golds:
                preds = parser([(rid, rec["text"]) for rid, rec in gold.items()])
                ev = evaluate.evaluate_records(gold, preds, asg_tags=ontology().asg_tags)
                row += [" / ".join([_f(ev.triplet.as_dict()["f1"]), _f(ev.mention_existence.as_dict()["f1"]),
                                    _f(ev.existence_accuracy), _f(ev.tags["accuracy"])])]
        except Exception as exc:
            print(f"{label}: failed ({type(exc).__name__}: {exc})")
            continue
        rows.append(row)
        print(f"done: {label}", file=sys.stderr)
    print(f"OpenI dev: {len(items)} scored reports; gold sets: "
          + (", ".join(f"{n} ({len(g)} reports)" for n, g in golds) or "none"))
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
