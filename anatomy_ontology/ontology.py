"""The validated Ontology object with its derived indexes (hierarchy, side/zone lookup, ASG tag order)."""
from __future__ import annotations

from functools import cached_property
from typing import Iterable, Optional

from .cues import Convention, Cue
from .labels import LabelSet
from .loader import OntologyError, RawOntology
from .schema import Finding, Home, Region, RegionGroup, Section, SideWords, Zone


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


class Ontology:
    """Regions, zones, groups, findings, cues, sections and atlas boxes, cross-checked."""

    def __init__(self, raw: RawOntology):
        self._origin = raw.origin
        self.regions: dict[str, Region] = {r.id: r for r in raw.regions}
        self.zones: dict[str, Zone] = {z.id: z for z in raw.zones}
        self.groups: dict[str, RegionGroup] = {g.id: g for g in raw.groups}
        self.homes: dict[str, Home] = {h.id: h for h in raw.homes}
        self.sides: SideWords = raw.sides or SideWords(left=["left"], right=["right"], both=["bilateral"])
        self.name_words: frozenset[str] = frozenset(raw.name_words)
        self.clause_breaks: frozenset[str] = frozenset(raw.clause_breaks or [";"])
        self.exam_words: frozenset[str] = frozenset(raw.exam_words)
        self.phrase_breaks: frozenset[str] = frozenset(raw.phrase_breaks)
        self.place_prepositions: frozenset[str] = frozenset(raw.place_prepositions)
        self.measure_words: frozenset[str] = frozenset(raw.measure_words)
        self.interpretation_words: frozenset[str] = frozenset(raw.interpretation_words)
        self.whole_lung_words: frozenset[str] = frozenset(raw.whole_lung_words)
        self.part_words: frozenset[str] = frozenset(raw.part_words)
        self.side_gap_words: frozenset[str] = frozenset(raw.side_gap_words)
        self.extent_words: frozenset[str] = frozenset(raw.extent_words)
        self.level_words: frozenset[str] = frozenset(raw.level_words)
        self.level_regions: frozenset[str] = frozenset(raw.level_regions)
        self.interpreted_findings: frozenset[str] = frozenset(raw.interpreted_findings)
        self.copulas: frozenset[str] = frozenset(raw.copulas)
        self.predicate_words: frozenset[str] = frozenset(raw.predicate_words)
        self.clause_openers: frozenset[str] = frozenset(raw.clause_openers)
        self.anaphora_words: frozenset[str] = frozenset(raw.anaphora_words)
        self.adjacency_words: frozenset[str] = frozenset(raw.adjacency_words)
        self.absent_place_classes: frozenset[str] = frozenset(raw.absent_place_classes)
        self.findings: dict[str, Finding] = {f.id: f for f in raw.findings}
        self.objects: frozenset[str] = frozenset(raw.objects)
        self.cues: list[Cue] = list(raw.cues)
        self.conventions: dict[str, Convention] = {c.id: c for c in raw.conventions}
        self.label_sets: dict[str, LabelSet] = {s.id: s for s in raw.label_sets}
        self.sections: dict[str, Section] = {s.id: s for s in raw.sections}
        self.atlas: dict[str, tuple[float, float, float, float]] = {b.region: b.box for b in raw.boxes}
        self._check()

    @classmethod
    def from_raw(cls, raw: RawOntology) -> "Ontology":
        return cls(raw)

    # ------------------------------------------------------------------ validation
    def _file(self, list_key: str, key: str) -> str:
        return self._origin.get(f"{list_key}:{key}", f"{list_key}.yaml")

    def _err(self, list_key: str, key: str, problem: str) -> OntologyError:
        return OntologyError(self._file(list_key, key), key, problem)

    def _check(self) -> None:
        for r in self.regions.values():
            if r.parent is not None and r.parent not in self.regions:
                raise self._err("regions", r.id, f"unknown parent '{r.parent}'")
            if r.zone is not None:
                if r.zone not in self.zones:
                    raise self._err("regions", r.id, f"unknown zone '{r.zone}'")
                if r.side == "none":
                    raise self._err("regions", r.id, "a region with a zone needs side left or right")
        for r in self.regions.values():  # cycles
            seen, cur = {r.id}, r.parent
            while cur is not None:
                if cur in seen:
                    raise self._err("regions", r.id, f"parent cycle through '{cur}'")
                seen.add(cur)
                cur = self.regions[cur].parent
        for g in self.groups.values():
            self._known_regions("groups", g.id, g.regions)
        for f in self.findings.values():
            self._known_regions("findings", f.id, f.default_regions, "default_regions")
            self._known_regions("findings", f.id, f.allowed_regions, "allowed_regions")
            for st in f.states:
                self._known_regions("findings", f.id, st.regions, "states")
            for other in f.modifier_of + ([f.implies.finding, *f.implies.unless] if f.implies else []):
                if other not in self.findings:
                    raise self._err("findings", f.id, f"unknown finding '{other}' in modifier_of/implies")
        self._check_homes()
        for region in self.atlas:
            if region not in self.regions:
                raise self._err("boxes", region, f"unknown region '{region}'")
        self._check_forms()
        self._check_conventions()

    def _check_homes(self) -> None:
        home_of: dict[str, str] = {}
        for h in self.homes.values():
            self._known_regions("homes", h.id, h.regions)
            for g in h.groups:
                if g not in self.groups:
                    raise self._err("homes", h.id, f"groups: unknown region group '{g}'")
            for f in h.findings:
                if f not in self.findings:
                    raise self._err("homes", h.id, f"findings: unknown finding '{f}'")
                if home_of.setdefault(f, h.id) != h.id:
                    raise self._err("homes", h.id, f"finding '{f}' is also in home '{home_of[f]}'")

    def _check_conventions(self) -> None:
        for f in sorted(self.objects - set(self.findings)):
            raise OntologyError(self._origin.get("objects", "existence.yaml"), "objects", f"unknown finding '{f}'")
        classes = {c.trigger_class for c in self.cues} - {None}
        for conv in self.conventions.values():
            for cls in conv.classes:
                if cls not in classes:
                    raise self._err("conventions", conv.id, f"unknown cue class '{cls}' (known: {sorted(classes)})")
        for ls in self.label_sets.values():
            for obs in ls.observations:
                for f in [*obs.findings, *obs.hedged_findings, *(w.finding for w in obs.word_mentions)]:
                    if f not in self.findings:
                        raise self._err("label_sets", ls.id, f"observation '{obs.name}': unknown finding '{f}'")
                for rs in obs.region_states:
                    for r in rs.regions:
                        if r not in self.regions:
                            raise self._err("label_sets", ls.id, f"observation '{obs.name}': unknown region '{r}'")
            if ls.convention is not None and ls.convention not in self.conventions:
                raise self._err("label_sets", ls.id, f"unknown convention '{ls.convention}'")

    def convention(self, name: Optional[str]) -> Convention:
        """The convention profile `name` (None: `asg`); a ValueError naming the known ones otherwise."""
        key = name or "asg"
        conv = self.conventions.get(key)
        if conv is None:
            raise ValueError(f"unknown convention '{key}' (known: {', '.join(sorted(self.conventions)) or 'none'})")
        return conv

    def _known_regions(self, list_key: str, key: str, ids: list[str], field: str = "regions") -> None:
        for rid in ids:
            if rid not in self.regions:
                raise self._err(list_key, key, f"{field}: unknown region '{rid}'")

    def _check_forms(self) -> None:
        anatomy: dict[str, tuple[str, str]] = {}
        for list_key, entries in (("regions", self.regions), ("zones", self.zones), ("groups", self.groups)):
            for e in entries.values():
                forms = [e.id, *e.variants, *getattr(e, "plural", [])]
                for form in {_norm(x) for x in forms}:
                    owner = anatomy.get(form)
                    if owner is not None and owner != (list_key, e.id):
                        raise self._err(list_key, e.id, f"surface form '{form}' is also mapped to {owner[0][:-1]} '{owner[1]}'")
                    anatomy[form] = (list_key, e.id)
        found: dict[str, str] = {}
        for f in self.findings.values():
            for form in {_norm(x) for x in [f.id, *f.forms]}:
                if form in found and found[form] != f.id:
                    raise self._err("findings", f.id, f"surface form '{form}' is also mapped to finding '{found[form]}'")
                found[form] = f.id
        cue_kinds: dict[str, str] = {}
        for c in self.cues:
            prev = cue_kinds.get(c.text)
            if prev is not None and prev != c.kind:
                raise self._err("cues", c.text, f"cue is both '{prev}' and '{c.kind}'")
            cue_kinds[c.text] = c.kind

    # ------------------------------------------------------------------ derived views
    @cached_property
    def region_order(self) -> list[str]:
        """Region ids in file order (the training side's region index)."""
        return list(self.regions)

    @cached_property
    def asg_tags(self) -> list[str]:
        """The ASG tag ids in the paper's order (file order of findings flagged `asg_tag`)."""
        return [f.id for f in self.findings.values() if f.asg_tag]

    @cached_property
    def children(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {rid: [] for rid in self.regions}
        for r in self.regions.values():
            if r.parent is not None:
                out[r.parent].append(r.id)
        return out

    def descendants(self, region: str) -> set[str]:
        """`region` and every region below it."""
        out, stack = set(), [region]
        while stack:
            cur = stack.pop()
            if cur not in out:
                out.add(cur)
                stack.extend(self.children.get(cur, ()))
        return out

    def ancestors(self, region: str) -> list[str]:
        """The parents of `region`, nearest first."""
        out, cur = [], self.regions[region].parent
        while cur is not None:
            out.append(cur)
            cur = self.regions[cur].parent
        return out

    @cached_property
    def zone_regions(self) -> dict[tuple[str, str], str]:
        """(side, zone) -> region id."""
        return {(r.side, r.zone): r.id for r in self.regions.values() if r.zone is not None}

    def allowed(self, finding: str) -> Optional[frozenset[str]]:
        """Regions where `finding` may be located, or None for anywhere."""
        return self._allowed[finding]

    def allowed_part(self, finding: str, regions: Iterable[str]) -> list[str]:
        """The `regions` where `finding` may be located, in their order."""
        allowed = self._allowed[finding]
        return list(regions) if allowed is None else [r for r in regions if r in allowed]

    @cached_property
    def side_of(self) -> dict[str, str]:
        """Region id -> its side (left, right or none)."""
        return {r.id: r.side for r in self.regions.values()}

    @cached_property
    def laterality(self) -> dict[str, bool]:
        """Finding id -> whether a side word locates it."""
        return {f.id: f.laterality for f in self.findings.values()}

    @cached_property
    def default_regions(self) -> dict[str, tuple[str, ...]]:
        """Finding id -> its default regions."""
        return {f.id: tuple(f.default_regions) for f in self.findings.values()}

    @cached_property
    def home_regions(self) -> dict[str, frozenset[str]]:
        """Finding id -> the regions of its home (`homes` in regions.yaml), parts included unless the home says
        otherwise; findings of no home are not keys."""
        out: dict[str, frozenset[str]] = {}
        for h in self.homes.values():
            tops = [*h.regions, *(r for g in h.groups for r in self.groups[g].regions)]
            regions = frozenset().union(*(self.descendants(r) for r in tops)) if h.parts else frozenset(tops)
            out.update(dict.fromkeys(h.findings, regions))
        return out

    @cached_property
    def _allowed(self) -> dict[str, Optional[frozenset[str]]]:
        out: dict[str, Optional[frozenset[str]]] = {}
        for f in self.findings.values():
            out[f.id] = frozenset().union(*(self.descendants(r) for r in f.allowed_regions)) if f.allowed_regions \
                else None
        return out

    def section_for_header(self) -> dict[str, str]:
        return {_norm(h): s.id for s in self.sections.values() for h in s.headers}
