"""The project's single existence engine (present / absent / uncertain) and the `asg_existence` spaCy component.

How it works. One spaCy ``PhraseMatcher`` (on ``LOWER``, the same matching machinery negspacy uses; built by
:class:`~asg_parse.pipeline.cues.CueTable`) holds every cue of ``anatomy_ontology/data/existence.yaml`` (merged
with a user's directory) that the convention profile reads: triggers (negation, uncertainty; a profile maps each
cue class to absent, uncertain, a pseudo-cue or nothing), pseudo-cues, terminators and the clause words
(boundaries, predicates, list words). Overlapping
matches are resolved longest-first, so "no change" (pseudo) swallows its "no" and "cannot be excluded" swallows
"not". For each entity the engine then looks, inside the entity's sentence, for

1. a trigger inside the entity ("no effusion" tagged as one entity) -> that trigger decides;
2. the nearest preceding trigger whose forward scope reaches the entity, and the nearest following trigger whose
   backward scope reaches it. A scope stops at a terminator ("but", ";", "although", ...), at the cue's window,
   and at a clause break: a boundary ("," / "and") followed by a predicate before the entity ("no fever, has
   cough"), or a boundary right before an entity that is directly followed by a predicate ("no effusion,
   atelectasis is present") unless a list word joins them ("no A, B, or C is seen");
3. the nearer of the two wins (negation on a tie). An uncertainty trigger that directly follows a negation
   ("no findings suspicious for") is a negated hedge -> absent.
4. under a profile that reads disjunctions as uncertain, present findings joined only by "or", "/" and commas
   become uncertain ("atelectasis or consolidation").
The label's cue dict carries the cue's class (`class`), which triplets record as `cue_class`.

Why not negspacy's ``Negex`` itself: it only knows negation (no uncertainty), cuts scopes only at terminators
(no clause/list logic, so it over-negates "no effusion, atelectasis is present"), drops the cue that fired, and
its ``process_negations`` needs a second matcher pass for our uncertainty cues. We keep its technique
(PhraseMatcher on LOWER with termsets) and export our cues as a negspacy termset
(:func:`negspacy_termset`) so a negspacy user can run them; ``benchmarks/existence_suite.py`` prints both.
Measured on the NegEx dev half: negspacy with its en_clinical termset 0.975 acc / 0.940 negated F1, negspacy
with OUR termset 0.975 / 0.940 (P 0.911, R 0.971: over-negation), this engine 0.995 / 0.988. The gain is the
scope logic, which negspacy's API cannot host; per doc the two run within a few percent (docs/performance.md).
"""
from __future__ import annotations

import json
from bisect import bisect_left
from operator import itemgetter
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from anatomy_ontology import Convention, Cue, Ontology

from .cues import ABSENT, BACK, FWD, PRESENT, UNCERTAIN, CueTable, Trigger, resolve_convention
from .scopes import inside_trigger, negating, reaches_forward, reaches_backward, spaced_windows


if not Span.has_extension("asg_existence"):
    Span.set_extension("asg_existence", default=None)
if not Span.has_extension("asg_existence_cue"):
    Span.set_extension("asg_existence_cue", default=None)


from .sentences import set_sentence_starts  # noqa: E402  (the project's one radiology sentence splitter)
from .phrases import Match  # noqa: E402
from .tokens import (SentenceIndex, TokenColumns, TokenTable, ext_key, has_table, release,  # noqa: E402
                     sentence_index, tokens)


def _sentences(doc: Doc, index: Optional[SentenceIndex]) -> SentenceIndex:
    """The doc's sentence index; for a doc without boundaries, the project's splitter's, not stored on the doc (a
    user's doc keeps its annotation; the component's job is existence)."""
    if index is not None:
        return index
    if not doc.has_annotation("SENT_START"):
        return set_sentence_starts(doc, store=False)
    return sentence_index(doc)


_trigger_start = itemgetter(0)  # of a trigger


_PRESENT: tuple[str, None] = (PRESENT, None)
_JOIN_WORDS = 4  # most words of a disjunction's join that are no mention ("edema, alveolar damage, or infection")


class ExistenceEngine:
    """Classify spans as present / absent / uncertain from the ontology's cues; build once, reuse per doc.

    Split at its natural seams: the :class:`~asg_parse.pipeline.cues.CueTable` holds what a convention reads as a
    cue and finds the cues of a doc (the matcher and its filing); :mod:`~asg_parse.pipeline.scopes` holds the
    scope rules, pure functions over token positions; this class holds the decision per span (which trigger
    governs it, and the convention's one rule outside a cue's own scope: disjunctions).
    """

    def __init__(self, ontology: Union[Ontology, Sequence[Cue]], vocab: Vocab, tokenizer: Any = None,
                 convention: Union[str, Convention, None] = None, objects: Optional[Iterable[str]] = None):
        """`tokenizer` (default: spaCy's English one) splits the cue texts like the reports will be split;
        `convention`: the profile (or its name in the ontology; default `asg`) that says what each cue class means;
        `objects`: the findings that name objects (default: the ontology's)."""
        tokenizer = tokenizer if tokenizer is not None else spacy.blank("en", vocab=vocab).tokenizer
        self.table = CueTable(ontology.cues if isinstance(ontology, Ontology) else ontology,
                              resolve_convention(ontology, convention), vocab, tokenizer)
        self.cues, self.convention, self.vocab = self.table.cues, self.table.convention, vocab
        # findings that name objects (existence.yaml `objects`): "pacer/AICD" names two devices, not alternatives
        if objects is None:
            objects = ontology.objects if isinstance(ontology, Ontology) else ()
        self.objects = frozenset(objects)

    @property
    def matcher(self) -> Any:
        """The PhraseMatcher of the cues (the parser runs it in its one phrase walk)."""
        return self.table.matcher

    def classify(self, doc: Doc, spans: Iterable[Span]) -> None:
        """Set ``span._.asg_existence`` and ``span._.asg_existence_cue`` on every span of `doc`."""
        if not isinstance(spans, list):
            spans = list(spans)
        if not spans:
            return
        had_table = has_table(doc)
        if had_table or self.table.disjunction:  # (a disjunction rule reads docs without a trigger too)
            store_labels(doc, spans, self.label_all(doc, spans))
            if not had_table:
                release(doc)  # built here for the cue texts: do not leave it on a user's doc
            return
        found = self.table.triggered(doc)
        if found is None:  # no trigger (most short docs): no token table, no sentence split
            store_labels(doc, spans, [_PRESENT] * len(spans))
            return
        matches, index, columns = found  # (read without a token table: none to release)
        trig, *scanned = self.table.scan(doc, False, matches)
        if index.inner_space and trig:  # a window counts words, not the line breaks of a wrapped report
            trig = spaced_windows(trig, columns.space)
        store_labels(doc, spans, self._label_spans(doc, spans, index, trig, *scanned, chars=columns))

    def label_all(self, doc: Doc, spans: Sequence[Any], index: Optional[SentenceIndex] = None,
                  matches: Optional[list[Match]] = None) -> list[tuple[str, Optional[dict[str, Any]]]]:
        """(existence, cue) of each span, given as anything with token `start` and `end` (Span or tuple);
        `index`: the doc's sentence index, and `matches`: the cue matcher's, when the caller has them."""
        if not spans:
            return []
        sents = index if index is not None else _sentences(doc, None)
        matches = self.table.match(doc, sents.inner_space, matches)
        trig, cut_fwd, cut_back, bound, pred, lists, shadows = self.table.scan(doc, False, matches)
        if sents.inner_space and trig:  # a window counts words, not the line breaks of a wrapped report
            trig = spaced_windows(trig, tokens(doc).space)
        if self.table.disjunction and len(spans) > 1:
            out = self._label_spans(doc, spans, sents, trig, cut_fwd, cut_back, bound, pred, lists, shadows)
            self._disjunctions(doc, spans, sents, matches, bound, out)
            return out
        return self._label_spans(doc, spans, sents, trig, cut_fwd, cut_back, bound, pred, lists, shadows)

    def _label_spans(self, doc: Doc, spans: Sequence[Any], sents: SentenceIndex, trig: list[Trigger],
                     cut_fwd: list[int], cut_back: list[int], bound: list[int], pred: list[int], lists: list[int],
                     shadows: list[tuple[int, int, Trigger]], chars: Union[TokenTable, TokenColumns, None] = None
                     ) -> list[tuple[str, Optional[dict[str, Any]]]]:
        """(existence, cue) of each span from the doc's scanned cues (`CueTable.scan`); `chars` gives the cue texts
        (default: the doc's token table)."""
        if not trig and not shadows:
            return [_PRESENT] * len(spans)
        if chars is None:
            chars = tokens(doc)
        starts, sent_of = sents.starts, sents.ids
        trig_starts = list(map(_trigger_start, trig))
        ntrig = len(trig)
        stops = cut_fwd + bound  # what can end or split a forward scope
        stops.sort()
        nstops = len(stops)
        out: list[tuple[str, Optional[dict[str, Any]]]] = []
        for span in spans:
            s0, s1 = span.start, span.end
            k = sent_of[s0]
            ss, se = starts[k], starts[k + 1]
            tr, tr_starts, n = trig, trig_starts, ntrig
            if shadows:
                for ps, pe, t in shadows:  # "no change in vision" tagged as the entity: the pseudo reading is wrong
                    if ps < s1 and s0 < pe:
                        tr = sorted(tr + [t], key=_trigger_start)
                        tr_starts, n = [x[0] for x in tr], len(tr)
            # tr is sorted by start: the triggers from i0 on start inside or after the entity, those before it
            # start before it; only those of the entity's sentence (or inside the entity) can govern it
            i0 = bisect_left(tr_starts, s0)
            if (i0 == n or (tr_starts[i0] >= se and tr_starts[i0] >= s1)) and (i0 == 0 or tr_starts[i0 - 1] < ss):
                out.append(_PRESENT)  # no trigger in the sentence or the entity (the common case, decided early)
                continue
            t = inside_trigger(tr, tr_starts, i0, s0, s1) if i0 < n and tr_starts[i0] < s1 else None
            if t is None:
                fwd = back = None
                i = i0 - 1
                while i >= 0 and tr_starts[i] >= ss:  # nearest preceding trigger whose scope reaches the entity
                    t = tr[i]
                    if t[1] <= s1 and t[3] & FWD:
                        j = bisect_left(stops, t[1])
                        if j == nstops or stops[j] >= s0:  # nothing between: only the window can stop the scope
                            if t[4] is None or s0 - t[1] <= t[4]:
                                fwd = t
                                break
                        elif reaches_forward(t, s0, s1, se, cut_fwd, bound, pred, lists, spans):
                            fwd = t
                            break
                    i -= 1
                i = i0
                while i < n and tr_starts[i] < se:  # nearest following trigger whose scope reaches the entity
                    t = tr[i]
                    if t[1] > s1 and t[3] & BACK and reaches_backward(t, s1, cut_back, bound, pred):
                        back = t
                        break
                    i += 1
                if fwd is None:
                    if back is None:
                        out.append(_PRESENT)
                        continue
                    t = back
                elif back is None:
                    t = fwd
                else:
                    gf, gb = max(0, s0 - fwd[1]), max(0, back[0] - s1)
                    t = fwd if (gf < gb or (gf == gb and (fwd[2] or not back[2]))) else back
            cls = t[7]
            if t[2]:
                existence, first = ABSENT, t[0]
            else:
                neg = negating(t, tr, bound, cut_fwd, ss, spans)
                if neg is None:
                    existence, first = UNCERTAIN, t[0]
                else:
                    existence, first, cls = ABSENT, neg[0], neg[7]
            # the cue: tokens [first, t.end), from the governing negation when there is one; a fresh dict per span
            c0, c1 = chars.char_span(first, t[1])
            out.append((existence, {"text": chars.span_text(first, t[1]), "start": c0, "end": c1, "class": cls}))
        return out

    def _disjunctions(self, doc: Doc, spans: Sequence[Any], sents: SentenceIndex, matches: list[Match],
                      bound: list[int], out: list[tuple[str, Optional[dict[str, Any]]]]) -> None:
        """Under a convention that reads disjunctions as uncertain: the present spans of a run of spans joined only by
        commas and disjunction words, with at least one disjunction ("atelectasis, aspiration, or pneumonia";
        "atelectasis/consolidation"), become uncertain, the first disjunction as their cue. A join may also hold a
        few words that are no mention, after a comma or a disjunction, when the join has a disjunction ("edema,
        alveolar damage, or infection"; "effusion or possible atelectasis")."""
        joins: dict[int, tuple[int, int, str]] = {}  # token -> the disjunction cue over it (start, end, class)
        disjunction = self.table.disjunction
        for mid, s, e in matches:
            cls = disjunction.get(mid)
            if cls is not None:
                for i in range(s, e):
                    joins[i] = (s, e, cls)
        if not joins:
            return
        tt = tokens(doc)
        words, space, sent_of = tt.text, tt.space, sents.ids
        commas = {b for b in bound if not words[b].isalpha()}  # boundary punctuation (","), not "and"
        objects = self.objects
        order = sorted((k for k in range(len(spans)) if _finding_of(spans[k]) not in objects),
                       key=lambda k: (spans[k].start, spans[k].end))
        if len(order) < 2:
            return
        run, cue = [order[0]], None
        cue_words: Optional[tuple[set[int], set[int]]] = None  # the tokens of hedges and of the other cues
        for a, b in zip(order, order[1:]):
            a_end, b_start = spans[a].end, spans[b].start
            joined = sent_of[spans[a].start] == sent_of[b_start] and all(
                i in joins or i in commas or space[i] for i in range(a_end, b_start))
            if not joined and sent_of[spans[a].start] == sent_of[b_start] and b_start - a_end <= _JOIN_WORDS + 3 \
                    and (a_end in joins or a_end in commas) and any(i in joins for i in range(a_end, b_start)):
                if cue_words is None:
                    cue_words = self.table.cue_tokens(matches)
                joined = _loose_join(range(a_end, b_start), joins, commas, space, tt.alpha, bound, *cue_words)
            if joined:
                run.append(b)
                if cue is None:
                    cue = next((joins[i] for i in range(a_end, b_start) if i in joins), None)
                continue
            self._hedge_run(run, cue, tt, out, spans)
            run, cue = [b], None
        self._hedge_run(run, cue, tt, out, spans)

    @staticmethod
    def _hedge_run(run: list[int], cue: Optional[tuple[int, int, str]], tt: Any,
                   out: list[tuple[str, Optional[dict[str, Any]]]], spans: Sequence[Any]) -> None:
        """Make the present spans of `run` uncertain by the disjunction `cue` (None: not a disjunction)."""
        if cue is None or len(run) < 2 or len({_finding_of(spans[k]) for k in run}) < 2:
            return  # (one finding named twice, "fluid overload/edema", is no alternative)
        start, end, cls = cue
        c0, c1 = tt.idx[start], tt.idx[end - 1] + len(tt.text[end - 1])
        for k in run:
            if out[k][0] == PRESENT:
                out[k] = (UNCERTAIN, {"text": tt.doc_text()[c0:c1], "start": c0, "end": c1, "class": cls})

    def label(self, doc: Doc, span: Span) -> tuple[str, Optional[dict[str, Any]]]:
        """The (existence, cue) of one span, without setting attributes."""
        return self.label_all(doc, [span])[0]

    # ------------------------------------------------------------------ internals
def _loose_join(gap: range, joins: dict[int, Any], commas: set[int], space: Sequence[int], alpha: Sequence[int],
                bound: list[int], hedges: set[int], cues: set[int]) -> bool:
    """Whether the tokens `gap` between two mentions join them in a disjunction with words that are no mention: a
    list item between two separators (commas or disjunctions: "edema, alveolar damage, or infection"; alphabetic
    words, no cue), and after the last separator only a hedge ("effusion or possible atelectasis")."""
    seps = [i for i in gap if i in joins or i in commas]
    last = seps[-1]
    words = [i for i in range(gap.start, last) if i not in joins and i not in commas and not space[i]]
    if len(words) > _JOIN_WORDS or any(not alpha[i] or i in cues or i in hedges or i in bound for i in words):
        return False
    return all(space[i] or i in hedges for i in range(last + 1, gap.stop))


def _finding_of(span: Any) -> Optional[str]:
    """The finding id of a span given to the engine: a (start, end, finding) mention or a Span labelled with it."""
    label = getattr(span, "label_", None)
    if label is not None:
        return label
    return span[2] if isinstance(span, tuple) and len(span) > 2 else None


_LABEL_KEY, _CUE_KEY = ext_key("asg_existence")[:2], ext_key("asg_existence_cue")[:2]  # (+ character offsets)


def store_labels(doc: Doc, spans: Iterable[Span], labels: Iterable[tuple[str, Optional[dict[str, Any]]]]) -> None:
    """Set ``span._.asg_existence`` and ``span._.asg_existence_cue`` (written straight into ``doc.user_data``,
    keyed by character offsets as spaCy keys them, without an Underscore object per span)."""
    user_data = doc.user_data
    for span, (value, cue) in zip(spans, labels):
        chars = (span.start_char, span.end_char)
        user_data[_LABEL_KEY + chars] = value
        user_data[_CUE_KEY + chars] = cue


def negspacy_termset(ontology: Union[Ontology, Sequence[Cue]]) -> dict[str, list[str]]:
    """Our negation cues as a negspacy ``neg_termset`` (uncertainty and clause words have no negspacy slot); a
    negation cue that the default profile reads as present ("no change in X") is a pseudo-negation."""
    cues = list(ontology.cues if isinstance(ontology, Ontology) else ontology)
    default = ontology.convention(None) if isinstance(ontology, Ontology) else None
    ts: dict[str, list[str]] = {"pseudo_negations": [], "preceding_negations": [], "following_negations": [],
                                "termination": []}
    for c in cues:
        if c.kind == "pseudo" or (c.kind == "negation" and default is not None and default.reading(c) == "present"):
            ts["pseudo_negations"].append(c.text)
        elif c.kind == "terminator":
            ts["termination"].append(c.text)
        elif c.kind == "negation":
            if c.direction in ("preceding", "both"):
                ts["preceding_negations"].append(c.text)
            if c.direction in ("following", "both"):
                ts["following_negations"].append(c.text)
    return ts


class ExistenceComponent:
    """spaCy component: classify `doc.ents` (filtered by `ent_types`) and the spans of `doc.spans[k]`.

    The engine is built on first use, so that a saved pipeline whose cues come from ``cues.json`` (written by
    :meth:`to_disk`) loads even when the original `ontology` directory is gone.
    """

    def __init__(self, nlp: Language, name: str, ent_types: Sequence[str], span_keys: Sequence[str],
                 ontology: Optional[str], convention: Optional[str] = None):
        self.name = name
        self.vocab = nlp.vocab
        self.tokenizer = nlp.tokenizer
        self.ent_types = set(ent_types or [])
        self.span_keys = list(span_keys or [])
        self.ontology = ontology
        self.convention = convention
        self._engine: Optional[ExistenceEngine] = None
        if ontology is not None and not Path(ontology).is_dir():
            self._missing = ontology  # reported on first use unless from_disk supplies the cues
        else:
            self._missing = None
            from .resources import get_ontology

            get_ontology(ontology).convention(convention)  # an unknown profile fails now, naming the known ones

    @property
    def engine(self) -> ExistenceEngine:
        if self._engine is None:
            if self._missing is not None:
                raise ValueError(f"asg_existence: ontology directory not found: {self._missing}")
            from .resources import get_ontology

            self._engine = ExistenceEngine(get_ontology(self.ontology), self.vocab, self.tokenizer, self.convention)
        return self._engine

    def spans(self, doc: Doc) -> list[Span]:
        """The spans this component classifies in `doc`."""
        ent_types = self.ent_types
        out = [e for e in doc.ents if e.label_ in ent_types] if ent_types else list(doc.ents)
        for key in self.span_keys:
            if key in doc.spans:
                out.extend(doc.spans[key])
        return out

    def __call__(self, doc: Doc) -> Doc:
        self.engine.classify(doc, self.spans(doc))
        return doc

    def pipe(self, docs: Iterable[Doc], batch_size: int = 128) -> Iterable[Doc]:
        for doc in docs:
            yield self(doc)

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        data = [c.model_dump(exclude_none=True, by_alias=True) for c in self.engine.cues]
        (path / "cues.json").write_text(json.dumps(data, indent=0), encoding="utf-8")
        (path / "convention.json").write_text(self.engine.convention.model_dump_json(exclude_none=True),
                                              encoding="utf-8")
        (path / "objects.json").write_text(json.dumps(sorted(self.engine.objects)), encoding="utf-8")

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = ()) -> "ExistenceComponent":
        f = Path(path) / "cues.json"
        if f.exists():
            conv_file, obj_file = Path(path) / "convention.json", Path(path) / "objects.json"
            try:
                cues = [Cue.model_validate(c) for c in json.loads(f.read_text(encoding="utf-8"))]
                convention = Convention.model_validate_json(conv_file.read_text(encoding="utf-8")) \
                    if conv_file.exists() else self.convention
                objects = json.loads(obj_file.read_text(encoding="utf-8")) if obj_file.exists() else None
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{f}: invalid saved cue list or convention: {str(exc).splitlines()[0]}") from None
            self._engine = ExistenceEngine(cues, self.vocab, self.tokenizer, convention, objects)
            self._missing = None
        return self


@Language.factory("asg_existence", default_config={"ent_types": [], "span_keys": [], "ontology": None,
                                                   "convention": None})
def make_existence(nlp: Language, name: str, ent_types: list[str], span_keys: list[str],
                   ontology: Optional[str], convention: Optional[str]) -> ExistenceComponent:
    """Factory of the `asg_existence` component (entry point ``asg_existence``); `convention` names the labelling
    profile (default `asg`; see ``conventions`` in existence.yaml)."""
    return ExistenceComponent(nlp, name, ent_types, span_keys, ontology, convention)
