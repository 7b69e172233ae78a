"""asg_triplets: turn linked, existence-labelled mentions into triplets, the region→sentence map and ASG tags."""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Sequence

from spacy.language import Language
from spacy.tokens import Doc

from .component import OntologyComponent
from .lexicon import boundary_words
from .linking import LINK_MAX_COST, Found, Link, M
from .mentions import stored
from .schema import TAG_VALUE
from .sections import DEFAULT_SECTION, Layout, spans_layout
from .sentences import set_sentence_starts
from .tokens import SentenceIndex, TokenTable, ext_key, release, sentence_index, set_doc_ext, tokens

OUTPUTS = ("asg_sentences", "asg_triplets", "asg_region_sentences", "asg_tags")
for _name in OUTPUTS:
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=None)

Label = tuple[Optional[str], Optional[dict]]  # (existence, cue) of a finding mention


class Assembled(NamedTuple):
    """The parse of one report, as the record fields."""

    sentences: list[dict[str, Any]]
    triplets: list[dict[str, Any]]
    region_sentences: dict[str, list[int]]
    tags: dict[str, int]
    warnings: list[str]

    def store(self, doc: Doc) -> None:
        """Set `doc._.asg_sentences`, `asg_triplets`, `asg_region_sentences`, `asg_tags` and `asg_warnings`."""
        for name, value in zip(OUTPUTS, self):
            set_doc_ext(doc, name, value)
        set_doc_ext(doc, "asg_warnings", self.warnings)


_TAG_RANK = {1: 2, -1: 1, 0: 0}  # present beats uncertain beats absent
_COORD = {"and", "or", "/", ",", "and/or", "&"}


def _content_sentences(tt: TokenTable, starts: list[int], layout: Layout) -> list[tuple[int, int, str, int]]:
    """Content sentences as token ranges (header-only and blank ones dropped) with their section id and their
    number among all sentences."""
    sections, headers = layout.sections, {(h.start, h.end) for h in layout.headers}
    space, punct = tt.space, tt.punct
    out, k = [], 0
    for raw, (b, e) in enumerate(zip(starts, starts[1:])):
        if (b, e) in headers or all(space[i] or punct[i] for i in range(b, e)):
            continue
        while k + 1 < len(sections) and sections[k + 1].start <= b:
            k += 1
        out.append((b, e, sections[k].label if sections else DEFAULT_SECTION, raw))
    return out


class Triplets(OntologyComponent):
    """Sets `doc._.asg_sentences`, `doc._.asg_triplets`, `doc._.asg_region_sentences` and `doc._.asg_tags`."""

    def _build(self) -> None:
        secs = self.cfg.get("sections")
        self.parse_sections = set(secs) if secs else {s.id for s in self.ontology.sections.values() if s.parse}
        self.asg_tags = set(self.ontology.asg_tags)
        self.boundaries = boundary_words(self.ontology)
        self.side_of = self.ontology.side_of
        self.laterality = self.ontology.laterality
        self.region_index = {r: i for i, r in enumerate(self.ontology.region_order)}
        self.silent = {f.id: f.silent for f in self.ontology.findings.values()}
        self.implies = {f.id: (f.implies.finding, {f.implies.finding, *f.implies.unless})
                        for f in self.ontology.findings.values() if f.implies is not None}
        lung = {r.id for r in self.ontology.regions.values() if r.zone == "lung"}
        # default zones that are specific (not whole lungs): a located host gives only its side to these findings
        self.specific_defaults = {f.id: list(f.default_regions) for f in self.ontology.findings.values()
                                  if f.default_regions and not lung & set(f.default_regions)}
        self.defaults = self.ontology.default_regions
        self.tag_order = list(self.ontology.asg_tags)

    def _mentions(self, found: Found, labels: Sequence[Label], sent_of: Callable[[int], Optional[int]]
                  ) -> list[dict[str, Any]]:
        """Finding mentions of the parsed sections with their link and existence (`labels`: one per finding)."""
        out = []
        for f, (existence, cue) in zip(found.findings, labels):
            idx = sent_of(f.start)
            if idx is None:
                continue
            link = found.links.get(f) or Link(list(self.defaults[f.label]), None, False)
            if link.forced is not None:
                existence, cue = link.forced["existence"], link.forced
            regions, located = list(link.regions), link.located
            if link.generic and existence == "absent":  # "the lungs are clear without effusion": its defaults
                regions, located = list(self.defaults[f.label]), False
            out.append({"span": f, "finding": f.label, "sentence": idx, "regions": regions,
                        "located": located, "existence": existence or "present", "cue": cue})
        return out + self._implied(out)

    def _implied(self, mentions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Mentions that stand for another finding too (`implies` in findings.yaml)."""
        named: dict[int, set[str]] = {}
        for m in mentions:
            named.setdefault(m["sentence"], set()).add(m["finding"])
        out = []
        for m in mentions:
            imp = self.implies.get(m["finding"])
            if imp is not None and not named[m["sentence"]] & imp[1]:
                out.append({**m, "finding": imp[0]})
        return out

    def _sided_defaults(self, finding: str, regions: list[str]) -> list[str]:
        """`regions` as a location for `finding`: its own default zones on the same sides when the defaults are
        specific (not whole lungs), else the allowed part of `regions`."""
        defaults = self.specific_defaults.get(finding)
        if defaults:
            sides = {self.side_of.get(r) for r in regions}
            sided = [r for r in defaults if self.side_of[r] in sides]
            if sided:
                return sided
        return self.ontology.allowed_part(finding, regions)

    def _locate(self, tt: TokenTable, found: Found, mentions: list[dict[str, Any]], sid: list[int]) -> None:
        """Give mentions without anatomy the location the text implies.

        1. A mention shares the location of the nearest located mention said before it in the same sentence, with
           no clause boundary between and neither absent unless both are ("left basilar opacity, likely atelectasis
           or effusion"; a device takes the location of a later device of its clause: "catheter with its tip in
           the SVC"); a finding whose defaults are specific zones (effusion: costophrenic angles) takes only the
           host's side ("left lower lobe pneumonia with parapneumonic effusion": left costophrenic angle).
        2. Otherwise a present/uncertain mention takes the nearest anatomy of its clause even when that anatomy
           already locates another finding ("nodule in the right lower lobe suggesting granulomatous disease").
        3. Otherwise a present/uncertain mention takes the location of the same finding said elsewhere in the
           report with the same existence (an impression restating a finding); not for devices (findings without
           default regions), where two mentions are usually two objects.
        4. Otherwise a present/uncertain mention whose default regions cover both sides gets no region: asserting
           both lungs would invent a location. Absent mentions keep their defaults ("no pneumothorax": both lungs).
        """
        located = [m for m in mentions if m["located"]]
        lower = tt.lower
        anatomy = [(a, found.anatomy_regions.get((a.start, a.end), [])) for a in found.anatomy]
        for m in mentions:
            if m["located"]:
                continue
            f = m["span"]
            best = None
            for o in located:
                g = o["span"]
                devices = not (self.laterality[o["finding"]] or self.laterality[m["finding"]])
                if not self.laterality[m["finding"]] and self.laterality[o["finding"]]:
                    continue  # a device is not where a finding is ("right pneumothorax after chest tube placement")
                lo, hi = (g.end, f.start) if g.start < f.start else (f.end, g.start)
                coordinated = 0 < hi - lo <= 2 and all(w in _COORD for w in lower[lo:hi])
                if o["sentence"] != m["sentence"] or ((g.start > f.start) != devices and not coordinated) or (
                        o["existence"] != m["existence"] and "absent" in (o["existence"], m["existence"])):
                    continue  # from its host, said before it; a device from a later device ("line with tip in the SVC")
                if self._crosses_boundary(lower, lo, hi):
                    continue
                regions = self._sided_defaults(m["finding"], o["regions"])
                cost = 0 if coordinated else hi - lo  # "atelectasis or scar in the lung bases"
                if regions and (best is None or cost < best[0]):
                    best = (cost, regions)
            if best is None and m["existence"] != "absent":
                best = self._nearest_anatomy(lower, m, anatomy, mentions, sid)
            if best is None and m["existence"] != "absent":
                same = [r for o in located if o["finding"] == m["finding"] and o["existence"] == m["existence"]
                        for r in o["regions"]] if self.defaults[m["finding"]] else []
                if same:
                    best = (0, list(dict.fromkeys(same)))
            if best is not None:
                m["regions"] = best[1]
            elif m["existence"] != "absent" and {self.side_of.get(r) for r in m["regions"]} >= {"left", "right"}:
                m["regions"] = []

    def _crosses_boundary(self, lower: list[str], lo: int, hi: int) -> bool:
        return any(lower[i] in self.boundaries for i in range(lo, hi))

    def _nearest_anatomy(self, lower: list[str], m: dict[str, Any], anatomy: list[tuple[M, list[str]]],
                         mentions: list[dict[str, Any]], sid: list[int]) -> Optional[tuple[int, list[str]]]:
        f, best = m["span"], None
        others = [o["span"] for o in mentions if o["span"] is not f and o["sentence"] == m["sentence"]]
        for a, regions in anatomy:
            if sid[a.start] != sid[f.start] or (a.start < f.start and not self.laterality[m["finding"]]) or any(
                    g.start <= a.start and a.end <= g.end or g.start - 1 <= a.end <= g.start for g in others):
                continue  # another sentence, a device's anatomy said before it, or anatomy owned by another finding
            lo, hi = (a.end, f.start) if a.start < f.start else (f.end, a.start)
            if self._crosses_boundary(lower, lo, hi):
                continue
            cost = (hi - lo) + 3 * sum(lower[i] == "," for i in range(lo, hi))
            regions = self.ontology.allowed_part(m["finding"], regions)
            if regions and cost <= LINK_MAX_COST and (best is None or cost < best[0]):
                best = (cost, regions, a)
        if best is None:
            return None
        regions = list(best[1])
        for a, more in anatomy:  # "right middle lobe/lingula": coordinated anatomy goes along
            b = best[2]
            lo, hi = (b.end, a.start) if b.start < a.start else (a.end, b.start)
            if a is not b and 0 < hi - lo <= 2 and all(w in _COORD for w in lower[lo:hi]):
                regions += [r for r in self.ontology.allowed_part(m["finding"], more) if r not in regions]
        return best[0], regions

    def assemble(self, doc: Doc, layout: Layout, found: Found, labels: Sequence[Label],
                 index: Optional[SentenceIndex] = None) -> Assembled:
        """Sentences, triplets, region map and tags of a doc whose sentence starts are set."""
        tt = tokens(doc)
        index = index or sentence_index(doc)
        sid, starts = index.ids, index.starts
        text = tt.doc_text()
        idx = tt.idx
        sentences: list[dict[str, Any]] = []
        parsed: dict[int, int] = {}  # sentence number -> index in `sentences`, for the parsed sections
        for b, e, section, raw in _content_sentences(tt, starts, layout):
            first = next(i for i in range(b, e) if not tt.space[i])
            if first + 2 < e and tt.text[first].isdigit() and tt.text[first + 1] in (".", ")"):
                first = next((i for i in range(first + 2, e) if not tt.space[i]), first)  # list number
            last = next(i for i in range(e - 1, b - 1, -1) if not tt.space[i])
            start, end = idx[first], idx[last] + len(tt.text[last])
            if section in self.parse_sections:
                parsed[raw] = len(sentences)
            sentences.append({"text": text[start:end], "start": start, "end": end, "section": section})

        def sent_of(token: int) -> Optional[int]:
            return parsed.get(sid[token])

        mentions = self._mentions(found, labels, sent_of)
        self._locate(tt, found, mentions, sid)
        triplets: list[dict[str, Any]] = []
        region_map: dict[str, set[int]] = {}
        seen: set[tuple] = set()
        for m in mentions:
            f, sent, finding = m["span"], m["sentence"], m["finding"]
            if self.silent.get(finding):
                continue
            start, end = tt.char_span(f.start, f.end)
            for region in m["regions"] or [None]:
                key = (region, finding, m["existence"], start, end)
                if key in seen:
                    continue
                seen.add(key)
                triplets.append({"region": region, "finding": finding, "existence": m["existence"], "sentence": sent,
                                 "start": start, "end": end, "text": text[start:end],
                                 "cue": m["cue"]["text"] if m["cue"] else None})
                if region is not None:
                    region_map.setdefault(region, set()).add(sent)
        for (a_start, _), regions in found.anatomy_regions.items():
            sent = sent_of(a_start)
            if sent is not None:
                for region in regions:
                    region_map.setdefault(region, set()).add(sent)
        order = self.region_index
        tags: dict[str, int] = {}
        for t in triplets:
            if t["finding"] in self.asg_tags:
                v = TAG_VALUE[t["existence"]]
                if t["finding"] not in tags or _TAG_RANK[v] > _TAG_RANK[tags[t["finding"]]]:
                    tags[t["finding"]] = v
        return Assembled(sentences, triplets,
                         {r: sorted(region_map[r]) for r in sorted(region_map, key=lambda r: order.get(r, 99))},
                         {t: tags[t] for t in self.tag_order if t in tags}, found.warnings)

    def __call__(self, doc: Doc) -> Doc:
        if not doc.has_annotation("SENT_START"):
            set_sentence_starts(doc)
        found = stored(doc)
        tt = tokens(doc)
        get = doc.user_data.get  # span._.asg_existence(_cue), read where spaCy keeps them
        chars = [tt.char_span(s, e) for s, e, _ in found.findings]
        labels = [(get(ext_key("asg_existence", *c)), get(ext_key("asg_existence_cue", *c))) for c in chars]
        self.assemble(doc, spans_layout(doc), found, labels).store(doc)
        release(doc)
        return doc


@Language.factory("asg_triplets", default_config={"ontology": None, "sections": None})
def make_triplets(nlp: Language, name: str, ontology: Optional[str], sections: Optional[list[str]]) -> Triplets:
    """Triplet assembly; `sections` lists the sections that feed triplets (default: those with `parse: true`)."""
    return Triplets(nlp, name, ontology=ontology, sections=sections)
