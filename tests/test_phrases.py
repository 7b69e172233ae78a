"""`PhraseWalk`: one pass finds exactly what the section, mention and cue matchers find, in their order."""
from __future__ import annotations

import json
from pathlib import Path

import asg_parse
from asg_parse.pipeline.phrases import PhraseWalk
from asg_parse.pipeline.tokens import tokens

GOLD = Path(__file__).resolve().parents[1] / "annotations" / "gold"
EXTRA = ["No   pleural effusion.", "LEFT   LUNG BASE: no change in vision", "", "   ", "no no no",
         "Heart size and mediastinal contours are normal. COMPARISON- none",
         "calcified right hilar granuloma, calcified left lung and left hilar granulomas"]


def test_walk_equals_matchers():
    nlp = asg_parse.load(spans=False)
    parser = nlp.get_pipe("asg_parser")
    matcher = parser.mentions.linker.matcher
    sources = [parser.sections.matcher, matcher.lex.matcher, parser.existence.engine.matcher]
    walk = PhraseWalk(sources)
    n, routes = matcher.route
    texts = [json.loads(line)["text"] for f in ("dev.jsonl", "heldout.jsonl") for line in open(GOLD / f)] + EXTRA
    for text in texts:
        doc = nlp.make_doc(text)
        found = [m(doc) for m in sources]
        assert walk.find(tokens(doc).lower) == found, text
        # routed: each bucket holds its matches in the matcher's order
        assert matcher.bucketed(tokens(doc).lower) == [[m for m in found[1] if b in routes[m[0]]] for b in range(n)]
