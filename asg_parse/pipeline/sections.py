"""asg_sections: find report section headers (FINDINGS:, IMPRESSION:, ...) and label the text under each."""
from __future__ import annotations

from functools import partial
from typing import NamedTuple, Optional

from spacy.language import Language
from spacy.tokens import Doc, Span

from .component import OntologyComponent
from .phrases import LowerPhrases, Match
from .tokens import tokens

SECTIONS_KEY = "asg_sections"
HEADERS_KEY = "asg_section_headers"
DEFAULT_SECTION = "findings"
_LINE_END = {".", ":", ";"}
_HEADER_END = {":", "-"}


class Part(NamedTuple):
    """Tokens [start, end) with a label (a section id)."""

    start: int
    end: int
    label: str


class Layout(NamedTuple):
    """A report's sections (contiguous, covering the doc) and the header spans that open them."""

    sections: list[Part]
    headers: list[Part]


_new_part = partial(tuple.__new__, Part)  # a Part from a (start, end, label) tuple, without the Python-level __new__
_new_layout = partial(tuple.__new__, Layout)


def _match_order(match: tuple[int, int, int]) -> tuple[int, int]:
    """Matches by start, the longest first."""
    return match[1], -match[2]


def spans_layout(doc: Doc) -> Layout:
    """The layout stored in `doc.spans` by `asg_sections` (empty when it did not run)."""
    sections = [Part(s.start, s.end, s.label_) for s in doc.spans[SECTIONS_KEY]] if SECTIONS_KEY in doc.spans else []
    headers = [Part(h.start, h.end, h.label_) for h in doc.spans[HEADERS_KEY]] if HEADERS_KEY in doc.spans else []
    return Layout(sections, headers)


class Sections(OntologyComponent):
    """Sets `doc.spans["asg_sections"]` (label = section id) and `doc.spans["asg_section_headers"]`."""

    def _build(self) -> None:
        self.matcher = LowerPhrases(self.nlp.vocab)
        for sec in self.ontology.sections.values():
            self.matcher.add(sec.id, [self.nlp.make_doc(h) for h in sec.headers])
        self.labels = {self.nlp.vocab.strings[s]: s for s in self.ontology.sections}

    def headers(self, doc: Doc, matches: Optional[list[Match]] = None) -> list[Part]:
        """Header spans (including the trailing colon) in document order: at a line start, and followed by a
        colon/dash or written in capitals at the end of a line (`matches`: this matcher's, when the caller has them)."""
        tt = tokens(doc)
        text, space, newlines = tt.text, tt.space, tt.newlines
        n = len(text)
        found: list[Part] = []
        last_end = -1
        for match_id, start, end in sorted(self.matcher(doc) if matches is None else matches, key=_match_order):
            if start < last_end or any(space[start:end]):
                continue  # (a header is on one line: a form wrapped over two is no header)
            if start and not (space[start - 1] or newlines[start - 1] or text[start - 1] in _LINE_END):
                continue  # not at a line start
            if end < n and text[end] in _HEADER_END:
                end += 1
            elif not (tt.span_text(start, end).isupper() and (end >= n or space[end])):
                continue
            found.append(_new_part((start, end, self.labels[match_id])))
            last_end = end
        return found

    def layout(self, doc: Doc, matches: Optional[list[Match]] = None) -> Layout:
        """Sections and headers of `doc` (text before the first header is a findings section)."""
        heads = self.headers(doc, matches)
        n = len(doc)
        if not heads:
            return _new_layout(([_new_part((0, n, DEFAULT_SECTION))] if n else [], heads))
        first = heads[0][0]
        sections = [_new_part((0, first, DEFAULT_SECTION))] if first > 0 else []
        sections += [_new_part((h[0], nxt[0], h[2])) for h, nxt in zip(heads, heads[1:])]
        last = heads[-1]
        sections.append(_new_part((last[0], n, last[2])))
        return _new_layout((sections, heads))

    def __call__(self, doc: Doc) -> Doc:
        store_layout(doc, self.layout(doc))
        return doc


def store_layout(doc: Doc, layout: Layout) -> None:
    """Store `layout` as `doc.spans["asg_sections"]` and `doc.spans["asg_section_headers"]`."""
    doc.spans[SECTIONS_KEY] = [Span(doc, *p) for p in layout.sections]
    doc.spans[HEADERS_KEY] = [Span(doc, *p) for p in layout.headers]


@Language.factory("asg_sections", default_config={"ontology": None})
def make_sections(nlp: Language, name: str, ontology: Optional[str]) -> Sections:
    """Section detector driven by `sections.yaml` of the ontology."""
    return Sections(nlp, name, ontology=ontology)
