"""Mention matching for `asg_mentions`: the finding, anatomy, side-word and state-word matches of a doc, each kind
non-overlapping, from the ontology's surface forms (`linking.Linker` then links them)."""
from __future__ import annotations

from typing import NamedTuple, Optional

from spacy.language import Language
from spacy.tokens import Doc

from anatomy_ontology import Ontology

from .lexicon import Lexicon, compile_lexicon
from .tokens import SentenceIndex, sentence_index, tokens

NP_MAX_GAP = 5  # tokens between a modifier and the finding it describes in one noun phrase
_ELLIPSIS_JOIN = {"and", "or", "/"}  # "pleural or pericardial effusion"


class M(NamedTuple):
    """A matched token range [start, end) with its label (finding id, "R|region", "Z|zone", "G|group", side, state word)."""

    start: int
    end: int
    label: str


def longest(matches: list[tuple[int, int, str]], head_final: bool = False) -> list[M]:
    """Non-overlapping (start, end, label) matches, longest first. Ties go to the earlier match, or with
    `head_final` to the later one, the head of an English noun phrase ("right lung base": the zone "lung base"
    with side "right", not the region "right lung" plus "base")."""
    if len(matches) < 2:
        return [M(*m) for m in matches]
    out: list[M] = []
    taken: set[int] = set()
    key = (lambda m: (m[1] - m[0], m[1])) if head_final else (lambda m: (m[1] - m[0], -m[0]))
    for m in sorted(matches, key=key, reverse=True):
        s, e = m[0], m[1]
        if s not in taken and (e - s == 1 or taken.isdisjoint(range(s + 1, e))):
            out.append(M(*m))
            taken.update(range(s, e))
    out.sort()
    return out


def tokens_of(spans) -> set[int]:
    """The token indices covered by `spans`."""
    return {i for s in spans for i in range(s.start, s.end)}


class Context:
    """Per-document state shared by the matching and linking steps."""

    def __init__(self, doc: Doc, lex: Lexicon, index: Optional[SentenceIndex] = None):
        self.doc = doc
        self.tt = tokens(doc)
        self.sent = (index or sentence_index(doc)).ids
        self.lower = lower = self.tt.lower
        self.boundary = list(map(lex.boundaries.__contains__, lower))
        self.comma = list(map(",".__eq__, lower))
        self.warnings: list[str] = []
        self.used_sides: set[int] = set()

    def between(self, a_end: int, b_start: int) -> tuple[bool, int]:
        """(no clause boundary between, number of commas between) for tokens [a_end, b_start)."""
        lo, hi = (a_end, b_start) if a_end <= b_start else (b_start, a_end)
        return not any(self.boundary[lo:hi]), sum(self.comma[lo:hi])

    @staticmethod
    def gap(a: M, b: M) -> int:
        return max(0, b.start - a.end, a.start - b.end)


class Matcher:
    """The doc's mentions of each kind from one PhraseMatcher over the ontology's forms; built once."""

    def __init__(self, nlp: Language, ontology: Ontology):
        self.ontology = ontology
        self.lex = compile_lexicon(nlp, ontology)
        # match id -> (bucket, label): findings F, anatomy A ("R|right lung", "Z|lung base", "G|bibasilar"),
        # side words S, state words W
        self.buckets = {mid: ("A", f"{kind}|{value}") if kind in ("R", "Z", "G") else (kind, value)
                        for mid, (kind, value) in self.lex.kinds.items()}
        self.modifier_of = {f.id: set(f.modifier_of) for f in ontology.findings.values()}

    def match(self, doc: Doc, ctx: Context) -> tuple[list[M], list[M], list[M], list[M]]:
        """Findings (without pure modifiers), anatomy, free side words and state words, each non-overlapping."""
        buckets = self.buckets
        raw: dict[str, list[tuple[int, int, str]]] = {"F": [], "A": [], "S": [], "W": []}
        for match_id, start, end in self.lex.matcher(doc):
            bucket, label = buckets[match_id]
            raw[bucket].append((start, end, label))
        place_words = {i for m in raw["A"] + raw["S"] for i in range(m[0], m[1])}
        findings = self._drop_modifiers(ctx, longest(raw["F"]), place_words)
        findings = self._elliptical(ctx, findings)
        in_finding = tokens_of(findings)
        names, lower = self.ontology.name_words, ctx.lower
        anatomy = [m for m in longest(raw["A"], head_final=True)
                   if (not in_finding.issuperset(range(m.start, m.end)) or " ".join(lower[m.start:m.end]) not in names)
                   and not self._imaged(lower, m)]
        # a finding word inside a longer region or group name is part of that name ("cardiomediastinal
        # silhouettes"); zone phrases may hold one ("right upper lobectomy")
        long_names = [a for a in anatomy if a.end - a.start > 1 and a.label[0] != "Z"]
        inside = [f for f in findings if any(a.start <= f.start and f.end <= a.end and a.end - a.start > f.end - f.start
                                             for a in long_names)] if long_names else []
        if inside:
            findings = [f for f in findings if f not in inside]
            in_finding = tokens_of(findings)
        taken = in_finding | tokens_of(anatomy)
        sides = [m for m in longest(raw["S"]) if taken.isdisjoint(range(m.start, m.end))]
        states = [m for m in longest(raw["W"]) if in_finding.isdisjoint(range(m.start, m.end))]
        return findings, anatomy, sides, states

    def _imaged(self, lower: list[str], m: M) -> bool:
        """Whether anatomy `m` names what was imaged: "views of (the) chest", "chest x-ray"."""
        exam = self.ontology.exam_words
        i = m.start - 1
        if i >= 0 and lower[i] == "the":
            i -= 1
        return (i >= 1 and lower[i] == "of" and lower[i - 1] in exam) or (m.end < len(lower) and lower[m.end] in exam)

    def _elliptical(self, ctx: Context, findings: list[M]) -> list[M]:
        """Add the finding named by a coordinated modifier that shares the next mention's head: "no pleural or
        pericardial effusion" holds a pleural effusion too ("pleural" + "effusion" is a form of it)."""
        lower, forms, extra = ctx.lower, self.lex.finding_forms, []
        taken = tokens_of(findings)
        for f in findings:
            j = f.start - 2
            if f.end - f.start < 2 or j < 0 or lower[f.start - 1] not in _ELLIPSIS_JOIN or j in taken \
                    or not ctx.tt.alpha[j]:
                continue
            label = forms.get(" ".join([lower[j], *lower[f.start + 1:f.end]]))
            if label is not None:
                extra.append(M(j, j + 1, label))
        return sorted(findings + extra) if extra else findings

    def _drop_modifiers(self, ctx: Context, findings: list[M], place_words: set[int]) -> list[M]:
        """Drop a mention that only modifies another finding in its noun phrase ("calcified right hilar granuloma",
        "calcified left lung and left hilar granulomas")."""
        out = []
        for i, f in enumerate(findings):
            heads = self.modifier_of[f.label]
            if heads and any(g.label in heads and self._same_phrase(ctx, f, g, place_words)
                             for g in findings[max(0, i - 2):i + 3] if g is not f):
                continue
            out.append(f)
        return out

    def _same_phrase(self, ctx: Context, a: M, b: M, place_words: set[int]) -> bool:
        lo, hi = (a.end, b.start) if a.start < b.start else (b.end, a.start)
        tt = ctx.tt
        if hi - lo > NP_MAX_GAP + 2:
            return False
        places = any(i in place_words for i in range(lo, hi)) and all(
            i in place_words or tt.lower[i] in ("and", ",") for i in range(lo, hi))
        return places or (hi - lo <= NP_MAX_GAP and not any(
            tt.punct[i] or tt.lower[i] in self.ontology.phrase_breaks for i in range(lo, hi)))
