"""Scope rules of the existence engine: which trigger governs an entity, read over token positions.

Pure functions over a sentence's scanned cues (:meth:`~asg_parse.pipeline.cues.CueTable.scan`): a trigger inside
the entity, a negation that negates a hedge, and whether a trigger's forward or backward scope reaches an entity
(windows, terminators, clause boundaries and list words). :class:`~asg_parse.pipeline.existence.ExistenceEngine`
calls them for every entity that has a trigger in its sentence.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from .cues import BACK, FWD, Trigger

NEGATED_HEDGE_GAP = 6  # a negation ending at most this many tokens before a hedge (same clause) negates it


def inside_trigger(trig: list[Trigger], trig_starts: list[int], i: int, s0: int, s1: int) -> Optional[Trigger]:
    """A trigger inside the entity [s0, s1) at its edge ("no effusion", "effusion has resolved"); a negation
    first. `i`: the first trigger starting at or after s0."""
    inside = None
    n = len(trig)
    while i < n and trig_starts[i] < s1:
        t = trig[i]
        start, end, neg, dirs, _, _, inner, _ = t
        if end <= s1 and inner and ((dirs & FWD and start == s0) or (dirs & BACK and end == s1)):
            if inside is None or (neg and not inside[2]):
                inside = t
        i += 1
    return inside

def negating(t: Trigger, trig: list[Trigger], bound: list[int], cut_fwd: list[int], ss: int,
                   entities: Sequence[Any] = ()) -> Optional[Trigger]:
    """The negation governing hedge `t` ("no findings suspicious for") in its sentence, if any. A boundary
    between them breaks the negation once an entity has been said after it ("no effusion, findings suggest
    pneumonia") or right before the hedge ("is not clearly seen and may represent X"), not inside the negated
    phrase ("no focal, lobar consolidation to suggest pneumonia")."""
    t_start = t[0]
    for n in trig:
        n_start, n_end, neg, dirs, window = n[:5]
        gap = t_start - n_end
        # within the negation's own reach: "a normal variant or it could be X" does not negate the hedge
        if neg and dirs & FWD and ss <= n_start and n_end <= t_start and gap <= NEGATED_HEDGE_GAP \
                and (window is None or gap <= window):
            if any(n_end <= c < t_start for c in cut_fwd):
                continue
            if not any(n_end <= b < t_start and (b == t_start - 1 or any(n_end <= e.start < b for e in entities))
                       for b in bound):
                return n
    return None

def reaches_forward(t: Trigger, s0: int, s1: int, se: int, cut_fwd: list[int], bound: list[int],
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

def reaches_backward(t: Trigger, s1: int, cut_back: list[int], bound: list[int], pred: list[int]) -> bool:
    """Whether the backward scope of `t` reaches an entity ending at `s1`."""
    hi, back_window = t[0], t[5]
    if back_window is not None and hi - s1 > back_window:
        return False
    if not t[2] and t[3] & FWD and hi - 1 in bound:
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


def spaced_windows(trig: list[Trigger], space: Sequence[int]) -> list[Trigger]:
    """The triggers with their windows widened by the whitespace tokens inside them, so that a window counts words
    in a hard-wrapped report too ("possibly reflecting a\nsmall effusion")."""
    n = len(space)
    out = []
    for t in trig:
        start, end, neg, dirs, window, back, inner, cls = t
        if window is not None:
            i, left = end, window
            while i < n and left > 0:
                if not space[i]:
                    left -= 1
                i += 1
            while i < n and space[i]:
                i += 1
            window = i - end
        if back is not None:
            i, left = start - 1, back
            while i >= 0 and left > 0:
                if not space[i]:
                    left -= 1
                i -= 1
            while i >= 0 and space[i]:
                i -= 1
            back = start - 1 - i
        out.append((start, end, neg, dirs, window, back, inner, cls))
    return out


def _first_last(positions: list[int], lo: int, hi: int) -> tuple[int, int]:
    """The first and last (in list order) of `positions` inside [lo, hi), or (-1, -1)."""
    first = last = -1
    for b in positions:
        if lo <= b < hi:
            if first < 0:
                first = b
            last = b
    return first, last
