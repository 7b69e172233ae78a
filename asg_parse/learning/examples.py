"""A labelled report (text + gold mentions) and its featurisation: the rule pipeline labels each gold mention, and
the model's features are read from the same doc (sentences split as the parser splits them)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ..pipeline.linking import M
from ..pipeline.existence_features import Features, doc_features
from ..pipeline.existence_model import LABEL_INDEX, forced_label, is_forced
from ..pipeline.tokens import release, sentence_index


@dataclass
class Mention:
    """A gold mention: characters [start, end) of the text, its existence and (when known) its finding id."""

    start: int
    end: int
    existence: str
    finding: str = ""


@dataclass
class LabelledReport:
    """One training / evaluation unit: a report (or sentence) with its gold mentions; `group` is the unit of
    cross-validation folds (document, report, sentence); `weight` < 1 for silver."""

    id: str
    text: str
    mentions: list[Mention]
    group: str = ""
    weight: float = 1.0
    source: str = ""


@dataclass
class Featurised:
    """The mentions of some reports as model input, with gold labels, weights and the rule labels."""

    feats: list[Features] = field(default_factory=list)
    golds: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    rules: list[int] = field(default_factory=list)
    rule_labels: list[tuple[Optional[str], Optional[dict]]] = field(default_factory=list)
    fixed: list[bool] = field(default_factory=list)  # forced by a normal statement: the rules decide in every mode
    report: list[int] = field(default_factory=list)  # index of the report each mention comes from

    def extend(self, other: "Featurised") -> None:
        offset = max(self.report, default=-1) + 1
        self.feats += other.feats
        self.golds += other.golds
        self.weights += other.weights
        self.rules += other.rules
        self.rule_labels += other.rule_labels
        self.fixed += other.fixed
        self.report += [offset + r for r in other.report]

    def subset(self, keep: list[int]) -> "Featurised":
        """The mentions at positions `keep`."""
        out = Featurised()
        for name in ("feats", "golds", "weights", "rules", "rule_labels", "fixed", "report"):
            values = getattr(self, name)
            setattr(out, name, [values[i] for i in keep])
        return out


class Featuriser:
    """Turns labelled reports into model input with the rule pipeline (sections, sentences, existence rules)."""

    def __init__(self, ontology: Optional[str] = None):
        import asg_parse

        self.nlp = asg_parse.load(ontology=ontology)
        self.sections = self.nlp.get_pipe("asg_sections")
        self.sentences = self.nlp.get_pipe("asg_sentences")
        self.mentions = self.nlp.get_pipe("asg_mentions")
        self.engine = self.nlp.get_pipe("asg_existence").engine

    def doc(self, text: str) -> Any:
        """The doc of `text` with sections and sentence starts set."""
        return self.sentences(self.sections(self.nlp.make_doc(text)))

    def featurise(self, reports: list[LabelledReport]) -> Featurised:
        out = Featurised()
        for r, report in enumerate(reports):
            if not report.mentions:
                continue
            doc = self.doc(report.text)
            spans = []
            for m in report.mentions:
                span = doc.char_span(m.start, m.end, alignment_mode="expand")
                if span is None or not len(span):
                    raise ValueError(f"{report.source or report.id}: mention [{m.start}, {m.end}) is not on tokens")
                spans.append(M(span.start, span.end, m.finding))
            index = sentence_index(doc)
            links = self.mentions.analyse(doc, index).links
            labels = [forced_label(links.get(m), label) for m, label in zip(spans, self.engine.label_all(doc, spans, index))]
            out.feats += doc_features(doc, spans, labels, index, [m.finding for m in report.mentions])
            out.golds += [LABEL_INDEX[m.existence] for m in report.mentions]
            out.weights += [report.weight] * len(spans)
            out.rules += [LABEL_INDEX[label or "present"] for label, _ in labels]
            out.rule_labels += labels
            out.fixed += [is_forced(links.get(m)) for m in spans]
            out.report += [r] * len(spans)
            release(doc)
        return out
