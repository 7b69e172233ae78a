"""asg_triplets: turn linked, existence-labelled mentions into triplets, the region→sentence map and ASG tags."""
from __future__ import annotations

from typing import Any, Optional

from spacy.language import Language
from spacy.tokens import Doc, Span

from .component import OntologyComponent
from .mentions import ANATOMY_KEY, FINDINGS_KEY, mention_key
from .schema import TAG_VALUE
from .sections import HEADERS_KEY, SECTIONS_KEY, DEFAULT_SECTION

for _name in ("asg_sentences", "asg_triplets", "asg_region_sentences", "asg_tags"):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=None)

_TAG_RANK = {1: 2, -1: 1, 0: 0}  # present beats uncertain beats absent


def _sentence_section(doc: Doc) -> list[tuple[Span, str]]:
    """Content sentences (header-only and blank ones dropped) with their section id."""
    sections = list(doc.spans[SECTIONS_KEY]) if SECTIONS_KEY in doc.spans else []
    headers = {(h.start, h.end) for h in doc.spans[HEADERS_KEY]} if HEADERS_KEY in doc.spans else set()
    out = []
    k = 0
    for sent in doc.sents:
        if (sent.start, sent.end) in headers or all(t.is_space or t.is_punct for t in sent):
            continue
        while k + 1 < len(sections) and sections[k + 1].start <= sent.start:
            k += 1
        out.append((sent, sections[k].label_ if sections else DEFAULT_SECTION))
    return out


class Triplets(OntologyComponent):
    """Sets `doc._.asg_sentences`, `doc._.asg_triplets`, `doc._.asg_region_sentences` and `doc._.asg_tags`."""

    def _build(self) -> None:
        secs = self.cfg.get("sections")
        self.parse_sections = set(secs) if secs else {s.id for s in self.ontology.sections.values() if s.parse}
        self.asg_tags = set(self.ontology.asg_tags)

    def __call__(self, doc: Doc) -> Doc:
        sents = _sentence_section(doc)
        sent_of: dict[int, int] = {}
        sentences: list[dict[str, Any]] = []
        for idx, (sent, section) in enumerate(sents):
            toks = [t for t in sent if not t.is_space]
            start, end = toks[0].idx, toks[-1].idx + len(toks[-1])
            sentences.append({"text": doc.text[start:end], "start": start, "end": end, "section": section})
            if section in self.parse_sections:
                for i in range(sent.start, sent.end):
                    sent_of[i] = idx
        links = doc._.asg_links or {}
        triplets: list[dict[str, Any]] = []
        region_map: dict[str, set[int]] = {}
        seen: set[tuple] = set()
        for f in doc.spans[FINDINGS_KEY] if FINDINGS_KEY in doc.spans else []:
            idx = sent_of.get(f.start)
            if idx is None:
                continue
            regions, forced = links.get(mention_key(f), (list(self.ontology.findings[f.label_].default_regions), None))
            if forced is not None:
                existence, cue = "absent", forced
            else:
                existence, cue = f._.asg_existence or "present", f._.asg_existence_cue
            for region in regions or [None]:
                key = (region, f.label_, existence, f.start_char, f.end_char)
                if key in seen:
                    continue
                seen.add(key)
                triplets.append({"region": region, "finding": f.label_, "existence": existence, "sentence": idx,
                                 "start": f.start_char, "end": f.end_char, "text": f.text,
                                 "cue": cue["text"] if cue else None})
                if region is not None:
                    region_map.setdefault(region, set()).add(idx)
        areg = doc._.asg_anatomy_regions or {}
        for a in doc.spans[ANATOMY_KEY] if ANATOMY_KEY in doc.spans else []:
            idx = sent_of.get(a.start)
            if idx is not None:
                for region in areg.get((a.start, a.end), ()):
                    region_map.setdefault(region, set()).add(idx)
        order = {r: i for i, r in enumerate(self.ontology.region_order)}
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
        return doc


@Language.factory("asg_triplets", default_config={"ontology": None, "sections": None})
def make_triplets(nlp: Language, name: str, ontology: Optional[str], sections: Optional[list[str]]) -> Triplets:
    """Triplet assembly; `sections` lists the sections that feed triplets (default: those with `parse: true`)."""
    return Triplets(nlp, name, ontology=ontology, sections=sections)
