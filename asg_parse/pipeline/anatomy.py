"""Anatomy of `asg_mentions`: the regions each anatomy mention of a doc names, with the side said with it, and
the side word that modifies a mention (`linking.Linker` links findings to them)."""
from __future__ import annotations

from functools import partial
from operator import itemgetter
from typing import NamedTuple, Optional

from anatomy_ontology import Ontology

from .matching import Context, M

SIDE_WINDOW = 3      # tokens between a side word and the anatomy/finding it modifies
_AFTER_SIDE = {"the", "on", "at", "in", ","}
_ZONE_JOIN = {"and", ",", "/", "or", "to"}
_COMPARATIVE = {"than", ">", "<"}  # "left greater than right", "l > r"
_GAP_MAX = 3  # the most `side_gap_words` a trailing side phrase may skip
_start = itemgetter(0)  # sort key of mentions


def trailing_comparison(lower: list[str], side: M, target_start: int) -> bool:
    """Whether a comparative side phrase ends a list item before `target_start` ("opacities, l > r, likely
    atelectasis": it describes the opacities), rather than premodifying ("left greater than right effusions")."""
    return not _COMPARATIVE.isdisjoint(lower[side.start:side.end]) and "," in lower[side.end:target_start]


class Anatomy(NamedTuple):
    """Anatomy mentions with their regions (keyed by span, and per mention), whether each is a zone word without a
    side, where each phrase starts, and which neighbours are coordinated."""

    spans: list[M]
    regions: dict[tuple[int, int], list[str]]
    span_regions: list[list[str]]  # span_regions[k]: regions[spans[k] start, end]
    unsided: list[bool]            # a zone word with no side of its own ("the chest wall")
    phrase_start: list[int]        # where spans[k]'s phrase starts ("right lower lung" starts at "right")
    joined: list[bool]  # joined[k]: spans[k] and spans[k + 1] are coordinated ("heart and mediastinum")
    coordination: bool  # any of them


_new_anatomy = partial(tuple.__new__, Anatomy)  # a NamedTuple from a full tuple, without its Python-level __new__


class AnatomyReader:
    """Reads the anatomy mentions of a doc: their regions (a zone takes the side said with it) and which of them
    are coordinated; also finds the side word that modifies a mention. Built once from the ontology."""

    def __init__(self, ontology: Ontology):
        self.ontology = onto = ontology
        self.zone_adjectives = {w.lower(): z.id for z in onto.zones.values() for w in z.adjectives}
        self.gap_words = onto.side_gap_words
        # (anatomy label, side said with it) -> its regions; anatomy label -> (kind, value, outside the atlas,
        # its regions without a side)
        self.sided_regions: dict[tuple[str, Optional[str]], tuple[str, ...]] = {}
        self.anatomy_info: dict[str, tuple[str, str, bool, tuple[str, ...]]] = {}
        for kind, entries in (("R", onto.regions), ("Z", onto.zones), ("G", onto.groups)):
            for value in entries:
                label = f"{kind}|{value}"
                for side in (None, "left", "right", "both"):
                    self.sided_regions[(label, side)] = tuple(self._regions(kind, value, side))
                outside = kind == "G" and not onto.groups[value].regions
                self.anatomy_info[label] = (kind, value, outside, self.sided_regions[(label, None)])

    def _regions(self, kind: str, value: str, side: Optional[str]) -> list[str]:
        onto = self.ontology
        if kind == "R":
            return [value]
        if kind == "G":
            return list(onto.groups[value].regions)
        sides = ("right", "left") if side in (None, "both") else (side,)
        return [r for s in sides if (r := onto.zone_regions.get((s, value))) is not None]

    def side_for(self, ctx: Context, target: M, sides: list[M]) -> Optional[M]:
        """The nearest unused side word of `target`'s sentence that modifies it (and mark it used).
        `side_gap_words` before a side phrase that ends its clause add no distance ("no pneumothorax is seen on
        the right", "healing rib fractures are seen on the right")."""
        best: Optional[tuple[int, M]] = None
        t_start, t_end = target[0], target[1]
        lower, sent, used = ctx.lower, ctx.sent, ctx.used_sides
        for s in sides:
            s_start, s_end = s[0], s[1]
            if s_end <= t_start:
                dist = t_start - s_end
            elif s_start >= t_end:
                dist = s_start - t_end
                if SIDE_WINDOW < dist <= SIDE_WINDOW + _GAP_MAX \
                        and (s_end == len(lower) or sent[s_end] != sent[s_start] or not lower[s_end].isalpha()):
                    dist -= sum(w in self.gap_words for w in lower[t_end:s_start])
            else:
                continue
            if dist > SIDE_WINDOW or (best is not None and dist >= best[0]) or s_start in used \
                    or sent[s_start] != sent[t_start]:
                continue
            if s_end <= t_start:
                if trailing_comparison(lower, s, t_start):
                    continue
                lo, hi = s_end, t_start
            else:
                before = lower[s_start - 1] if s_start else ""
                if before not in _AFTER_SIDE and not lower[s_end - 1].endswith("ly"):
                    continue  # "effusion on the left", "opacities bilaterally"; a side word before a noun is its own
                lo, hi = t_end, s_start
            if ctx.boundaries.isdisjoint(lower[lo:hi]):
                best = (dist, s)
        if best is None:
            return None
        ctx.used_sides.add(best[1].start)
        return best[1]

    @staticmethod
    def coordinated(an: Anatomy, ai: int) -> list[int]:
        """`ai` and the anatomy coordinated with it, nearest first on each side."""
        out = [ai]
        j = ai
        while j > 0 and an.joined[j - 1]:
            j -= 1
            out.append(j)
        j = ai
        while j + 1 < len(an.spans) and an.joined[j]:
            j += 1
            out.append(j)
        return out

    def read(self, ctx: Context, anatomy: list[M], sides: list[M]) -> Anatomy:
        """Regions of every anatomy mention (zones take the side said with them)."""
        areg: dict[tuple[int, int], list[str]] = {}
        phrase_start: dict[tuple[int, int], int] = {}
        extra: list[M] = []
        info, table = self.anatomy_info, self.sided_regions
        lower, used = ctx.lower, ctx.used_sides
        # per mention, while no zone adjective adds one ("middle and lower lobes")
        span_regions: list[list[str]] = []
        starts: list[int] = []
        loose: list[bool] = []  # zone words with no side of their own ("the chest wall")
        for a in anatomy:
            a_start, a_end, label = a
            kind, value, outside, unsided_regions = info[label]
            key = (a_start, a_end)
            side_span = None
            if sides:
                if kind == "Z":
                    side_span = self.side_for(ctx, a, sides)
                elif outside:  # "right shoulder", "left axillary": the side word right before it is its own
                    side_span = next((s_ for s_ in sides if s_.end == a_start and s_.start not in used), None)
                    if side_span is not None:
                        used.add(side_span.start)
            if side_span is None:
                side = None
                areg[key] = regions = list(unsided_regions)
                starts.append(a_start)
                loose.append(kind == "Z")
                start = a_start
            else:
                side = side_span.label
                areg[key] = regions = list(table[(label, side)])
                if side_span.end <= a_start:
                    phrase_start[key] = side_span.start  # "right lower lung" starts at "right"
                    starts.append(side_span.start)
                else:
                    starts.append(a_start)
                loose.append(False)
                # "right middle and lower lobes": the bare adjective names a second zone on the same side;
                # "right upper and left lower lobes": on the side said right before it
                start = side_span.start if side_span.end == a_start else a_start
            span_regions.append(regions)
            if kind == "Z" and start >= 2 and lower[start - 1] in _ZONE_JOIN:
                zone = self.zone_adjectives.get(lower[start - 2])
                if zone is not None and (zone != value or start != a_start):
                    adj = M(start - 2, start - 1, f"Z|{zone}")
                    own = next((s_ for s_ in sides if s_.end == adj.start and s_.start not in used), None)
                    if own is not None:
                        used.add(own.start)
                        phrase_start[(adj.start, adj.end)] = own.start
                    extra.append(adj)
                    areg[(adj.start, adj.end)] = list(table[(adj.label, own.label if own is not None else side)])
        if extra:
            spans = sorted(anatomy + extra, key=_start)
            unsided = {(a.start, a.end) for a, zone_word in zip(anatomy, loose) if zone_word}
            keys = [(a.start, a.end) for a in spans]
            span_regions = [areg[k] for k in keys]
            starts = [phrase_start.get(k, k[0]) for k in keys]
            loose = [k in unsided for k in keys]
        else:
            spans = anatomy
        if ctx.part_starts:  # "posterior basal segment of the left lower lobe" starts at "posterior"
            starts = [ctx.part_starts.get((a[0], a[1]), st) for a, st in zip(spans, starts)]
        joined = [0 < b_start - a[1] <= 2 and (lower[a[1]] in _ZONE_JOIN if b_start - a[1] == 1
                                               else _ZONE_JOIN.issuperset(lower[a[1]:b_start]))
                  for a, b_start in zip(spans, starts[1:])] if len(spans) > 1 else []
        return _new_anatomy((spans, areg, span_regions, loose, starts, joined, any(joined)))
