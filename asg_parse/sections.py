"""asg_sections: find report section headers (FINDINGS:, IMPRESSION:, ...) and label the text under each."""
from __future__ import annotations

from typing import Optional

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span

from .component import OntologyComponent

SECTIONS_KEY = "asg_sections"
HEADERS_KEY = "asg_section_headers"
DEFAULT_SECTION = "findings"


class Sections(OntologyComponent):
    """Sets `doc.spans["asg_sections"]` (label = section id) and `doc.spans["asg_section_headers"]`."""

    def _build(self) -> None:
        self.matcher = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        for sec in self.ontology.sections.values():
            self.matcher.add(sec.id, [self.nlp.make_doc(h) for h in sec.headers])

    @staticmethod
    def _at_line_start(doc: Doc, i: int) -> bool:
        if i == 0:
            return True
        prev = doc[i - 1]
        return prev.is_space or "\n" in prev.whitespace_ or prev.text in {".", ":", ";"} or "\n" in prev.text

    def headers(self, doc: Doc) -> list[Span]:
        """Header spans (including the trailing colon) in document order."""
        found: list[Span] = []
        last_end = -1
        for match_id, start, end in sorted(self.matcher(doc), key=lambda m: (m[1], -m[2])):
            if start < last_end or not self._at_line_start(doc, start):
                continue
            nxt = doc[end] if end < len(doc) else None
            if nxt is not None and nxt.text in {":", "-"}:
                end += 1
            elif not (doc[start:end].text.isupper() and (nxt is None or nxt.is_space or "\n" in doc[end - 1].whitespace_)):
                continue
            found.append(Span(doc, start, end, label=match_id))
            last_end = end
        return found

    def __call__(self, doc: Doc) -> Doc:
        heads = self.headers(doc)
        sections: list[Span] = []
        if not heads:
            if len(doc):
                sections.append(Span(doc, 0, len(doc), label=DEFAULT_SECTION))
        else:
            if heads[0].start > 0:
                sections.append(Span(doc, 0, heads[0].start, label=DEFAULT_SECTION))
            for h, nxt in zip(heads, heads[1:] + [None]):
                sections.append(Span(doc, h.start, nxt.start if nxt is not None else len(doc), label=h.label))
        doc.spans[SECTIONS_KEY] = sections
        doc.spans[HEADERS_KEY] = heads
        return doc


@Language.factory("asg_sections", default_config={"ontology": None})
def make_sections(nlp: Language, name: str, ontology: Optional[str]) -> Sections:
    """Section detector driven by `sections.yaml` of the ontology."""
    return Sections(nlp, name, ontology=ontology)
