"""How uncertain a parse looks: the score that `asg-parse review --order confidence` sorts by, highest first.

score = 3 x warnings + 2 x uncertain mentions + 2 x hedge or alternative phrases + 2 x unplaced mentions
        + 1 x unknown words next to a mention or an anatomy phrase

- warnings: the parser's warnings on the report (a finding it could not place, undecodable bytes, ...);
- uncertain mentions: distinct (finding, span) mentions whose existence is `uncertain`;
- hedge phrases: uncertainty cues of the ontology (`existence.yaml`, kind `uncertainty`) in an annotated sentence,
  counted once per sentence and cue ("possible", "cannot be excluded", "versus");
- alternatives: a list word (`existence.yaml`, kind `list`, e.g. "or") between two present or uncertain mentions
  of different findings ("atelectasis or scar"), which the parser reads as both present;
- unplaced mentions: present or uncertain mentions with no region;
- unknown words: words of three or more letters within `NEAR` words of a mention or of an anatomy phrase (in the
  annotated sections) that neither the ontology (finding forms, anatomy, cues, sections, word lists) nor spaCy's
  English stop words know: a finding or modifier the lexicon lacks ("pneumatocele in the right upper lobe").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

WEIGHTS = {"warnings": 3, "uncertain": 2, "hedges": 2, "unplaced": 2, "unknown_words": 1}
NEAR = 6  # words either side of a mention or anatomy phrase searched for unknown words
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


@dataclass
class Uncertainty:
    """The parts of one report's score and the score itself."""

    counts: dict[str, int] = field(default_factory=lambda: {k: 0 for k in WEIGHTS})

    @property
    def score(self) -> int:
        return sum(WEIGHTS[k] * v for k, v in self.counts.items())

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, **self.counts}


def _words(texts: Iterable[str]) -> set[str]:
    return {w.lower() for t in texts for w in _WORD.findall(t)}


class UncertaintyScorer:
    """Scores parsed records against one ontology (its cues and vocabulary are compiled once)."""

    def __init__(self, onto: Any):
        from spacy.lang.en.stop_words import STOP_WORDS

        self.hedges = [c.text for c in onto.cues if c.kind == "uncertainty"]
        self.list_words = {c.text for c in onto.cues if c.kind == "list"}
        texts: list[str] = [c.text for c in onto.cues]
        for f in onto.findings.values():
            texts += [f.id, *f.forms, *f.lateral_forms] + [w for s in f.states
                                                          for w in (*s.words, *s.absent_words, *s.uncertain_words)]
        for entries in (onto.regions, onto.zones, onto.groups):
            for e in entries.values():
                texts += [e.id, *e.variants, *getattr(e, "plural", []), *getattr(e, "adjectives", [])]
        for s in onto.sections.values():
            texts += [s.id, *s.headers]
        texts += [*onto.sides.left, *onto.sides.right, *onto.sides.both]
        for words in (onto.name_words, onto.clause_breaks, onto.exam_words, onto.phrase_breaks,
                      onto.place_prepositions, onto.measure_words, onto.interpretation_words):
            texts += list(words)
        self.known = _words(texts) | set(STOP_WORDS)
        self._hedge_res = [re.compile(r"(?<![\w])" + re.escape(h) + r"(?![\w])", re.IGNORECASE) for h in self.hedges]

    def score(self, record: dict[str, Any], text: str, annotated: set[str],
              anatomy: Iterable[dict[str, Any]] = ()) -> Uncertainty:
        """The uncertainty of one parsed record; `annotated`: the ids of the sections that carry triplets;
        `anatomy`: its anatomy phrases (start, end)."""
        u = Uncertainty()
        c = u.counts
        c["warnings"] = len(record.get("warnings") or [])
        mentions: dict[tuple[str, int, int], dict[str, Any]] = {}
        for t in record.get("triplets", []):
            m = mentions.setdefault((t["finding"], t["start"], t["end"]), {**t, "regions": set()})
            if t["region"]:
                m["regions"].add(t["region"])
        c["uncertain"] = sum(m["existence"] == "uncertain" for m in mentions.values())
        c["unplaced"] = sum(not m["regions"] and m["existence"] != "absent" for m in mentions.values())
        for s in record.get("sentences", []):
            if s["section"] not in annotated:
                continue
            c["hedges"] += sum(1 for r in self._hedge_res if r.search(s["text"]))
            inside = sorted((m for m in mentions.values() if s["start"] <= m["start"] < s["end"]
                             and m["existence"] != "absent"), key=lambda m: m["start"])
            for a, b in zip(inside, inside[1:]):
                between = text[a["end"]:b["start"]].lower().split()
                if a["finding"] != b["finding"] and any(w.strip(",;") in self.list_words for w in between):
                    c["hedges"] += 1
        unknown: set[tuple[int, str]] = set()
        spans = [(m["start"], m["end"]) for m in mentions.values()]
        for a in anatomy:
            if any(s["start"] <= a["start"] < s["end"] and s["section"] in annotated
                   for s in record.get("sentences", [])):
                spans.append((a["start"], a["end"]))
        for start, end in spans:
            before = list(_WORD.finditer(text, 0, start))[-NEAR:]
            after = list(_WORD.finditer(text, end))[:NEAR]
            for w in (*before, *after):
                word = w.group().lower()
                if len(word) >= 3 and word not in self.known:
                    unknown.add((w.start(), word))
        c["unknown_words"] = len(unknown)
        return u
