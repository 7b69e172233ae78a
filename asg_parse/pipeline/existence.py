"""The project's single existence engine (present / absent / uncertain) and the `asg_existence` spaCy component.

How it works. One spaCy ``PhraseMatcher`` (on ``LOWER``, the same matching machinery negspacy uses) holds every
cue of ``anatomy_ontology/data/existence.yaml`` (merged with a user's directory): triggers (negation,
uncertainty), pseudo-cues, terminators and the clause words (boundaries, predicates, list words). Overlapping
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

Why not negspacy's ``Negex`` itself: it only knows negation (no uncertainty), cuts scopes only at terminators
(no clause/list logic, so it over-negates "no effusion, atelectasis is present"), drops the cue that fired, and
its ``process_negations`` needs a second matcher pass for our uncertainty cues. We keep its technique
(PhraseMatcher on LOWER with termsets) and export our cues as a negspacy termset
(:func:`negspacy_termset`) so a negspacy user can run them; ``benchmarks/existence_suite.py`` prints both.
Measured on the NegEx dev half: negspacy with its en_clinical termset 0.975 acc / 0.940 negated F1, negspacy
with OUR termset 0.975 / 0.940 (P 0.911, R 0.971: over-negation), this engine 0.995 / 0.988. The gain is the
scope logic, which negspacy's API cannot host; its per-doc time is no better than ours.
"""
from __future__ import annotations

import json
from bisect import bisect_left
from itertools import compress, islice
from operator import itemgetter, not_
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import spacy
from spacy.attrs import IDX, IS_SPACE, LOWER, ORTH, SENT_START
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from anatomy_ontology import Cue, Ontology

PRESENT, ABSENT, UNCERTAIN = "present", "absent", "uncertain"
_NEG, _UNC, _PSEUDO, _TERM, _BOUND, _PRED, _LIST = range(7)
_KIND_CODE = {"negation": _NEG, "uncertainty": _UNC, "pseudo": _PSEUDO, "terminator": _TERM,
              "boundary": _BOUND, "predicate": _PRED, "list": _LIST}
_FWD, _BACK = 1, 2
_DIR_CODE = {"preceding": _FWD, "following": _BACK, "both": _FWD | _BACK}
# where `_scan` files a cue: one code per (kind, direction), so that one dict look-up decides
_C_TRIG, _C_PRED, _C_BOUND, _C_TERM, _C_TERM_FWD, _C_TERM_BACK, _C_LIST, _C_PSEUDO = range(8)
_CUE_WALK_ATTRS = [LOWER, IS_SPACE, SENT_START, ORTH, IDX]
_NEGATED_HEDGE_GAP = 6  # a negation ending at most this many tokens before a hedge (same clause) negates it

if not Span.has_extension("asg_existence"):
    Span.set_extension("asg_existence", default=None)
if not Span.has_extension("asg_existence_cue"):
    Span.set_extension("asg_existence_cue", default=None)


from .sentences import set_sentence_starts  # noqa: E402  (the project's one radiology sentence splitter)
from .phrases import LowerPhrases, Match, PhraseWalk  # noqa: E402
from .tokens import (SentenceIndex, ext_key, has_table, index_from_starts, release, sentence_index,  # noqa: E402
                     tokens)


def _sentences(doc: Doc, index: Optional[SentenceIndex]) -> SentenceIndex:
    """The doc's sentence index; for a doc without boundaries, the project's splitter's, not stored on the doc (a
    user's doc keeps its annotation; the component's job is existence)."""
    if index is not None:
        return index
    if not doc.has_annotation("SENT_START"):
        return set_sentence_starts(doc, store=False)
    return sentence_index(doc)


_trigger_start = itemgetter(0)  # of a trigger


# A trigger is a plain tuple (start, end, neg, dirs, window, back_window, inside): built per match, read in the
# per-entity loops, where tuple unpacking is the cheapest access.
_Trigger = tuple[int, int, bool, int, Optional[int], Optional[int], bool]
_PRESENT: tuple[str, None] = (PRESENT, None)


class ExistenceEngine:
    """Classify spans as present / absent / uncertain from the ontology's cues; build once, reuse per doc."""

    def __init__(self, ontology: Union[Ontology, Sequence[Cue]], vocab: Vocab, tokenizer: Any = None):
        """`tokenizer` (default: spaCy's English one) splits the cue texts like the reports will be split."""
        cues = list(ontology.cues if isinstance(ontology, Ontology) else ontology)
        self.cues: list[Cue] = cues
        self.vocab = vocab
        tokenizer = tokenizer if tokenizer is not None else spacy.blank("en", vocab=vocab).tokenizer
        self.matcher = LowerPhrases(vocab)
        # for the triggers, match id -> (neg, dirs, window, back_window, inside)
        self._trigger: dict[int, tuple[bool, int, Optional[int], Optional[int], bool]] = {}
        self._code: dict[int, int] = {}  # match id -> where `_scan` files the cue (_C_*)
        self._walk: Optional[PhraseWalk] = None
        self._hash_walk: Optional[PhraseWalk] = None
        for i, cue in enumerate(cues):
            key = f"asg_cue_{i}"
            self.matcher.add(key, [tokenizer(cue.text)])
            mid = vocab.strings[key]
            kind, dirs = _KIND_CODE[cue.kind], _DIR_CODE[cue.direction]
            self._code[mid] = _code(kind, dirs)
            if kind <= _UNC:
                self._trigger[mid] = (kind == _NEG, dirs, cue.window, cue.back_window, cue.inside)

    # ------------------------------------------------------------------ public
    def classify(self, doc: Doc, spans: Iterable[Span]) -> None:
        """Set ``span._.asg_existence`` and ``span._.asg_existence_cue`` on every span of `doc`."""
        spans = list(spans)
        if not spans:
            return
        had_table = has_table(doc)
        matches = index = None
        if not had_table:
            found = self._cue_walk(doc)
            if found is None:  # no trigger (most short docs): no token table, no sentence split
                store_labels(doc, spans, [_PRESENT] * len(spans))
                return
            matches, index = found
        store_labels(doc, spans, self.label_all(doc, spans, index, matches or None))
        if not had_table:
            release(doc)  # built here for the cue texts: do not leave it on a user's doc

    def label_all(self, doc: Doc, spans: Sequence[Any], index: Optional[SentenceIndex] = None,
                  matches: Optional[list[Match]] = None) -> list[tuple[str, Optional[dict[str, Any]]]]:
        """(existence, cue) of each span, given as anything with token `start` and `end` (Span or tuple);
        `index`: the doc's sentence index, and `matches`: the cue matcher's, when the caller has them."""
        if not spans:
            return []
        sents = index if index is not None else _sentences(doc, None)
        trig, cut_fwd, cut_back, bound, pred, lists, shadows = self._scan(doc, sents.inner_space, matches)
        if not trig and not shadows:
            return [_PRESENT] * len(spans)
        tt = tokens(doc)
        idx, words, text = tt.idx, tt.text, tt.doc_text()
        starts, sent_of = sents.starts, sents.ids
        trig_starts = [t[0] for t in trig]
        ntrig = len(trig)
        stops = cut_fwd + bound  # what can end or split a forward scope
        stops.sort()
        nstops = len(stops)
        reaches_forward, reaches_backward = self._reaches_forward, self._reaches_backward
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
            t = self._inside(tr, tr_starts, i0, s0, s1) if i0 < n and tr_starts[i0] < s1 else None
            if t is None:
                fwd = back = None
                i = i0 - 1
                while i >= 0 and tr_starts[i] >= ss:  # nearest preceding trigger whose scope reaches the entity
                    t = tr[i]
                    if t[1] <= s1 and t[3] & _FWD:
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
                    if t[1] > s1 and t[3] & _BACK and reaches_backward(t, s1, cut_back, bound, pred):
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
            if t[2]:
                existence, first = ABSENT, t[0]
            else:
                first = self._negated_hedge(t, tr, bound, cut_fwd, ss)
                existence = UNCERTAIN if first is None else ABSENT
                if first is None:
                    first = t[0]
            # the cue: tokens [first, t.end), from the governing negation when there is one; a fresh dict per span
            c0, last = idx[first], t[1] - 1
            c1 = idx[last] + len(words[last])
            out.append((existence, {"text": text[c0:c1], "start": c0, "end": c1}))
        return out

    def label(self, doc: Doc, span: Span) -> tuple[str, Optional[dict[str, Any]]]:
        """The (existence, cue) of one span, without setting attributes."""
        return self.label_all(doc, [span])[0]

    # ------------------------------------------------------------------ internals
    def _scan(self, doc: Doc, spaces: bool, matches: Optional[list[Match]] = None
              ) -> tuple[list[_Trigger], list[int], list[int], list[int], list[int], list[int],
                         list[tuple[int, int, _Trigger]]]:
        """The doc's cues: triggers (sorted by start), the starts of forward / backward terminators, boundaries,
        predicates and list words, and (pseudo start, pseudo end, trigger) for each trigger a pseudo-cue swallowed."""
        code_of, trigger = self._code, self._trigger
        matches = self._match(doc, spaces, matches)
        trig: list[_Trigger] = []
        cut_fwd: list[int] = []
        cut_back: list[int] = []
        bound: list[int] = []
        pred: list[int] = []
        lists: list[int] = []
        pseudo: list[tuple[int, int]] = []
        overlapped = False
        last_start = last_end = last_code = -1  # the last cue kept, and where it went
        for mid, s, e in matches:  # one sweep in start order: of overlapping cues, the longest wins
            if s < last_end:
                overlapped = True
                if e - s <= last_end - last_start:
                    continue
                # this longer cue replaces the last one kept
                for bucket in _buckets(last_code, trig, pred, bound, cut_fwd, cut_back, lists, pseudo):
                    bucket.pop()
            last_start, last_end = s, e
            last_code = code = code_of[mid]
            if code == _C_TRIG:
                trig.append((s, e, *trigger[mid]))
            elif code == _C_PRED:
                pred.append(s)
            elif code == _C_BOUND:
                bound.append(s)
            elif code == _C_TERM:
                cut_fwd.append(s)
                cut_back.append(s)
            elif code == _C_LIST:
                lists.append(s)
            elif code == _C_TERM_FWD:
                cut_fwd.append(s)
            elif code == _C_TERM_BACK:
                cut_back.append(s)
            else:
                pseudo.append((s, e))
        shadows: list[tuple[int, int, _Trigger]] = []
        if overlapped:
            shadows = [(ps, pe, t) for ps, pe in pseudo for t in self._triggers(matches, ps, pe)]
        return trig, cut_fwd, cut_back, bound, pred, lists, shadows

    def _match(self, doc: Doc, spaces: bool, matches: Optional[list[Match]] = None) -> list[Match]:
        """Cue matches in start order, as a PhraseMatcher gives them (`matches`: the matcher's on the whole doc, when
        the caller has them); whitespace tokens ("negative   for") do not break a cue."""
        if not spaces:
            if matches is None:  # the walk when the doc's words are read already (cheaper than a matcher call)
                matches = self.walk.find(tokens(doc).lower)[0] if has_table(doc) else self.matcher(doc)
        else:  # the walk over the words without the whitespace tokens (a second Doc would cost ~1 ms per doc)
            tt = tokens(doc)
            keep = list(compress(range(len(tt.space)), map(not_, tt.space)))
            lower = tt.lower
            matches = [(m, keep[s], keep[e - 1] + 1) for m, s, e in self.walk.find([lower[i] for i in keep])[0]]
        return matches

    def _cue_walk(self, doc: Doc) -> Optional[tuple[list[Match], SentenceIndex]]:
        """None when no negation or uncertainty cue occurs in `doc`, whitespace tokens skipped (the matches
        `label_all` reads are a subset: without a trigger every span is present); else the cue matches as the
        matcher gives them when the doc has no whitespace token (or [] : `_match` then finds them itself) and the
        doc's sentence index (its own boundaries, else the project's splitter's, not stored). One array read and a
        walk over the lower-case hashes: no Token objects, no token table for a doc without a cue (a doc with one
        gets its table from the same read)."""
        lower, space, starts, orth, idx = doc.to_array(_CUE_WALK_ATTRS).T.tolist()
        spaced = any(space)
        words = list(compress(lower, map(not_, space))) if spaced else lower
        code = self._code
        matches = self.hash_walk.find(words)[0]
        if not any(code[m] == _C_TRIG for m, _, _ in matches):
            return None
        # Doc.has_annotation("SENT_START"), from the column read already
        annotated = len(starts) == 1 or "sents" in doc.user_hooks or any(islice(starts, 1, None))
        tokens(doc, (orth, idx))  # the token table, from the columns read here
        index = index_from_starts(starts, space) if annotated else set_sentence_starts(doc, store=False)
        return ([] if spaced else matches), index

    @property
    def hash_walk(self) -> PhraseWalk:
        """`walk` keyed by the hashes of the lower-case words (as `Doc.to_array(LOWER)` gives them)."""
        if self._hash_walk is None:
            self._hash_walk = self.walk.rekeyed(self.vocab.strings.add)
        return self._hash_walk

    @property
    def walk(self) -> PhraseWalk:
        """The cue matcher as a `PhraseWalk` (same matches, same order), built on first use."""
        if self._walk is None:
            self._walk = PhraseWalk([self.matcher])
        return self._walk

    def _triggers(self, matches: list[tuple[int, int, int]], start: int, end: int) -> list[_Trigger]:
        """The triggers among raw `matches` inside [start, end) (those a pseudo-cue swallowed)."""
        out = []
        for mid, s, e in matches:
            if mid in self._trigger and start <= s and e <= end and (s, e) != (start, end):
                out.append((s, e, *self._trigger[mid]))
        return out

    @staticmethod
    def _inside(trig: list[_Trigger], trig_starts: list[int], i: int, s0: int, s1: int) -> Optional[_Trigger]:
        """A trigger inside the entity [s0, s1) at its edge ("no effusion", "effusion has resolved"); a negation
        first. `i`: the first trigger starting at or after s0."""
        inside = None
        n = len(trig)
        while i < n and trig_starts[i] < s1:
            t = trig[i]
            start, end, neg, dirs, _, _, inner = t
            if end <= s1 and inner and ((dirs & _FWD and start == s0) or (dirs & _BACK and end == s1)):
                if inside is None or (neg and not inside[2]):
                    inside = t
            i += 1
        return inside

    @staticmethod
    def _negated_hedge(t: _Trigger, trig: list[_Trigger], bound: list[int], cut_fwd: list[int], ss: int
                       ) -> Optional[int]:
        """The start of the negation governing hedge `t` ("no findings suspicious for") in its sentence, if any."""
        t_start = t[0]
        for n_start, n_end, neg, dirs, _, _, _ in trig:
            if neg and dirs & _FWD and ss <= n_start and n_end <= t_start and t_start - n_end <= _NEGATED_HEDGE_GAP:
                if not any(n_end <= b < t_start for b in bound) and not any(n_end <= c < t_start for c in cut_fwd):
                    return n_start
        return None

    @staticmethod
    def _reaches_forward(t: _Trigger, s0: int, s1: int, se: int, cut_fwd: list[int], bound: list[int],
                         pred: list[int], lists: list[int], entities: Sequence[Any] = ()) -> bool:
        """Whether the forward scope of `t` reaches the entity [s0, s1) of a sentence ending at `se`; `entities`:
        all the spans being classified (the clause rule)."""
        lo, window = t[1], t[4]
        if window is not None and s0 - lo > window:
            return False
        for c in cut_fwd:
            if lo <= c < s0:
                return False
        first, last = _first_last(bound, lo, s0)  # the first and last boundary between the trigger and the entity
        if first < 0:
            return True
        for p in pred:
            if first < p < s0:
                b = max(x for x in bound if lo <= x < p)
                if not any(b < x < p for x in lists):
                    return False  # "no fever, has cough": a new clause starts before the entity
                # "no effusion, or findings consistent with edema": a list goes on
        if s1 in pred or (s1 + 1 < se and s1 + 1 in pred and s1 not in bound):
            # "no effusion, atelectasis is present" -- but only when the cue already covered an entity before the
            # comma; "no large, loculated effusion is seen" is one noun phrase
            covered = any(lo <= e.start < last for e in entities)
            if covered and not any(last < x < s0 or x == last - 1 for x in lists):
                return False
        return True

    @staticmethod
    def _reaches_backward(t: _Trigger, s1: int, cut_back: list[int], bound: list[int], pred: list[int]) -> bool:
        """Whether the backward scope of `t` reaches an entity ending at `s1`."""
        hi, back_window = t[0], t[5]
        if back_window is not None and hi - s1 > back_window:
            return False
        if not t[2] and t[3] & _FWD and hi - 1 in bound:
            return False  # "opacity, likely atelectasis": a two-way hedge after a comma opens an apposition
        for c in cut_back:
            if s1 <= c < hi:
                return False
        first, last = _first_last(bound, s1, hi)  # the first and last boundary between the entity and the trigger
        if first >= 0:
            for p in pred:
                if s1 <= p < last:
                    return False  # "cardiomegaly is present, and the effusion has resolved"
                if first < p < hi - 1:
                    return False  # "remained afebrile and had a normal count": the cue is in a new clause
        return True


def _code(kind: int, dirs: int) -> int:
    """The `_C_*` code of a cue of `kind` with scope directions `dirs`."""
    if kind <= _UNC:
        return _C_TRIG
    if kind == _TERM:
        return _C_TERM if dirs == _FWD | _BACK else _C_TERM_FWD if dirs & _FWD else _C_TERM_BACK
    return {_BOUND: _C_BOUND, _PRED: _C_PRED, _LIST: _C_LIST, _PSEUDO: _C_PSEUDO}[kind]


def _buckets(code: int, trig: list, pred: list, bound: list, cut_fwd: list, cut_back: list, lists: list,
             pseudo: list) -> tuple[list, ...]:
    """The lists `_scan` filed a cue of `code` in."""
    return ((trig,), (pred,), (bound,), (cut_fwd, cut_back), (cut_fwd,), (cut_back,), (lists,), (pseudo,))[code]


def _first_last(positions: list[int], lo: int, hi: int) -> tuple[int, int]:
    """The first and last (in list order) of `positions` inside [lo, hi), or (-1, -1)."""
    first = last = -1
    for b in positions:
        if lo <= b < hi:
            if first < 0:
                first = b
            last = b
    return first, last


def store_labels(doc: Doc, spans: Iterable[Span], labels: Iterable[tuple[str, Optional[dict[str, Any]]]]) -> None:
    """Set ``span._.asg_existence`` and ``span._.asg_existence_cue`` (written straight into ``doc.user_data``,
    keyed by character offsets as spaCy keys them, without an Underscore object per span)."""
    user_data = doc.user_data
    for span, (value, cue) in zip(spans, labels):
        chars = (span.start_char, span.end_char)
        user_data[ext_key("asg_existence", *chars)] = value
        user_data[ext_key("asg_existence_cue", *chars)] = cue


def negspacy_termset(ontology: Union[Ontology, Sequence[Cue]]) -> dict[str, list[str]]:
    """Our negation cues as a negspacy ``neg_termset`` (uncertainty and clause words have no negspacy slot)."""
    cues = list(ontology.cues if isinstance(ontology, Ontology) else ontology)
    ts: dict[str, list[str]] = {"pseudo_negations": [], "preceding_negations": [], "following_negations": [],
                                "termination": []}
    for c in cues:
        if c.kind == "pseudo":
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
                 ontology: Optional[str]):
        self.name = name
        self.vocab = nlp.vocab
        self.tokenizer = nlp.tokenizer
        self.ent_types = set(ent_types or [])
        self.span_keys = list(span_keys or [])
        self.ontology = ontology
        self._engine: Optional[ExistenceEngine] = None
        if ontology is not None and not Path(ontology).is_dir():
            self._missing = ontology  # reported on first use unless from_disk supplies the cues
        else:
            self._missing = None

    @property
    def engine(self) -> ExistenceEngine:
        if self._engine is None:
            if self._missing is not None:
                raise ValueError(f"asg_existence: ontology directory not found: {self._missing}")
            from .resources import get_ontology

            self._engine = ExistenceEngine(get_ontology(self.ontology), self.vocab, self.tokenizer)
        return self._engine

    def spans(self, doc: Doc) -> list[Span]:
        """The spans this component classifies in `doc`."""
        out = [e for e in doc.ents if not self.ent_types or e.label_ in self.ent_types]
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
        data = [c.model_dump(exclude_none=True) for c in self.engine.cues]
        (path / "cues.json").write_text(json.dumps(data, indent=0), encoding="utf-8")

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = ()) -> "ExistenceComponent":
        f = Path(path) / "cues.json"
        if f.exists():
            try:
                cues = [Cue.model_validate(c) for c in json.loads(f.read_text(encoding="utf-8"))]
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{f}: invalid saved cue list: {str(exc).splitlines()[0]}") from None
            self._engine = ExistenceEngine(cues, self.vocab, self.tokenizer)
            self._missing = None
        return self


@Language.factory("asg_existence", default_config={"ent_types": [], "span_keys": [], "ontology": None})
def make_existence(nlp: Language, name: str, ent_types: list[str], span_keys: list[str],
                   ontology: Optional[str]) -> ExistenceComponent:
    """Factory of the `asg_existence` component (entry point ``asg_existence``)."""
    return ExistenceComponent(nlp, name, ent_types, span_keys, ontology)
