"""asg_triplets: turn linked, existence-labelled mentions into triplets, the region→sentence map and ASG tags."""
from __future__ import annotations

from itertools import accumulate
from typing import Any, Optional

from spacy.language import Language
from spacy.tokens import Doc, Span

from .component import OntologyComponent
from .lexicon import boundary_words
from .mentions import ANATOMY_KEY, FINDINGS_KEY, LINK_MAX_COST, Link, mention_key
from .schema import TAG_VALUE
from .sentences import set_sentence_starts
from .tokens import release, sentence_ids, tokens
from .sections import HEADERS_KEY, SECTIONS_KEY, DEFAULT_SECTION

for _name in ("asg_sentences", "asg_triplets", "asg_region_sentences", "asg_tags"):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=None)

_TAG_RANK = {1: 2, -1: 1, 0: 0}  # present beats uncertain beats absent
_COORD = {"and", "or", "/", ",", "and/or", "&"}


def _sentence_section(doc: Doc, sid: list[int]) -> list[tuple[int, int, str]]:
    """Content sentences as token ranges (header-only and blank ones dropped) with their section id."""
    sections = [(s.start, s.label_) for s in doc.spans[SECTIONS_KEY]] if SECTIONS_KEY in doc.spans else []
    headers = {(h.start, h.end) for h in doc.spans[HEADERS_KEY]} if HEADERS_KEY in doc.spans else set()
    tt = tokens(doc)
    bounds, start = [], 0
    for i in range(1, len(sid) + 1):
        if i == len(sid) or sid[i] != sid[i - 1]:
            bounds.append((start, i))
            start = i
    out, k = [], 0
    for b, e in bounds:
        if (b, e) in headers or all(tt.space[i] or tt.punct[i] for i in range(b, e)):
            continue
        while k + 1 < len(sections) and sections[k + 1][0] <= b:
            k += 1
        out.append((b, e, sections[k][1] if sections else DEFAULT_SECTION))
    return out


class Triplets(OntologyComponent):
    """Sets `doc._.asg_sentences`, `doc._.asg_triplets`, `doc._.asg_region_sentences` and `doc._.asg_tags`."""

    def _build(self) -> None:
        secs = self.cfg.get("sections")
        self.parse_sections = set(secs) if secs else {s.id for s in self.ontology.sections.values() if s.parse}
        self.asg_tags = set(self.ontology.asg_tags)
        self.boundaries = boundary_words(self.ontology)
        self.side_of = {r.id: r.side for r in self.ontology.regions.values()}
        self.laterality = {f.id: f.laterality for f in self.ontology.findings.values()}
        self.region_index = {r: i for i, r in enumerate(self.ontology.region_order)}
        self.silent = {f.id: f.silent for f in self.ontology.findings.values()}

    def _mentions(self, doc: Doc, sent_of: dict[int, int]) -> list[dict[str, Any]]:
        """Finding mentions of the parsed sections with their link and existence."""
        links = doc._.asg_links or {}
        out = []
        for f in doc.spans[FINDINGS_KEY] if FINDINGS_KEY in doc.spans else []:
            idx = sent_of.get(f.start)
            if idx is None:
                continue
            link = links.get(mention_key(f)) or Link(list(self.ontology.findings[f.label_].default_regions), None, False)
            if link.forced is not None:
                existence, cue = link.forced["existence"], link.forced
            else:
                existence, cue = f._.asg_existence or "present", f._.asg_existence_cue
            out.append({"span": f, "finding": f.label_, "sentence": idx, "regions": list(link.regions),
                        "located": link.located, "existence": existence, "cue": cue})
        return out + self._implied(out)

    def _implied(self, mentions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Mentions that stand for another finding too (`implies` in findings.yaml)."""
        named: dict[int, set[str]] = {}
        for m in mentions:
            named.setdefault(m["sentence"], set()).add(m["finding"])
        out = []
        for m in mentions:
            imp = self.ontology.findings[m["finding"]].implies
            if imp is not None and not named[m["sentence"]] & {imp.finding, *imp.unless}:
                out.append({**m, "finding": imp.finding})
        return out

    def _sided_defaults(self, finding: str, regions: list[str]) -> list[str]:
        """`regions` as a location for `finding`: its own default zones on the same sides when the defaults are
        specific (not whole lungs), else the allowed part of `regions`."""
        defaults = self.ontology.findings[finding].default_regions
        if defaults and not any(self.ontology.regions[r].zone == "lung" for r in defaults):
            sides = {self.side_of.get(r) for r in regions}
            sided = [r for r in defaults if self.side_of[r] in sides]
            if sided:
                return sided
        return self._allowed(finding, regions)

    def _allowed(self, finding: str, regions: list[str]) -> list[str]:
        allowed = self.ontology.allowed(finding)
        return [r for r in regions if allowed is None or r in allowed]

    def _locate(self, doc: Doc, mentions: list[dict[str, Any]], sid: list[int]) -> None:
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
        lower = tokens(doc).lower
        areg = doc._.asg_anatomy_regions or {}
        anatomy = [(a, areg.get((a.start, a.end), [])) for a in doc.spans[ANATOMY_KEY]] if ANATOMY_KEY in doc.spans else []
        for m in mentions:
            if m["located"]:
                continue
            f = m["span"]
            best = None
            for o in located:
                g = o["span"]
                devices = not (self.laterality[o["finding"]] or self.laterality[m["finding"]])
                lo, hi = (g.end, f.start) if g.start < f.start else (f.end, g.start)
                coordinated = 0 < hi - lo <= 2 and all(w in _COORD for w in lower[lo:hi])
                if o["sentence"] != m["sentence"] or ((g.start > f.start) != devices and not coordinated) or (
                        o["existence"] != m["existence"] and "absent" in (o["existence"], m["existence"])):
                    continue  # from its host, said before it; a device from a later device ("line with tip in the SVC")
                if self._crosses_boundary(doc, lo, hi):
                    continue
                regions = self._sided_defaults(m["finding"], o["regions"])
                cost = 0 if coordinated else hi - lo  # "atelectasis or scar in the lung bases"
                if regions and (best is None or cost < best[0]):
                    best = (cost, regions)
            if best is None and m["existence"] != "absent":
                best = self._nearest_anatomy(doc, m, anatomy, mentions, sid)
            if best is None and m["existence"] != "absent":
                same = [r for o in located if o["finding"] == m["finding"] and o["existence"] == m["existence"]
                        for r in o["regions"]] if self.ontology.findings[m["finding"]].default_regions else []
                if same:
                    best = (0, list(dict.fromkeys(same)))
            if best is not None:
                m["regions"] = best[1]
            elif m["existence"] != "absent" and {self.side_of.get(r) for r in m["regions"]} >= {"left", "right"}:
                m["regions"] = []

    def _crosses_boundary(self, doc: Doc, lo: int, hi: int) -> bool:
        lower = tokens(doc).lower
        return any(lower[i] in self.boundaries for i in range(lo, hi))

    def _nearest_anatomy(self, doc: Doc, m: dict[str, Any], anatomy: list[tuple[Span, list[str]]],
                         mentions: list[dict[str, Any]], sid: list[int]) -> Optional[tuple[int, list[str]]]:
        f, best = m["span"], None
        others = [o["span"] for o in mentions if o["span"] is not f and o["sentence"] == m["sentence"]]
        lower = tokens(doc).lower
        for a, regions in anatomy:
            if sid[a.start] != sid[f.start] or (a.start < f.start and not self.laterality[m["finding"]]) or any(
                    g.start <= a.start and a.end <= g.end or g.start - 1 <= a.end <= g.start for g in others):
                continue  # another sentence, a device's anatomy said before it, or anatomy owned by another finding
            lo, hi = (a.end, f.start) if a.start < f.start else (f.end, a.start)
            if self._crosses_boundary(doc, lo, hi):
                continue
            cost = (hi - lo) + 3 * sum(lower[i] == "," for i in range(lo, hi))
            regions = self._allowed(m["finding"], regions)
            if regions and cost <= LINK_MAX_COST and (best is None or cost < best[0]):
                best = (cost, regions, a)
        if best is None:
            return None
        regions = list(best[1])
        for a, more in anatomy:  # "right middle lobe/lingula": coordinated anatomy goes along
            b = best[2]
            lo, hi = (b.end, a.start) if b.start < a.start else (a.end, b.start)
            if a is not b and 0 < hi - lo <= 2 and all(w in _COORD for w in lower[lo:hi]):
                regions += [r for r in self._allowed(m["finding"], more) if r not in regions]
        return best[0], regions

    def __call__(self, doc: Doc) -> Doc:
        if not doc.has_annotation("SENT_START"):
            set_sentence_starts(doc)
        sid = sentence_ids(doc)
        tt = tokens(doc)
        sent_of: dict[int, int] = {}
        sentences: list[dict[str, Any]] = []
        text = tt.doc_text()
        offsets = list(accumulate((len(t) + len(w) for t, w in zip(tt.text, tt.ws)), initial=0))
        for idx, (b, e, section) in enumerate(_sentence_section(doc, sid)):
            first = next(i for i in range(b, e) if not tt.space[i])
            if first + 2 < e and tt.text[first].isdigit() and tt.text[first + 1] in (".", ")"):
                first = next((i for i in range(first + 2, e) if not tt.space[i]), first)  # list number
            last = next(i for i in range(e - 1, b - 1, -1) if not tt.space[i])
            start, end = offsets[first], offsets[last] + len(tt.text[last])
            sentences.append({"text": text[start:end], "start": start, "end": end, "section": section})
            if section in self.parse_sections:
                for i in range(b, e):
                    sent_of[i] = idx
        mentions = self._mentions(doc, sent_of)
        self._locate(doc, mentions, sid)
        triplets: list[dict[str, Any]] = []
        region_map: dict[str, set[int]] = {}
        seen: set[tuple] = set()
        for m in mentions:
            f, idx, finding = m["span"], m["sentence"], m["finding"]
            if self.silent.get(finding):
                continue
            start, end = offsets[f.start], offsets[f.end - 1] + len(tt.text[f.end - 1])
            for region in m["regions"] or [None]:
                key = (region, finding, m["existence"], start, end)
                if key in seen:
                    continue
                seen.add(key)
                triplets.append({"region": region, "finding": finding, "existence": m["existence"], "sentence": idx,
                                 "start": start, "end": end, "text": text[start:end],
                                 "cue": m["cue"]["text"] if m["cue"] else None})
                if region is not None:
                    region_map.setdefault(region, set()).add(idx)
        for (a_start, _), regions in (doc._.asg_anatomy_regions or {}).items():
            idx = sent_of.get(a_start)
            if idx is not None:
                for region in regions:
                    region_map.setdefault(region, set()).add(idx)
        order = self.region_index
        tags: dict[str, int] = {}
        for t in triplets:
            if t["finding"] in self.asg_tags:
                v = TAG_VALUE[t["existence"]]
                if t["finding"] not in tags or _TAG_RANK[v] > _TAG_RANK[tags[t["finding"]]]:
                    tags[t["finding"]] = v
        doc._.asg_sentences = sentences
        doc._.asg_triplets = triplets
        doc._.asg_region_sentences = {r: sorted(region_map[r]) for r in sorted(region_map, key=lambda r: order.get(r, 99))}
        doc._.asg_tags = {t: tags[t] for t in self.ontology.asg_tags if t in tags}
        release(doc)
        return doc


@Language.factory("asg_triplets", default_config={"ontology": None, "sections": None})
def make_triplets(nlp: Language, name: str, ontology: Optional[str], sections: Optional[list[str]]) -> Triplets:
    """Triplet assembly; `sections` lists the sections that feed triplets (default: those with `parse: true`)."""
    return Triplets(nlp, name, ontology=ontology, sections=sections)
