"""The cue table of the existence engine: which cues a convention profile reads, and where they are in a doc.

A :class:`CueTable` is built once from the ontology's cues (existence.yaml) and a convention profile. The profile
decides per cue class what a trigger reads as: absent or uncertain (a trigger), present (a pseudo-cue: it decides
nothing and swallows the shorter cues inside it) or ignore (not matched); a list word whose class it reads as
uncertain is a disjunction. :meth:`CueTable.scan` then finds a doc's cues in one PhraseMatcher pass and files them
for the scope rules of :class:`~asg_parse.pipeline.existence.ExistenceEngine`: triggers, terminators, boundaries,
predicates, list words and the triggers pseudo-cues swallowed.
"""
from __future__ import annotations

from itertools import compress, islice
from operator import itemgetter, not_
from typing import Any, Optional, Sequence, Union

from spacy.attrs import IDX, IS_SPACE, LOWER, ORTH, SENT_START
from spacy.tokens import Doc
from spacy.vocab import Vocab

from anatomy_ontology import Convention, Cue, Ontology

from .phrases import LowerPhrases, Match, PhraseWalk
from .probe import CueProbe
from .sentences import SplitPoints
from .tokens import SentenceIndex, TokenColumns, has_table, index_from_starts, new_columns, tokens

PRESENT, ABSENT, UNCERTAIN = "present", "absent", "uncertain"
_NEG, _UNC, _PSEUDO, _TERM, _BOUND, _PRED, _LIST = range(7)
_KIND_CODE = {"negation": _NEG, "uncertainty": _UNC, "pseudo": _PSEUDO, "terminator": _TERM,
              "boundary": _BOUND, "predicate": _PRED, "list": _LIST}
FWD, BACK = 1, 2
_DIR_CODE = {"preceding": FWD, "following": BACK, "both": FWD | BACK}
# where `scan` files a cue: one code per (kind, direction), so that one dict look-up decides
_C_TRIG, _C_PRED, _C_BOUND, _C_TERM, _C_TERM_FWD, _C_TERM_BACK, _C_LIST, _C_PSEUDO = range(8)

_WALK_COLUMNS = [LOWER, IS_SPACE]  # what a walk that passes over whitespace tokens reads
_COLUMNS = [SENT_START, IS_SPACE, ORTH, IDX]  # the columns `triggered` reads in one to_array call (and the split flag)

_match_start = itemgetter(1)

# A trigger is a plain tuple (start, end, neg, dirs, window, back_window, inside, class): built per match, read in
# the per-entity loops, where tuple unpacking is the cheapest access.
Trigger = tuple[int, int, bool, int, Optional[int], Optional[int], bool, str]
# what `scan` returns: triggers, forward and backward cuts, boundaries, predicates, list words, shadows
Scan = tuple[list[Trigger], list[int], list[int], list[int], list[int], list[int], list[tuple[int, int, Trigger]]]


class CueTable:
    """The cues one convention reads, in one PhraseMatcher, with where `scan` files each match."""

    def __init__(self, cues: Sequence[Cue], convention: Convention, vocab: Vocab, tokenizer: Any):
        """`tokenizer` splits the cue texts like the reports will be split."""
        self.cues, self.convention = list(cues), convention
        self.matcher = LowerPhrases(vocab)
        self.strings = vocab.strings
        # for the triggers, match id -> (neg, dirs, window, back_window, inside, class)
        self._trigger: dict[int, tuple[bool, int, Optional[int], Optional[int], bool, str]] = {}
        self._code: dict[int, int] = {}  # match id -> where `scan` files the cue (_C_*)
        # match id -> class of the list words this convention reads as uncertain (disjunctions)
        self.disjunction: dict[int, str] = {}
        self._walk: Optional[PhraseWalk] = None
        self._hash_walk: Optional[PhraseWalk] = None
        for i, cue in enumerate(self.cues):
            kind, dirs = _KIND_CODE[cue.kind], _DIR_CODE[cue.direction]
            reading = self.convention.reading(cue)
            if reading == "ignore":
                continue  # not a cue under this convention
            if kind == _LIST:
                reading = None  # still a list word; the engine reads it as a disjunction when it is uncertain
            elif reading == PRESENT:
                kind = _PSEUDO  # a cue that decides nothing: it only swallows the shorter cues inside it
            elif reading is not None:
                kind = _NEG if reading == ABSENT else _UNC
            key = f"asg_cue_{i}"
            self.matcher.add(key, [tokenizer(cue.text)])
            mid = vocab.strings[key]
            self._code[mid] = _code(kind, dirs)
            if kind == _LIST and self.convention.reading(cue) == UNCERTAIN:
                self.disjunction[mid] = cue.trigger_class
            if kind <= _UNC:
                self._trigger[mid] = (kind == _NEG, dirs, cue.window, cue.back_window, cue.inside, cue.trigger_class)
        self.test = CueProbe(self.matcher, self._trigger)
        self._sentences = SplitPoints(vocab)
        flag = self._sentences.flag
        self._columns = _COLUMNS if flag is None else [*_COLUMNS, flag]
        self._walk_columns = [*self._columns, LOWER]  # (where a cue can straddle a whitespace token)

    def scan(self, doc: Doc, spaces: bool, matches: Optional[list[Match]] = None
              ) -> tuple[list[Trigger], list[int], list[int], list[int], list[int], list[int],
                         list[tuple[int, int, Trigger]]]:
        """The doc's cues: triggers (sorted by start), the starts of forward / backward terminators, boundaries,
        predicates and list words, and (pseudo start, pseudo end, trigger) for each trigger a pseudo-cue swallowed."""
        code_of, trigger = self._code, self._trigger
        if matches is None or spaces:
            matches = self.match(doc, spaces, matches)
        trig: list[Trigger] = []
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
        shadows: list[tuple[int, int, Trigger]] = []
        if overlapped:
            shadows = [(ps, pe, t) for ps, pe in pseudo for t in self.swallowed(matches, ps, pe)]
        return trig, cut_fwd, cut_back, bound, pred, lists, shadows

    def match(self, doc: Doc, spaces: bool, matches: Optional[list[Match]] = None) -> list[Match]:
        """Cue matches in start order, as a PhraseMatcher gives them (`matches`: the matcher's on the whole doc, when
        the caller has them); whitespace tokens ("negative   for") do not break a cue."""
        if not spaces:
            if matches is None:  # the walk when the doc's words are read already (cheaper than a matcher call)
                matches = self.walk.find(tokens(doc).lower)[0] if has_table(doc) else self.matcher(doc)
        else:  # the walk over the words without the whitespace tokens (a second Doc would cost ~1 ms per doc)
            tt = tokens(doc)
            matches = _spaceless(self.walk, tt.lower, tt.space)
        return matches

    def cue_tokens(self, matches: list[Match]) -> tuple[set[int], set[int]]:
        """The tokens of the `matches` (as `match` gives them) that are uncertainty triggers under this convention,
        and those of every other cue but list words and boundaries."""
        hedges: set[int] = set()
        other: set[int] = set()
        code, trigger = self._code, self._trigger
        for mid, s, e in matches:
            if code[mid] not in (_C_LIST, _C_BOUND):
                t = trigger.get(mid)
                (hedges if t is not None and not t[0] else other).update(range(s, e))
        return hedges, other

    def triggered(self, doc: Doc) -> Optional[tuple[list[Match], SentenceIndex, TokenColumns]]:
        """None when no trigger (negation or uncertainty cue) occurs in `doc`, whitespace tokens skipped (without a
        trigger every span is present); else the cue matches as `match` gives them, the doc's sentence index (its
        own boundaries, else the project's splitter's, not stored) and its text columns. No Token objects and no
        token table: a `CueProbe` call rules most docs out; a doc with a trigger costs one array read (and a walk
        from where a whitespace token can split a cue), and the splitter only where a token can split."""
        found = self.test(doc)
        if found is None or not (found[1] or self._straddling_trigger(doc, found[0])):
            return None
        straddles = self.test.straddles(doc, found[0])
        starts, space, orth, idx, *split = doc.to_array(self._walk_columns if straddles else self._columns).T.tolist()
        matches = plain = self.test.cues(doc, found[0])
        if straddles:  # from those starts, the walk that passes over whitespace tokens
            walk, lower = self.hash_walk, split.pop()
            matches = [x for x in plain if x[1] not in straddles]
            for s in straddles:
                matches += walk.find_at(lower, s, space)
            matches.sort(key=_match_start)  # (stable: each start's matches stay in their order)
        # Doc.has_annotation("SENT_START"), from the column read already
        if len(starts) == 1 or "sents" in doc.user_hooks or any(islice(starts, 1, None)):
            index = index_from_starts(starts, space)
        else:
            index = self._sentences(doc, orth, space, split[0] if split else None)
        if straddles and not index.inner_space:  # a whitespace token between sentences only: it ends a cue
            matches = plain
        return matches, index, new_columns((orth, idx, self.strings, space))

    def _straddling_trigger(self, doc: Doc, found: list[Match]) -> bool:
        """Whether a trigger straddles a whitespace token: the walk from the trigger beginnings in `found` (the
        `CueProbe` matcher's) followed by one, over two columns of the doc."""
        lower, space = doc.to_array(_WALK_COLUMNS).T.tolist()
        begins, walk, trigger, n = self.test.trigger_beginnings, self.hash_walk, self._trigger, len(space)
        return any(m in trigger for b, s, e in found if b in begins and e < n and space[e]
                   for m, _, _ in walk.find_at(lower, s, space))

    @property
    def hash_walk(self) -> PhraseWalk:
        """`walk` keyed by the hashes of the lower-case words (as `Doc.to_array(LOWER)` gives them)."""
        if self._hash_walk is None:
            self._hash_walk = self.walk.rekeyed(self.matcher.vocab.strings.add)
        return self._hash_walk

    @property
    def walk(self) -> PhraseWalk:
        """The cue matcher as a `PhraseWalk` (same matches, same order), built on first use."""
        if self._walk is None:
            self._walk = PhraseWalk([self.matcher])
        return self._walk

    def swallowed(self, matches: list[tuple[int, int, int]], start: int, end: int) -> list[Trigger]:
        """The triggers among raw `matches` inside [start, end) (those a pseudo-cue swallowed)."""
        out = []
        for mid, s, e in matches:
            if mid in self._trigger and start <= s and e <= end and (s, e) != (start, end):
                out.append((s, e, *self._trigger[mid]))
        return out


def _spaceless(walk: PhraseWalk, lower: Sequence[Any], space: Sequence[int]) -> list[Match]:
    """The matches of `walk` over the words `lower` without the whitespace tokens (`space`), at their doc positions."""
    keep = list(compress(range(len(space)), map(not_, space)))
    return [(m, keep[s], keep[e - 1] + 1) for m, s, e in walk.find([lower[i] for i in keep])[0]]


def _code(kind: int, dirs: int) -> int:
    """The `_C_*` code of a cue of `kind` with scope directions `dirs`."""
    if kind <= _UNC:
        return _C_TRIG
    if kind == _TERM:
        return _C_TERM if dirs == FWD | BACK else _C_TERM_FWD if dirs & FWD else _C_TERM_BACK
    return {_BOUND: _C_BOUND, _PRED: _C_PRED, _LIST: _C_LIST, _PSEUDO: _C_PSEUDO}[kind]


def _buckets(code: int, trig: list, pred: list, bound: list, cut_fwd: list, cut_back: list, lists: list,
             pseudo: list) -> tuple[list, ...]:
    """The lists `_scan` filed a cue of `code` in."""
    return ((trig,), (pred,), (bound,), (cut_fwd, cut_back), (cut_fwd,), (cut_back,), (lists,), (pseudo,))[code]


def resolve_convention(ontology: Union[Ontology, Sequence[Cue]], convention: Union[str, Convention, None]
                       ) -> Convention:
    """The convention profile: `convention` itself, or the profile of that name (None: `asg`) in `ontology`
    (in the built-in ontology when `ontology` is a bare cue list)."""
    if isinstance(convention, Convention):
        return convention
    if not isinstance(ontology, Ontology):
        from .resources import get_ontology

        ontology = get_ontology(None)
    return ontology.convention(convention)
