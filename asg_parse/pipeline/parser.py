"""asg_parser: the whole report parser as one spaCy component (sections → sentences → mentions → existence → triplets)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple, Optional

from spacy.language import Language
from spacy.util import minibatch
from spacy.tokens import Doc

from .component import OntologyComponent
from .existence import ExistenceComponent, store_labels
from .existence_model import MODES, with_decided_by
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
        self.existence_model = None  # the learned existence layer (`existence_model` directory), if any
        self._missing_model: Optional[str] = None
        model_dir = self.cfg.get("existence_model")
        saved = getattr(self, "_saved_model", None)  # a copy beside a pipeline being loaded (from_disk)
        if saved is not None and saved.is_dir():
            model_dir = str(saved)
        mode = self.cfg.get("existence_mode") or "rules"
        if mode not in MODES:
            raise ValueError(f"{self.name}: existence_mode must be one of {', '.join(MODES)}, not {mode!r}")
        if mode != "rules" and not model_dir:
            raise ValueError(f"{self.name}: existence_mode {mode!r} needs an existence_model directory")
        if model_dir and not Path(model_dir).is_dir():
            self._missing_model = model_dir  # reported on first use unless from_disk brings the saved copy
        elif model_dir:
            from ..learning.trainer import load as load_model

            self.existence_model = load_model(model_dir, mode=self.cfg.get("existence_mode"),
                                              threshold=self.cfg.get("existence_threshold"))

    def to_disk(self, path: Any, *, exclude: tuple = ()) -> None:
        """The component's config and ontology, and a copy of its existence model (`existence_model/`)."""
        super().to_disk(path, exclude=exclude)
        if self.existence_model is not None:
            from ..learning.trainer import save

            save(self.existence_model, Path(path) / "existence_model", {"copied_from": self.cfg["existence_model"]})

    def from_disk(self, path: Any, *, exclude: tuple = ()) -> "Parser":
        self._saved_model = Path(path) / "existence_model"
        try:
            super().from_disk(path, exclude=exclude)
        finally:
            self._saved_model = None
        return self

    def phrase_matches(self, doc: Doc) -> list[list[Match]]:
        """The header matches, the mention matches (one list per bucket) and the cue matches of `doc`, found in one
        pass: cheaper than calling the three matchers."""
        walk = self._walk
        if walk is None:
            matcher = self.mentions.linker.matcher
            walk = self._walk = PhraseWalk([self.sections.matcher, matcher.lex.matcher, self.existence.engine.matcher],
                                           [None, matcher.route])
        tt = tokens(doc)
        return walk.find(tt.lower, tt.space)

    def __call__(self, doc: Doc) -> Doc:
        if self._missing_model is not None:
            raise ValueError(f"asg_parser: existence model directory not found: {self._missing_model}")
        return self._finish(self._analyse(doc))

    def pipe(self, docs: Iterable[Doc], batch_size: int = 128) -> Iterator[Doc]:
        """Docs in order; with a learned existence model, the mentions of `batch_size` docs are decided at once: the
        contexts it has not seen go through it in one call, the decision is made for all the mentions together."""
        model = self.existence_model
        if model is None or model.mode == "rules" or self._missing_model is not None:
            for doc in docs:
                yield self(doc)
            return
        for batch in minibatch(docs, batch_size):
            states = [self._analyse(doc) for doc in batch]
            for state, overrides in zip(states, model.batch_overrides([state.model_input for state in states])):
                yield self._finish(state, overrides)

    def _analyse(self, doc: Doc) -> "_Parse":
        """Everything up to the existence decision: sections, sentences, mentions, rule labels (and the model's
        input, when a model decides)."""
        header_matches, *mention_buckets, cue_matches = self.phrase_matches(doc)
        layout = self.sections.layout(doc, header_matches)
        spans = self.cfg.get("spans", True)
        # lean: the steps get the index, not the doc's
        index = set_sentence_starts(doc, layout.headers, store=spans, clauses=self.clauses)
        found = self.mentions.analyse(doc, index, mention_buckets)
        if not index.inner_space and len(index.starts) > 2:  # whitespace only between sentences: no cue spans one
            space = tokens(doc).space
            cue_matches = [m for m in cue_matches if not any(space[m[1]:m[2]])]
        labels = self.existence.engine.label_all(doc, found.findings, index, cue_matches)
        model = self.existence_model
        model_input = model.input_of(doc, found, labels, index) if model is not None else None
        return _Parse(doc, layout, index, found, labels, model_input)

    def _finish(self, state: "_Parse", overrides: Optional[list[tuple[int, str]]] = None) -> Doc:
        """The existence decision (`overrides`: the model's, when `pipe` made them for a batch), the triplets and
        the stored results of an analysed doc."""
        doc, layout, index, found, labels, model_input = state
        if model_input is None:
            self.triplets.assemble(doc, layout, found, labels, index).store(doc)
        else:  # the model's decision, and each triplet's `decided_by`
            labels, decided = self.existence_model.relabel(doc, found, labels, model_input, overrides)
            parse = self.triplets.assemble(doc, layout, found, labels, index)
            parse._replace(triplets=with_decided_by(parse.triplets, decided)).store(doc)
        if self.cfg.get("spans", True):
            store_layout(doc, layout)
            store_labels(doc, publish(doc, found), labels)
        release(doc)
        return doc


class _Parse(NamedTuple):
    """A doc analysed up to the existence decision (`Parser._analyse`)."""

    doc: Doc
    layout: Any
    index: Any
    found: Any
    labels: list
    model_input: Optional[tuple]


@Language.factory("asg_parser", default_config={"ontology": None, "sections": None, "spans": True,
                                                "convention": None, "existence_model": None,
                                                "existence_mode": "rules", "existence_threshold": None})
def make_parser(nlp: Language, name: str, ontology: Optional[str], sections: Optional[list[str]],
                spans: bool, convention: Optional[str], existence_model: Optional[str], existence_mode: str,
                existence_threshold: Optional[float]) -> Parser:
    """All-in-one report parser: `spacy.blank("en").add_pipe("asg_parser")`; `spans: false` skips storing the
    intermediate results, sentence starts included (faster; the triplets, region map and tags are the same);
    `convention` names the labelling profile (default `asg`). `existence_model`: a directory made by
    `asg-parse train existence`; `existence_mode`: rules | model | vote (see `asg_existence_model`);
    `existence_threshold`: the vote's confidence (default: the model's own)."""
    return Parser(nlp, name, ontology=ontology, sections=sections, spans=spans, convention=convention,
                  existence_model=existence_model, existence_mode=existence_mode,
                  existence_threshold=existence_threshold)
