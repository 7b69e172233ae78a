"""A doc probed for existence triggers in one PhraseMatcher call, before anything else of it is read.

:class:`CueProbe` holds the cue matcher's patterns plus the beginnings of the cues of several words. One call on a
doc rules out a doc without a trigger (most short docs), gives the cue matcher's matches, and shows where a cue can
straddle a whitespace token ("negative   for": the cue walk of :class:`~asg_parse.pipeline.cues.CueTable` passes
over such tokens). A trigger occurs only where one is matched whole or one of its beginnings is followed by a
whitespace token; any cue can straddle one only after one of its beginnings.
"""
from __future__ import annotations

from operator import itemgetter
from typing import Any, Iterable, Optional

from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from .phrases import LowerPhrases, Match

_match_id = itemgetter(0)
_KEYS = ("asg_trigger_beginning", "asg_cue_beginning")  # the beginnings that are no cue themselves


class CueProbe:
    """The cue matcher's patterns plus the beginnings of the cues of several words, in one PhraseMatcher."""

    def __init__(self, cues: LowerPhrases, triggers: Iterable[int]):
        """`cues`: the cue matcher; `triggers`: the match ids of its triggers."""
        strings = cues.vocab.strings
        self.matcher_of_cues, self.triggers = cues, frozenset(triggers)
        self.matcher = PhraseMatcher(cues.vocab, attr="LOWER")
        phrases: dict[tuple[str, ...], list[int]] = {}  # cue words -> match ids
        trigger_starts: dict[tuple[str, ...], Any] = {}  # beginning words -> a span of a pattern, of the triggers
        other_starts: dict[tuple[str, ...], Any] = {}  # and of the other cues
        for key, docs in cues.patterns:
            self.matcher.add(key, docs)
            mid = strings[key]
            for d in docs:
                phrases.setdefault(_words(d), []).append(mid)
                for k in range(1, len(d)):
                    (trigger_starts if mid in self.triggers else other_starts).setdefault(_words(d[:k]), d[:k])
        self._keys = {strings.add(k) for k in _KEYS}
        # the match ids that begin a trigger / any cue (a beginning that is a cue itself is known by the cue's match)
        self.trigger_beginnings = self._beginnings(_KEYS[0], trigger_starts, phrases)
        self.beginnings = self.trigger_beginnings | self._beginnings(_KEYS[1], other_starts, phrases)
        self._may_trigger = self.triggers | self.trigger_beginnings  # a doc with none of these has no trigger
        # the cue matches are this matcher's without the beginnings' keys, unless it orders the keys of a phrase (a
        # hash table's order) unlike the cue matcher
        self._same_order = all(self._cues(self.matcher(d)) == cues(d) for _, ds in cues.patterns for d in ds)

    def _beginnings(self, key: str, starts: dict[tuple[str, ...], Any], phrases: dict[tuple[str, ...], list[int]]
                    ) -> set[int]:
        """Add the beginnings `starts` that are no cue under `key`; the match ids that mark them all."""
        alone = [span.as_doc() for words, span in starts.items() if words not in phrases]
        if alone:
            self.matcher.add(key, alone)
        strings = self.matcher.vocab.strings
        return {strings[key], *(m for words in starts if words in phrases for m in phrases[words])}

    def __call__(self, doc: Doc) -> Optional[tuple[list[Match], bool]]:
        """None when `doc` has no trigger; else this matcher's matches (for `cues` and `straddles`) and whether a
        trigger is among them (else one can straddle a whitespace token)."""
        found = self.matcher(doc)
        ids = set(map(_match_id, found))
        if self._may_trigger.isdisjoint(ids):  # (most docs)
            return None
        if not self.triggers.isdisjoint(ids):
            return found, True
        begins, n = self.trigger_beginnings, len(doc)
        if any(m in begins and e < n and doc[e].is_space for m, _, e in found):
            return found, False
        return None

    def straddles(self, doc: Doc, found: list[Match]) -> set[int]:
        """Where a cue can straddle a whitespace token: the starts of the cue beginnings in `found` (this matcher's)
        followed by one; elsewhere the cue matcher's matches are the walk's."""
        begins, n = self.beginnings, len(doc)
        return {s for m, s, e in found if m in begins and e < n and doc[e].is_space}

    def cues(self, doc: Doc, found: list[Match]) -> list[Match]:
        """The cue matcher's matches of `doc`: this matcher's `found` without the beginnings' keys."""
        return self._cues(found) if self._same_order else self.matcher_of_cues(doc)

    def _cues(self, found: list[Match]) -> list[Match]:
        keys = self._keys
        return [x for x in found if x[0] not in keys]


def _words(tokens: Any) -> tuple[str, ...]:
    """The lower-case words of a pattern (a Doc or Span), as the matcher compares them."""
    return tuple(t.lower_ for t in tokens)
