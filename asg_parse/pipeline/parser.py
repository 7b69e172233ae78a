"""asg_parser: the whole report parser as one spaCy component (sections → sentences → mentions → existence → triplets)."""
from __future__ import annotations

from typing import Optional

from spacy.language import Language
from spacy.tokens import Doc

from .component import OntologyComponent
from .existence import ExistenceComponent, store_labels
from .mentions import FINDINGS_KEY, Mentions, publish
from .phrases import Match, PhraseWalk
from .sections import Sections, store_layout
from .sentences import clause_rule, set_sentence_starts
from .tokens import release, tokens
from .triplets import Triplets


class Parser(OntologyComponent):
    """Runs the steps of our sub-components on a doc, handing their results over directly.

    The output (`doc._.asg_sentences`, `asg_triplets`, `asg_region_sentences`, `asg_tags`, `asg_warnings`) is the
    same as the five-component pipeline of `asg_parse.load()`. With `spans` (the default) the intermediate results
    are stored too (sentence starts; `doc.spans` of sections, headers, findings and anatomy; `span._.asg_existence`);
    without, the parse skips building those spaCy objects and annotations, which is what the CLI does.
    """

    def _build(self) -> None:
        onto = self.cfg["ontology"]
        self.sections = Sections(self.nlp, "sections", ontology=onto)
        self.mentions = Mentions(self.nlp, "mentions", ontology=onto)
        self.existence = ExistenceComponent(self.nlp, "existence", ent_types=[], span_keys=[FINDINGS_KEY], ontology=onto,
                                            convention=self.cfg.get("convention"))
        self.triplets = Triplets(self.nlp, "triplets", ontology=onto, sections=self.cfg.get("sections"))
        self._walk: Optional[PhraseWalk] = None  # built on first use, as the existence engine is
        self.clauses = clause_rule(self.ontology)

    def phrase_matches(self, doc: Doc) -> list[list[Match]]:
        """The header matches, the mention matches (one list per bucket) and the cue matches of `doc`, found in one
        pass: cheaper than calling the three matchers."""
        walk = self._walk
        if walk is None:
            matcher = self.mentions.linker.matcher
            walk = self._walk = PhraseWalk([self.sections.matcher, matcher.lex.matcher, self.existence.engine.matcher],
                                           [None, matcher.route])
        return walk.find(tokens(doc).lower)

    def __call__(self, doc: Doc) -> Doc:
        header_matches, *mention_buckets, cue_matches = self.phrase_matches(doc)
        layout = self.sections.layout(doc, header_matches)
        spans = self.cfg.get("spans", True)
        # lean: the steps get the index, not the doc's
        index = set_sentence_starts(doc, layout.headers, store=spans, clauses=self.clauses)
        found = self.mentions.analyse(doc, index, mention_buckets)
        labels = self.existence.engine.label_all(doc, found.findings, index, cue_matches)
        self.triplets.assemble(doc, layout, found, labels, index).store(doc)
        if spans:
            store_layout(doc, layout)
            store_labels(doc, publish(doc, found), labels)
        release(doc)
        return doc


@Language.factory("asg_parser", default_config={"ontology": None, "sections": None, "spans": True,
                                                "convention": None})
def make_parser(nlp: Language, name: str, ontology: Optional[str], sections: Optional[list[str]],
                spans: bool, convention: Optional[str]) -> Parser:
    """All-in-one report parser: `spacy.blank("en").add_pipe("asg_parser")`; `spans: false` skips storing the
    intermediate results, sentence starts included (faster; the triplets, region map and tags are the same);
    `convention` names the labelling profile (default `asg`)."""
    return Parser(nlp, name, ontology=ontology, sections=sections, spans=spans, convention=convention)
