"""NegEx/ConText benchmark for `asg_existence` vs negspacy (en_clinical), plus both tools' per-doc speed.

Protocol (../shared/data/negex/README.md): the condition span goes on `doc.ents` (label COND) of a blank English
doc, the component runs, `absent` counts as negated. Usage:
    python benchmarks/existence_suite.py [--data PATH] [--errors N] [--no-speed] [--rounds N] [--model DIR]
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
from spacy.tokens import Doc

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


def speed(rows, rounds: int = 3, model: str | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """Sentences per second on the NegEx sentences, one doc per sentence, pipelines built once: our `asg_existence`
    (with `model`, also followed by `asg_existence_model` in vote and model mode) against negspacy (sentencizer +
    negex: negex needs sentence boundaries). Each round makes fresh docs (untimed) and times every doc of every
    tool in turn, interleaved, so that the machine's load falls on all alike; best of `rounds`, run twice with the
    order of the tools reversed (two A/B rounds). Also the rate from each doc's fastest time over all rounds (a
    round's total takes every pause a busy machine makes; a doc's fastest time seldom does)."""
    from negspacy.negation import Negex  # noqa: F401  (registers the factory)
    from negspacy.termsets import termset as ts

    tools = {}
    ours = spacy.blank("en")
    ours.add_pipe("asg_existence")
    tools["asg_existence"] = ours
    neg = spacy.blank("en")
    neg.add_pipe("sentencizer")
    neg.add_pipe("negex", config={"neg_termset": ts("en_clinical").get_patterns()})
    tools["negspacy"] = neg
    if model:
        from asg_parse.pipeline.existence_model import add_existence_model

        for mode in ("vote", "model"):
            nlp = spacy.blank("en")
            nlp.add_pipe("asg_existence")
            add_existence_model(nlp, model, mode, span_keys=[], ent_types=[])
            tools[f"asg_existence + model ({mode})"] = nlp
    procs = {name: [p for _, p in nlp.pipeline] for name, nlp in tools.items()}
    best: dict[str, float] = {}
    fastest = {name: [float("inf")] * len(rows) for name in tools}  # per doc, over all rounds
    clock = time.perf_counter
    for order in (list(tools), list(reversed(tools))):
        for _ in range(rounds):
            docs = {name: [make_doc(tools[name], s, c) for s, c, _ in rows] for name in order}
            spent = dict.fromkeys(order, 0.0)
            for i in range(len(rows)):
                for name in order:
                    doc = docs[name][i]
                    if doc is None:
                        continue
                    t0 = clock()
                    for proc in procs[name]:
                        doc = proc(doc)
                    took = clock() - t0
                    spent[name] += took
                    fastest[name][i] = min(fastest[name][i], took)
            n = sum(d is not None for d in docs[order[0]])
            for name, s in spent.items():
                best[name] = max(best.get(name, 0.0), n / s)
    located = [i for i, t in enumerate(fastest[order[0]]) if t < float("inf")]
    return best, {name: len(located) / sum(times[i] for i in located) for name, times in fastest.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("ASG_NEGEX", str(DEFAULT_DATA)),
                    help="the NegEx TSV (default: $ASG_NEGEX or ../shared/data/negex/negex_dev.tsv)")
    ap.add_argument("--ontology", default=None, help="user ontology directory merged over ours")
    ap.add_argument("--errors", type=int, default=0, help="print this many of our errors")
    ap.add_argument("--no-speed", action="store_true", help="accuracy only: skip the timed part")
    ap.add_argument("--rounds", type=int, default=3,
                    help="timed rounds per A/B order; the best round counts (more: steadier on a busy machine)")
    ap.add_argument("--model", default=None, help="an existence model directory: also time asg_existence_model")
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
        rates, steady = speed(rows, rounds=max(1, args.rounds), model=args.model)
        for name, rate in rates.items():
            print(f"speed: {name:<34} {rate:8,.0f} sentences/s  ({rate / rates['negspacy']:.2f}x negspacy)"
                  f"   per-doc fastest: {steady[name]:8,.0f}/s ({steady[name] / steady['negspacy']:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
