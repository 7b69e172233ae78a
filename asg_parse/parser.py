"""asg_parser: the whole report parser as one spaCy component (sections → sentences → mentions → existence → triplets)."""
from __future__ import annotations

from typing import Optional

from spacy.language import Language
from spacy.tokens import Doc

from .component import OntologyComponent
from .existence import ExistenceComponent
from .mentions import FINDINGS_KEY, Mentions
from .sections import Sections
from .sentences import set_sentence_starts
from .triplets import Triplets


class Parser(OntologyComponent):
    """Runs our sub-components in order on a doc; the same objects `asg_parse.load()` puts in the pipeline."""

    def _build(self) -> None:
        onto = self.cfg["ontology"]
        self.steps = [
            Sections(self.nlp, "sections", ontology=onto),
            Mentions(self.nlp, "mentions", ontology=onto),
            ExistenceComponent(self.nlp, "existence", ent_types=[], span_keys=[FINDINGS_KEY], ontology=onto),
            Triplets(self.nlp, "triplets", ontology=onto, sections=self.cfg.get("sections")),
        ]

    def __call__(self, doc: Doc) -> Doc:
        sections, rest = self.steps[0], self.steps[1:]
        sections(doc)
        set_sentence_starts(doc)
        for step in rest:
            step(doc)
        return doc


@Language.factory("asg_parser", default_config={"ontology": None, "sections": None})
def make_parser(nlp: Language, name: str, ontology: Optional[str], sections: Optional[list[str]]) -> Parser:
    """All-in-one report parser: `spacy.blank("en").add_pipe("asg_parser")`."""
    return Parser(nlp, name, ontology=ontology, sections=sections)
