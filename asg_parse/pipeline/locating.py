"""Placing the finding mentions the text leaves unlocated (`Locator`): hosts in the same clause, the nearest anatomy,
the observation a sentence interprets, restatements, and no region where a location would be invented."""
from __future__ import annotations

from typing import Optional, Sequence

from anatomy_ontology import Ontology

from .lexicon import boundary_words
from .linking import LINK_MAX_COST, Found, M
from .tokens import TokenTable

# A finding mention of the parsed sections, as a list read by unpacking in the hot loops:
# [span, finding, sentence (output index), regions, located, existence, cue]. Its region list is shared with the
# link or the defaults, never mutated: `Locator.locate` replaces it (item REGIONS).
Mention = list
REGIONS = 3
_COORD = {"and", "or", "/", ",", "and/or", "&"}
_BOTH_SIDES = frozenset({"left", "right"})


def _own_item(lower: list[str], item: int, a_start: int, a_end: int, others: list[M]) -> bool:
    """Whether the place [a_start, a_end) starts the comma-list item that begins at token `item` (no mention of
    `others` before it there) and one of `others` follows it in that item."""
    return not any(item <= g.start < a_start for g in others) \
        and any(g.start >= a_end and "," not in lower[a_end:g.start] for g in others)


def _coordinated(lower: list[str], lo: int, hi: int) -> bool:
    """Whether tokens [lo, hi) are one or two coordinating words ("and", "/", ", and")."""
    if not 0 < hi - lo <= 2:
        return False
    for i in range(lo, hi):
        if lower[i] not in _COORD:
            return False
    return True


class Locator:
    """The placement rules of `asg_triplets` for mentions without anatomy of their own (see `locate`); one per
    ontology. It stays one class: the rules share the per-doc hosts and the ontology's side and default tables, and
    `locate` tries them in order on each mention."""

    def __init__(self, ontology: Ontology):
        self.boundaries = boundary_words(ontology)
        self.interpretation = ontology.interpretation_words
        self.interpreted = ontology.interpreted_findings
        sides = ontology.sides
        # the one-word side phrases ("left", "bilateral"): the words of the longer ones ("left and right", "left
        # greater than the right") are these or words of any sentence ("and", "than", "the")
        self.side_words = {p.lower() for p in (*sides.left, *sides.right, *sides.both) if " " not in p.strip()}
        self.anaphora = ontology.anaphora_words
        self.adjacency = ontology.adjacency_words
        self.phrase_breaks = ontology.phrase_breaks
        self.absent_classes = ontology.absent_place_classes
        self.side_of = ontology.side_of
        self.laterality = ontology.laterality
        self.allowed_part = ontology.allowed_part  # the regions where a finding may be located
        lung = {r.id for r in ontology.regions.values() if r.zone == "lung"}
        # default zones that are specific (not whole lungs): a located host gives only its side to these findings
        self.specific_defaults = {f.id: list(f.default_regions) for f in ontology.findings.values()
                                  if f.default_regions and not lung & set(f.default_regions)}
        self.defaults = ontology.default_regions
        # findings whose defaults are both lungs: a whole-lung word in their name places them there
        self.lung_wide = {f.id for f in ontology.findings.values() if f.default_regions
                          and set(f.default_regions) == lung}
        self.whole_lung_words = ontology.whole_lung_words

    def _side_only(self, finding: str, regions: Sequence[str]) -> bool:
        """Whether a located mention of `finding` at `regions` sits in its own specific default zones (placed by a
        side word alone)."""
        defaults = self.specific_defaults.get(finding)
        return bool(defaults) and bool(regions) and set(regions) <= set(defaults)

    def _sided_defaults(self, finding: str, regions: Sequence[str], own: bool = False) -> list[str]:
        """`regions` as a location for `finding`: its own default zones on the same sides when the defaults are
        specific (not whole lungs), or with `own` any defaults; else the allowed part of `regions`."""
        defaults = self.defaults[finding] if own else self.specific_defaults.get(finding)
        if defaults:
            side_of = self.side_of
            sides = set(map(side_of.get, regions))
            sided = [r for r in defaults if side_of[r] in sides]
            if sided:
                return sided
        return self.allowed_part(finding, regions)

    def placed_as_absent(self, cue: Optional[dict]) -> bool:
        """Whether a mention with `cue` is placed as an absent one whatever its existence: its cue class is one the
        project's reading takes as a negation (`absent_place_classes`: "no new consolidation")."""
        return cue is not None and cue.get("class") in self.absent_classes

    def adjacent(self, tt: TokenTable, mentions: list[Mention], sid: list[int],
                 anatomy_regions: dict[tuple[int, int], list[str]]) -> tuple[bool, dict[tuple[int, int], list[str]]]:
        """Place the mentions said to be adjacent to the finding before them (`adjacency_words` in their noun
        phrase): one located by an unsided zone word keeps that zone on the host's side only ("left effusion with
        adjacent basilar atelectasis": the left base); one without a place lies where the host does ("Right
        effusion. There is adjacent atelectasis."). The host is the nearest located mention before it in its
        sentence, else the first located mention of the sentence before. Returns whether any mention is still
        unlocated, and the narrowed regions of the zone words so sided (span -> regions, for the region map)."""
        lower, adjacency, breaks = tt.lower, self.adjacency, self.phrase_breaks
        unlocated = False
        narrowed: dict[tuple[int, int], list[str]] = {}
        for k, m in enumerate(mentions):
            f = m[0]
            i, said = f.start - 1, False
            while i >= 0 and f.start - i <= 4 and sid[i] == sid[f.start] and lower[i].isalpha() \
                    and lower[i] not in breaks:
                if lower[i] in adjacency:
                    said = True
                    break
                i -= 1
            if said:
                host = next((o for o in reversed(mentions[:k]) if o[2] == m[2] and o[4] and o[0].start < f.start),
                            None)
                if host is None and not m[4]:  # a sentence that names nothing but it: next to the one before
                    host = next((o for o in mentions if o[2] == m[2] - 1 and o[4]), None)
                    if host is not None and any(sid[a] == sid[f.start] for a, _ in anatomy_regions):
                        host = None  # (its own anatomy places it: the rules of `locate`)
                elif host is not None and not m[4]:
                    host = None  # in its host's sentence the rules of `locate` place it
                if host is not None:
                    sides = self._next_to(m, host)
                    if sides:  # the zone words between the adjacency word and the finding: on that side too
                        for (a_start, a_end), regions in anatomy_regions.items():
                            if i < a_start and a_end <= f.start:
                                narrowed[(a_start, a_end)] = [r for r in regions if self.side_of[r] in sides]
            if not m[4]:
                unlocated = True
        return unlocated, narrowed

    def _next_to(self, m: Mention, host: Mention) -> set[str]:
        """Place mention `m` next to `host` (see `adjacent`); the sides kept when a located mention is narrowed."""
        side_of = self.side_of
        sides = {side_of[r] for r in host[REGIONS]} - {"none"}
        if m[4]:
            if len(sides) == 1 and {side_of[r] for r in m[REGIONS]} >= _BOTH_SIDES:
                kept = [r for r in m[REGIONS] if side_of[r] in sides or side_of[r] == "none"]
                if kept:
                    m[REGIONS] = kept
                    return sides | {"none"}
            return set()
        regions = self.allowed_part(m[1], host[REGIONS])
        if not regions and len(sides) == 1:
            regions = self._sided_defaults(m[1], host[REGIONS], own=True)
        if regions:
            m[REGIONS], m[4] = regions, True
        return set()

    def locate(self, tt: TokenTable, found: Found, mentions: list[Mention], sid: list[int]) -> None:
        """Give mentions without anatomy the location the text implies.

        1. A mention shares the location of the nearest located mention said before it in the same sentence, with
           no clause boundary between and neither absent unless both are (a device takes the location of a later
           device of its clause: "catheter with its tip in the SVC"). An interpretation (`interpretation_words`
           between: "opacification of both lower hemithoraces, which likely reflects layering effusions") lies
           exactly where its host does; otherwise a finding whose defaults are specific zones (effusion:
           costophrenic angles) takes only the host's side ("left lower lobe pneumonia with parapneumonic
           effusion": left costophrenic angle), and a host placed by its side word alone gives only that side
           ("right pleural effusion or pleural thickening": the right lung).
        2. Otherwise a present/uncertain mention takes the nearest anatomy of its clause even when that anatomy
           already locates another finding ("nodule in the right lower lobe suggesting granulomatous disease").
        3. Otherwise a present/uncertain mention takes the location of the same finding said elsewhere in the
           report with the same existence, placed by the text or earlier by these rules (an impression restating a
           finding); not for devices (findings without default regions), where two mentions are usually two objects.
        4. Otherwise a present/uncertain mention whose default regions cover both sides gets no region: asserting
           both lungs would invent a location. Absent mentions keep their defaults ("no pneumothorax": both lungs),
           and so does a mention whose defaults are both lungs and whose own words say it lies in the lungs as a
           whole (`whole_lung_words`: "pulmonary edema", "interstitial edema"); placed there, it is a host of rule
           1 for an interpretation after it ("interstitial opacities, likely edema") and of the sentence after.
        A mention whose cue the project reads as a negation is placed as an absent one (`placed_as_absent`).
        """
        located = [m for m in mentions if m[4]]
        hosts: dict[int, list[Mention]] = {}  # sentence -> its located mentions, in order
        for m in located:
            same = hosts.get(m[2])
            if same is None:
                hosts[m[2]] = [m]
            else:
                same.append(m)
        placed = list(located)  # located by the text or by the rules below, for restatements
        # mentions placed as absent whatever their existence ("no new X" under a convention that reads it uncertain)
        as_absent = {id(m) for m in mentions if m[6] is not None and self.placed_as_absent(m[6])} \
            if self.absent_classes else ()
        wide: set[int] = set()  # hosts placed in both lungs by a whole-lung word: they host interpretations only
        lower = tt.lower
        laterality = self.laterality
        boundaries = self.boundaries
        interpretation = self.interpretation
        anatomy: Optional[list[tuple[M, list[str]]]] = None  # built for the first mention that needs it
        for m in mentions:
            f, finding, sentence, own_regions, is_located, existence, _ = m
            if is_located:
                continue
            if as_absent and id(m) in as_absent:
                existence = "absent"
            lateral = laterality[finding]
            best = None
            for o in hosts.get(sentence, ()):
                g, o_finding, _, o_regions, _, o_existence, _ = o
                if as_absent and id(o) in as_absent:
                    o_existence = "absent"
                if o_existence != existence and (o_existence == "absent" or existence == "absent"):
                    continue  # neither absent unless both are
                o_lateral = laterality[o_finding]
                if not lateral and o_lateral:
                    continue  # a device is not where a finding is ("right pneumothorax after chest tube placement")
                devices = not (o_lateral or lateral)
                if g.start <= f.start and f.end <= g.end:
                    continue  # inside a statement's span ("heart size and <finding> are normal"): not its host
                lo, hi = (g.end, f.start) if g.start < f.start else (f.end, g.start)
                coordinated = _coordinated(lower, lo, hi)
                if (g.start > f.start) != devices and not coordinated:
                    continue  # from its host, said before it; a device from a later device ("line with tip in the SVC")
                if not boundaries.isdisjoint(lower[lo:hi]):
                    continue
                if wide and id(o) in wide and interpretation.isdisjoint(lower[lo:hi]):
                    continue  # a whole-lung host gives its place to an interpretation only
                # an interpretation lies where its host does; an accompanying finding in its own zone on the host's
                # side ("left lower lobe pneumonia with parapneumonic effusion")
                # (a host placed only by a side word, in its own default zone, gives only that side: "right pleural
                # effusion or pleural thickening" -> the right lung)
                if not interpretation.isdisjoint(lower[lo:hi]):
                    regions = self.allowed_part(finding, o_regions)
                elif self._side_only(o_finding, o_regions):
                    regions = self._sided_defaults(finding, o_regions, own=True)
                else:
                    regions = self._sided_defaults(finding, o_regions)
                cost = 0 if coordinated else hi - lo  # "atelectasis or scar in the lung bases"
                if regions and (best is None or cost < best[0]):
                    best = (cost, regions)
            if best is None and existence != "absent":
                if anatomy is None:
                    regions_of = found.anatomy_regions
                    anatomy = [(a, regions_of.get((a.start, a.end), [])) for a in found.anatomy]
                best = self._nearest_anatomy(lower, m, anatomy, mentions, sid)
                if best is None and sentence - 1 in hosts:
                    best = self._interpreted(lower, sid, m, mentions, hosts[sentence - 1])
                if best is None and self.defaults[finding]:
                    same = [r for o in placed if o[1] == finding and o[5] == existence for r in o[REGIONS]]
                    if same:
                        best = (0, list(dict.fromkeys(same)))
            if best is not None:
                m[REGIONS] = best[1]
                placed.append(m)  # an impression may restate it
            elif existence != "absent":
                whole_lungs = finding in self.lung_wide and not self.whole_lung_words.isdisjoint(lower[f.start:f.end])
                if not whole_lungs and _BOTH_SIDES.issubset(map(self.side_of.get, own_regions)):
                    m[REGIONS] = []  # ("pulmonary edema", "interstitial edema" say where: both lungs)
                elif whole_lungs:  # a host for what interprets it
                    wide.add(id(m))
                    hosts.setdefault(sentence, []).append(m)

    def _interpreted(self, lower: list[str], sid: list[int], m: Mention, mentions: list[Mention],
                     before: list[Mention]) -> Optional[tuple[int, list[str]]]:
        """Where the (first) observation of the sentence before lies, when `m`'s sentence only interprets it: no
        side word, every mention there unlocated and uncertain, or the sentence opens with an interpretation word
        ("Patchy opacity in the left lower lobe. Atelectasis versus early pneumonia.")."""
        hosts = [o for o in before if o[1] in self.interpreted]
        if not hosts:
            return None
        own = [o for o in mentions if o[2] == m[2]]
        if any(o[4] or o[5] == "absent" for o in own):
            return None
        first = min(o[0].start for o in own)
        i = first
        while i > 0 and sid[i - 1] == sid[first]:
            i -= 1
        opens = [w for w in lower[i:first] if w.isalpha()]
        if opens and opens[0] == "the":
            opens = opens[1:]
        if not all(o[5] == "uncertain" for o in own) and not (opens and opens[0] in self.interpretation):
            # or it opens with words that refer back ("This likely represents atelectasis."), and the mention is
            # what they say it is: the first, or in a list with it ("The appearance suggests scar or atelectasis.")
            if not (opens and opens[0] in self.anaphora and self._listed(lower, own, m)):
                return None
        j = first
        while j < len(sid) and sid[j] == sid[first]:
            j += 1
        if not self.side_words.isdisjoint(lower[i:j]):
            return None  # a side of its own ("deep sulcus sign on the right, concerning for pneumothorax")
        regions = self.allowed_part(m[1], hosts[0][REGIONS])
        return (0, regions) if regions else None

    @staticmethod
    def _listed(lower: list[str], own: list[Mention], m: Mention) -> bool:
        """Whether mention `m` is the first of its sentence's mentions `own` or in one list with it (only
        coordinating words and other mentions between)."""
        spans = sorted(o[0] for o in own)
        i = spans[0].end
        for g in spans[1:]:
            if g.start > m[0].start:
                break
            if any(w not in _COORD for w in lower[i:g.start]):
                return False
            i = max(i, g.end)
        return True

    def _nearest_anatomy(self, lower: list[str], m: Mention, anatomy: list[tuple[M, list[str]]],
                         mentions: list[Mention], sid: list[int]) -> Optional[tuple[int, list[str]]]:
        f, finding, sentence = m[0], m[1], m[2]
        best = None
        f_start, f_sent = f.start, sid[f.start]
        lateral = self.laterality[finding]
        others: Optional[list[M]] = None  # the other findings of the sentence, read when first needed
        boundaries = self.boundaries
        for a, regions in anatomy:
            a_start, a_end = a.start, a.end
            if sid[a_start] != f_sent or (a_start < f_start and not lateral):
                continue  # another sentence, or a device's anatomy said before it
            if others is None:
                others = [o[0] for o in mentions if o[0] is not f and o[2] == sentence]
            owned = False
            for g in others:
                if g.start <= a_start and a_end <= g.end or g.start - 1 <= a_end <= g.start:
                    owned = True  # anatomy owned by another finding
                    break
            if owned:
                continue
            lo, hi = (a_end, f_start) if a_start < f_start else (f.end, a_start)
            between = lower[lo:hi]
            if not boundaries.isdisjoint(between):
                continue
            if a_start > f_start and "," in between and _own_item(lower, lo + len(between) - between[::-1].index(","),
                                                                   a_start, a_end, others):
                continue  # a later comma-list item's place, which has its own finding
            cost = (hi - lo) + 3 * between.count(",")
            if cost > LINK_MAX_COST or (best is not None and cost >= best[0]):
                continue
            regions = self.allowed_part(finding, regions)
            if regions:
                best = (cost, regions, a)
        if best is None:
            return None
        regions = list(best[1])
        b = best[2]
        for a, more in anatomy:  # "right middle lobe/lingula": coordinated anatomy goes along
            lo, hi = (b.end, a.start) if b.start < a.start else (a.end, b.start)
            if a is not b and _coordinated(lower, lo, hi):
                regions += [r for r in self.allowed_part(finding, more) if r not in regions]
        return best[0], regions
