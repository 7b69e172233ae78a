"""asg_mentions: match anatomy and finding mentions, resolve laterality and link each finding to its regions."""
from __future__ import annotations

from typing import Any, Optional

from spacy.language import Language
from spacy.tokens import Doc, Span

from .component import OntologyComponent
from .linking import Found, Linker, M
from .phrases import Match
from .sentences import set_sentence_starts
from .tokenizer import customize_tokenizer
from .tokens import SentenceIndex, doc_ext, set_doc_ext

FINDINGS_KEY = "asg_findings"
ANATOMY_KEY = "asg_anatomy"

# Span extensions are keyed by character offsets only, so two mentions on the same words (one phrase can be
# both cardiomegaly and enlarged cardiomediastinum) would share them: per-mention data lives on the Doc instead.
for _name in ("asg_warnings", "asg_links", "asg_anatomy_regions"):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=None)


class Mentions(OntologyComponent):
    """Sets `doc.spans["asg_findings"]` / `["asg_anatomy"]`, `doc._.asg_links` and `doc._.asg_anatomy_regions`."""

    def _build(self) -> None:
        customize_tokenizer(self.nlp.tokenizer)
        self.linker = Linker(self.nlp, self.ontology)

    def analyse(self, doc: Doc, index: Optional[SentenceIndex] = None,
                buckets: Optional[list[list[Match]]] = None) -> Found:
        """Match and link the mentions of `doc` (sentence starts must be set; `index`: its sentence index, and
        `buckets`: its lexicon matches as `Matcher.bucketed` gives them, when the caller has them)."""
        return self.linker.analyse(doc, index, buckets)

    def __call__(self, doc: Doc) -> Doc:
        if not doc.has_annotation("SENT_START"):
            set_sentence_starts(doc)
        publish(doc, self.analyse(doc))
        return doc


def publish(doc: Doc, found: Found) -> list[Span]:
    """Store `found` on the doc: `doc.spans["asg_findings"]` / `["asg_anatomy"]` and the `doc._` extensions;
    returns the finding spans."""
    findings = [Span(doc, s, e, label=lab) for s, e, lab in found.findings]
    doc.spans[FINDINGS_KEY] = findings
    doc.spans[ANATOMY_KEY] = [Span(doc, s, e, label=lab) for s, e, lab in found.anatomy]
    # as rows, not dicts keyed by tuples: msgpack (Doc.to_bytes, DocBin, nlp.pipe(n_process=...)) turns such keys
    # into lists, which cannot key a dict again
    set_doc_ext(doc, "asg_links", [(*m, link) for m, link in found.links.items()])
    set_doc_ext(doc, "asg_anatomy_regions", [(*span, regions) for span, regions in found.anatomy_regions.items()])
    set_doc_ext(doc, "asg_warnings", found.warnings)
    return findings


def links_of(doc: Doc) -> dict[tuple[int, int, str], Any]:
    """(start, end, finding) -> the finding's link (regions, forced existence cue, located, generic), from the rows
    `publish` stored (a doc read back from bytes holds each link as a list)."""
    return {(r[0], r[1], r[2]): r[3] for r in doc_ext(doc, "asg_links") or ()}


def anatomy_regions_of(doc: Doc) -> dict[tuple[int, int], list[str]]:
    """(start, end) of each anatomy phrase -> the regions it names, from the rows `publish` stored."""
    return {(r[0], r[1]): r[2] for r in doc_ext(doc, "asg_anatomy_regions") or ()}


def stored(doc: Doc) -> Found:
    """The `Found` that `asg_mentions` stored on the doc (read back from `doc.spans` and the extensions)."""
    def group(key: str) -> list[M]:
        return [M(s.start, s.end, s.label_) for s in doc.spans[key]] if key in doc.spans else []

    return Found(group(FINDINGS_KEY), group(ANATOMY_KEY), links_of(doc), anatomy_regions_of(doc),
                 doc_ext(doc, "asg_warnings") or [])


@Language.factory("asg_mentions", default_config={"ontology": None})
def make_mentions(nlp: Language, name: str, ontology: Optional[str]) -> Mentions:
    """Anatomy/finding matcher and region linker driven by the ontology."""
    return Mentions(nlp, name, ontology=ontology)
