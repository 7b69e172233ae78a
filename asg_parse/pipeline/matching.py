"""Mention matching for `asg_mentions`: the finding, anatomy, side-word and state-word matches of a doc, each kind
non-overlapping, from the ontology's surface forms (`linking.Linker` then links them)."""
from __future__ import annotations

from functools import partial
from itertools import chain
from typing import NamedTuple, Optional, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc

from anatomy_ontology import Ontology

from .lexicon import Lexicon, compile_lexicon
from .phrases import Match, PhraseWalk, Route
from .tokens import SentenceIndex, sentence_index, tokens

NP_MAX_GAP = 5  # tokens between a modifier and the finding it describes in one noun phrase
_ELLIPSIS_JOIN = {"and", "or", "/"}  # "pleural or pericardial effusion"


class M(NamedTuple):
    """A matched token range [start, end) with its label (finding id, "R|region", "Z|zone", "G|group", side, state word)."""

    start: int
    end: int
    label: str


# an M from a (start, end, label) tuple, without the Python-level M.__new__
new_m = partial(tuple.__new__, M)
_MODIFIERS = 4  # the bucket of the findings that only modify others (they are in the findings bucket 0 too)


_STOP = ((0, 1 << 62, 1 << 62),)  # a match after all others, which closes the last run


def _longest_ids(matches: list[tuple[int, int, int]], labels: Union[dict[int, str], list[str]],
                 head_final: bool = False) -> list[M]:
    """Non-overlapping matches of PhraseMatcher (match id, start, end) triples as Ms, longest first (`labels`:
    match id -> label). Ties go to the earlier match, or with `head_final` to the later one, the head of an English
    noun phrase ("right lung base": the zone "lung base" with side "right", not the region "right lung" plus
    "base"). The matches must be in start order (as a PhraseMatcher or `PhraseWalk` gives them); they are resolved
    one run of overlapping matches at a time, which picks the same ones as `_resolve`."""
    if not matches:
        return []
    out: list[M] = []
    append = out.append
    it = iter(matches)
    first = next(it)  # the first match of the current run
    end = first[2]  # where the current run ends
    run: Optional[list[tuple[int, int, int]]] = None  # the whole run, once it has more than one match
    for m in chain(it, _STOP):
        if m[1] >= end:  # overlaps nothing before it: the run before it is complete
            if run is None:
                append(new_m((first[1], end, labels[first[0]])))
            elif len(run) == 2:  # the longer, or on a tie the earlier (with `head_final` the later) one
                a, b = run
                la, lb = a[2] - a[1], b[2] - b[1]
                a = b if lb > la or (lb == la and head_final and b[2] > a[2]) else a
                append(new_m((a[1], a[2], labels[a[0]])))
            else:
                _add_run(out, run, end, labels, head_final)
            first, run, end = m, None, m[2]
        else:
            if run is None:
                run = [first, m]
            else:
                run.append(m)
            if m[2] > end:
                end = m[2]
    return out


def _add_run(out: list[M], run: list[tuple[int, int, int]], end: int, labels: Union[dict[int, str], list[str]],
             head_final: bool) -> None:
    """Append what `_longest_ids` keeps of a run of three or more overlapping (match id, start, end) matches in start
    order, which ends at `end`: the first match spanning the whole run (it overlaps all the others, and no other
    is longer), else as `_resolve` picks them."""
    start = run[0][1]
    for m in run:
        if m[1] == start and m[2] == end:
            out.append(new_m((start, end, labels[m[0]])))
            return
    out += _resolve([(s, e, labels[i]) for i, s, e in run], head_final)


def _longest_key(m: tuple[int, int, str]) -> tuple[int, int]:
    return m[1] - m[0], -m[0]


def _head_final_key(m: tuple[int, int, str]) -> tuple[int, int]:
    return m[1] - m[0], m[1]


def _resolve(matches: list[tuple[int, int, str]], head_final: bool) -> list[M]:
    """`_longest_ids` over (start, end, label) matches in any order: take them longest first where no taken token
    overlaps; sorted."""
    out: list[M] = []
    taken: set[int] = set()
    for m in sorted(matches, key=_head_final_key if head_final else _longest_key, reverse=True):
        s, e = m[0], m[1]
        if s not in taken and (e - s == 1 or taken.isdisjoint(range(s + 1, e))):
            out.append(new_m(m))
            taken.update(range(s, e))
    out.sort()
    return out


def tokens_of(spans: list[M]) -> set[int]:
    """The token indices covered by `spans`."""
    return {i for s, e, _ in spans for i in range(s, e)}  # unpacked: cheaper than NamedTuple attributes


class Context:
    """Per-document state shared by the matching and linking steps."""

    __slots__ = ("tt", "sent", "lower", "boundaries", "warnings", "used_sides", "in_finding", "name_places",
                 "part_starts")

    def __init__(self, doc: Doc, lex: Lexicon, index: Optional[SentenceIndex] = None):
        self.tt = tt = tokens(doc)
        self.sent = (index if index is not None else sentence_index(doc)).ids
        self.lower = tt.lower
        self.boundaries = lex.boundaries
        self.warnings: list[str] = []
        self.used_sides: set[int] = set()
        self.in_finding: set[int] = set()  # the tokens of the finding mentions (`Matcher.match` sets it)
        self.name_places: list[M] = []  # anatomy that only names a finding ("endotracheal" tube), by `Matcher.match`
        self.part_starts: dict[tuple[int, int], int] = {}  # a whole's span -> where the part named of it starts

    def between(self, a_end: int, b_start: int) -> tuple[bool, int]:
        """(no clause boundary between, number of commas between) for tokens [a_end, b_start). The hot loops of
        `anatomy.AnatomyReader.side_for` and linking.py (`_statements`, `_best_finding`) inline this rule: change
        them with it."""
        words = self.lower[a_end:b_start] if a_end <= b_start else self.lower[b_start:a_end]
        return self.boundaries.isdisjoint(words), words.count(",")


class Matcher:
    """The doc's mentions of each kind from one PhraseMatcher over the ontology's forms; built once."""

    def __init__(self, nlp: Language, ontology: Ontology):
        self.ontology = ontology
        self.lex = compile_lexicon(nlp, ontology)
        # match id -> (bucket, label): findings 0, anatomy 1 ("R|right lung", "Z|lung base", "G|bibasilar"),
        # side words 2, state words 3
        order = {"F": 0, "A": 1, "S": 2, "W": 3}
        self.buckets = {mid: (order["A"], f"{kind}|{value}") if kind in ("R", "Z", "G") else (order[kind], value)
                        for mid, (kind, value) in self.lex.kinds.items()}
        # finding id -> the findings it only modifies (those with any)
        self.modifier_of = {f.id: set(f.modifier_of) for f in ontology.findings.values() if f.modifier_of}
        # match id -> the buckets it goes to (a finding that only modifies others to findings and _MODIFIERS)
        routes = {mid: (bucket, _MODIFIERS) if bucket == 0 and label in self.modifier_of else (bucket,)
                  for mid, (bucket, label) in self.buckets.items()}
        self.route: Route = (_MODIFIERS + 1, routes)
        self.label_of = {mid: label for mid, (_, label) in self.buckets.items()}
        self._walk: Optional[PhraseWalk] = None

    def bucketed(self, lower: list[str], space: Optional[Sequence[int]] = None) -> list[list[Match]]:
        """The lexicon's matches of the words `lower`, by bucket (each in the matcher's order); `space` flags the
        whitespace tokens, which do not break a form (`PhraseWalk.find`)."""
        if self._walk is None:
            self._walk = PhraseWalk([self.lex.matcher], [self.route])
        return self._walk.find(lower, space)

    def match(self, ctx: Context, buckets: Optional[list[list[Match]]] = None
              ) -> tuple[list[M], list[M], list[M], list[M]]:
        """Findings (without pure modifiers), anatomy, free side words and state words, each non-overlapping
        (`buckets`: the lexicon's matches by bucket, as `bucketed` gives them, when the caller has them)."""
        # the matcher's (match id, start, end) of each bucket; `found` holds all the findings
        if buckets is None:
            buckets = self.bucketed(ctx.lower, ctx.tt.space)
        found, places, side_words, state_words, modifiers = buckets
        labels = self.label_of
        if modifiers:
            findings = self._drop_modifiers(ctx, _longest_ids(found, labels), places, side_words)
        else:
            findings = _longest_ids(found, labels)
        findings = self._elliptical(ctx, findings)
        in_finding = tokens_of(findings)
        names, exam, lower = self.ontology.name_words, self.ontology.exam_words, ctx.lower
        n = len(lower)
        anatomy = []
        long_names = whole_after = False
        parts = self.ontology.part_words
        for m in _longest_ids(places, labels, head_final=True):
            s, e = m[0], m[1]
            if e - s == 1:
                if s in in_finding and lower[s] in names:
                    ctx.name_places.append(m)
                    continue  # a finding's own word naming the organ ("heart" in "heart size is enlarged")
            elif not in_finding.isdisjoint(range(s, e)):
                if in_finding.issuperset(range(s, e)) and " ".join(lower[s:e]) in names:
                    ctx.name_places.append(m)
                    continue
                if m[2][0] != "Z":
                    long_names = True  # a region or group name of several words with a finding word in it
            # what was imaged: "views of (the) chest", "chest x-ray"
            i = s - 2 if s >= 1 and lower[s - 1] == "the" else s - 1
            if (i >= 1 and lower[i] == "of" and lower[i - 1] in exam) or (e < n and lower[e] in exam):
                continue
            anatomy.append(m)
            if lower[e - 1] in parts and e < n and lower[e] == "of":
                whole_after = True
        if whole_after:
            anatomy = self._wholes(lower, anatomy, in_finding, parts, ctx.part_starts)
        # a finding word inside a longer region or group name is part of that name ("cardiomediastinal
        # silhouettes"); zone phrases may hold one ("right upper lobectomy")
        if long_names:
            long_ = [a for a in anatomy if a.end - a.start > 1 and a.label[0] != "Z"]
            inside = [f for f in findings for a in long_
                      if a.start <= f.start and f.end <= a.end and a.end - a.start > f.end - f.start]
            if inside:
                findings = [f for f in findings if f not in inside]
                in_finding = tokens_of(findings)
        sides = _longest_ids(side_words, labels) if side_words else side_words
        if sides:
            taken = in_finding | tokens_of(anatomy)
            sides = [m for m in sides if taken.isdisjoint(range(m[0], m[1]))]
        states = [m for m in _longest_ids(state_words, labels)
                  if (m[0] not in in_finding if m[1] - m[0] == 1 else in_finding.isdisjoint(range(m[0], m[1])))] \
            if state_words else []
        ctx.in_finding = in_finding
        return findings, anatomy, sides, states

    @staticmethod
    def _wholes(lower: list[str], anatomy: list[M], in_finding: set[int], parts: frozenset[str],
                part_starts: dict[tuple[int, int], int]) -> list[M]:
        """Without the parts named of a whole: "superior segment of the left lower lobe" lies in the left lower lobe
        (a `part_words` word ends the part; "of", "the" and a side word may come before the whole). The whole's
        phrase starts where the part does (`part_starts`)."""
        out = []
        for a, b in zip(anatomy, anatomy[1:] + [None]):
            if b is not None and lower[a.end - 1] in parts and lower[a.end] == "of" and b.start - a.end <= 3 \
                    and in_finding.isdisjoint(range(a.end, b.start)):
                part_starts[(b.start, b.end)] = part_starts.pop((a.start, a.end), a.start)
                continue
            out.append(a)
        return out

    def _elliptical(self, ctx: Context, findings: list[M]) -> list[M]:
        """Add the finding named by a coordinated modifier that shares the next mention's head: "no pleural or
        pericardial effusion" holds a pleural effusion too ("pleural" + "effusion" is a form of it)."""
        lower, forms, extra = ctx.lower, self.lex.finding_forms, []
        # mentions of several words after "and", "or" or "/"
        joined = [f for f in findings if f[1] - f[0] > 1 and f[0] > 1 and lower[f[0] - 1] in _ELLIPSIS_JOIN]
        if not joined:
            return findings
        taken = tokens_of(findings)
        alpha = ctx.tt.alpha
        for f in joined:
            j = f.start - 2
            if not alpha[j] or j in taken:
                continue
            label = forms.get(" ".join([lower[j], *lower[f.start + 1:f.end]]))
            if label is not None:
                extra.append(M(j, j + 1, label))
        return sorted(findings + extra) if extra else findings

    def _drop_modifiers(self, ctx: Context, findings: list[M], places: list[tuple[int, int, int]],
                        side_words: list[tuple[int, int, int]]) -> list[M]:
        """Drop a mention that only modifies another finding in its noun phrase ("calcified right hilar granuloma",
        "calcified left lung and left hilar granulomas"); `places`, `side_words`: the anatomy and side matches
        (match id, start, end)."""
        out = []
        modifier_of = self.modifier_of
        place_words: Optional[set[int]] = None
        for i, f in enumerate(findings):
            heads = modifier_of.get(f.label)
            if heads:
                if place_words is None:
                    place_words = {i for _, s, e in places + side_words for i in range(s, e)}
                if any(g.label in heads and self._same_phrase(ctx, f, g, place_words)
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
