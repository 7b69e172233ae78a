"""NegEx/ConText benchmark for `asg_existence` vs negspacy (en_clinical), plus the engine's speed.

Protocol (../shared/data/negex/README.md): the condition span goes on `doc.ents` (label COND) of a blank English
doc, the component runs, `absent` counts as negated. Usage:
    python benchmarks/existence_suite.py [--data PATH] [--errors N] [--no-speed]
The data path defaults to $ASG_NEGEX or ../shared/data/negex/negex_dev.tsv relative to the repository root.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import time
from pathlib import Path

import spacy
from spacy.tokens import Doc, Span

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "negex" / "negex_dev.tsv"


def load_rows(path: Path) -> list[tuple[str, str, bool]]:
    """(sentence, condition, negated) rows; reads the TSV and keeps its header out."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    return [(r[2], r[1], r[3].strip().lower() == "negated") for r in rows[1:] if len(r) >= 4]


def make_doc(nlp, sentence: str, condition: str) -> Doc | None:
    """A doc with the condition on doc.ents (label COND), or None when it cannot be located."""
    pattern = r"\s+".join(re.escape(w) for w in condition.split())
    m = re.search(pattern, sentence, flags=re.IGNORECASE)
    if m is None:
        return None
    doc = nlp.make_doc(sentence)
    span = doc.char_span(m.start(), m.end(), label="COND", alignment_mode="expand")
    if span is None:
        return None
    doc.ents = [span]
    return doc


def score(pred: list[bool], gold: list[bool]) -> dict[str, float]:
    tp = sum(p and g for p, g in zip(pred, gold))
    fp = sum(p and not g for p, g in zip(pred, gold))
    fn = sum(g and not p for p, g in zip(pred, gold))
    acc = sum(p == g for p, g in zip(pred, gold)) / max(len(gold), 1)
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"n": len(gold), "acc": acc, "p": prec, "r": rec, "f1": f1}


def line(name: str, s: dict[str, float]) -> str:
    return f"{name:<34} n={s['n']:<5} acc={s['acc']:.3f}  negated P={s['p']:.3f} R={s['r']:.3f} F1={s['f1']:.3f}"


def run_ours(rows, ontology: str | None = None):
    nlp = spacy.blank("en")
    nlp.add_pipe("asg_existence", config={"ontology": ontology})
    preds, gold, docs = [], [], []
    for sent, cond, neg in rows:
        doc = make_doc(nlp, sent, cond)
        if doc is None:
            continue
        doc = nlp.get_pipe("asg_existence")(doc)
        preds.append(doc.ents[0]._.asg_existence == "absent")
        gold.append(neg)
        docs.append(doc)
    return preds, gold, docs


def run_negspacy(rows, termset: dict | None = None):
    from negspacy.negation import Negex  # noqa: F401  (registers the factory)
    from negspacy.termsets import termset as ts

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("negex", config={"neg_termset": termset or ts("en_clinical").get_patterns()})
    preds, gold = [], []
    for sent, cond, neg in rows:
        doc = make_doc(nlp, sent, cond)
        if doc is None:
            continue
        for _, proc in nlp.pipeline:
            doc = proc(doc)
        preds.append(bool(doc.ents[0]._.negex))
        gold.append(neg)
    return preds, gold


def speed(n_docs: int = 2000) -> tuple[float, float, float, int]:
    """Microseconds per doc for ExistenceEngine.classify on a typical ~60-token report with 8 spans, for docs
    whose sentences are already set (the pipeline case) and for docs it must split itself."""
    from asg_parse.pipeline.existence import ExistenceEngine
    from asg_parse.pipeline.resources import get_ontology
    from asg_parse.pipeline.sentences import set_sentence_starts

    nlp = spacy.blank("en")
    engine = ExistenceEngine(get_ontology(None), nlp.vocab)
    text = ("The heart is mildly enlarged. There is no pleural effusion, pneumothorax, or focal consolidation. "
            "Mild bibasilar atelectasis is present, but the previously seen left effusion has resolved. "
            "Possible small nodule in the right upper lobe. No change in the mediastinal contours. "
            "Degenerative changes of the spine.")
    words = ["enlarged", "effusion", "pneumothorax", "consolidation", "atelectasis", "effusion", "nodule", "changes"]
    base = nlp.make_doc(text)
    idx = []
    seen = 0
    for w in words:
        for t in base[seen:]:
            if t.lower_ == w:
                idx.append(t.i)
                seen = t.i + 1
                break
    docs = []
    for _ in range(n_docs):
        d = nlp.make_doc(text)
        docs.append((d, [Span(d, i, i + 1, label="F") for i in idx]))
    unsplit = [(nlp.make_doc(text), None) for _ in range(n_docs)]
    unsplit = [(d, [Span(d, i, i + 1, label="F") for i in idx]) for d, _ in unsplit]
    for d, _ in docs:
        set_sentence_starts(d)
    for d, sp in docs[:50]:
        engine.classify(d, sp)
    t0 = time.perf_counter()
    for d, sp in docs[50:]:
        engine.classify(d, sp)
    warm = (time.perf_counter() - t0) / (n_docs - 50) * 1e6
    t0 = time.perf_counter()
    for d, sp in unsplit:
        engine.classify(d, sp)
    cold = (time.perf_counter() - t0) / n_docs * 1e6
    from negspacy.negation import Negex  # noqa: F401  (registers the factory)

    neg_nlp = spacy.blank("en")
    negex = neg_nlp.add_pipe("negex")
    ndocs = []
    for _ in range(n_docs):
        d = neg_nlp.make_doc(text)
        set_sentence_starts(d)
        d.ents = [Span(d, i, i + 1, label="F") for i in idx]
        ndocs.append(d)
    t0 = time.perf_counter()
    for d in ndocs:
        negex(d)
    neg_us = (time.perf_counter() - t0) / n_docs * 1e6
    return warm, cold, neg_us, len(base)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("ASG_NEGEX", str(DEFAULT_DATA)))
    ap.add_argument("--ontology", default=None, help="user ontology directory merged over ours")
    ap.add_argument("--errors", type=int, default=0, help="print this many of our errors")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--our-termset", action="store_true", help="also run negspacy with our cues as its termset")
    args = ap.parse_args(argv)
    path = Path(args.data)
    if not path.exists():
        print(f"existence_suite: data file not found: {path} (use --data or ASG_NEGEX)", file=sys.stderr)
        return 2
    rows = load_rows(path)
    preds, gold, docs = run_ours(rows, args.ontology)
    print(line("asg_existence", score(preds, gold)))
    npreds, ngold = run_negspacy(rows)
    print(line("negspacy 1.1 en_clinical", score(npreds, ngold)))
    if args.our_termset:
        from asg_parse.pipeline.existence import negspacy_termset
        from asg_parse.pipeline.resources import get_ontology

        tp, tg = run_negspacy(rows, negspacy_termset(get_ontology(args.ontology)))
        print(line("negspacy 1.1 + our termset", score(tp, tg)))
    if args.errors:
        shown = 0
        for p, g, d in zip(preds, gold, docs):
            if p != g and shown < args.errors:
                e = d.ents[0]
                cue = e._.asg_existence_cue
                print(f"  gold={'NEG' if g else 'AFF'} ours={e._.asg_existence:<9} ent=[{e.text}] "
                      f"cue={cue['text'] if cue else None!r} | {d.text[:220]}")
                shown += 1
    if not args.no_speed:
        us, us_split, neg_us, ntok = speed()
        print(f"speed: ExistenceEngine.classify {us:.1f} us per {ntok}-token report with 8 spans "
              f"(sentences set); {us_split:.1f} us when it must split the sentences itself; "
              f"negspacy Negex {neg_us:.1f} us on the same doc")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
