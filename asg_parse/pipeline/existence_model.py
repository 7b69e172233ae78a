"""asg_existence_model: a trainable existence classifier that corrects the rule engine from a site's own labels.

Each finding mention becomes one example: the words of a window around it inside its sentence (each with its side
and distance: left / inside / right) and the rule engine's verdict (its label, its cue's text, kind and class, where
the cue stands). The thinc model (`asg.ExistenceClassifier.v2`, existence_classifier.py; or a pretrained encoder,
existence_encoder.py) therefore learns corrections on top of the rules rather than relearning them. The features
are made in existence_features.py. A v2 model gives each mention the same probabilities whatever mentions share
its call, so `pipe` sends all the mentions of a batch of docs through one call.

Modes (`mode` in the config, `--existence-mode` on the command line):
- ``rules``: the rule label stands (the model is not run);
- ``model``: the model's label;
- ``vote``: the model overrides the rules only where it disagrees with probability >= `threshold`.
Every label records who decided (``span._.asg_existence_by`` / a triplet's ``decided_by``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy
import srsly
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import minibatch
from thinc.api import Model, NumpyOps, Optimizer

from . import existence_encoder  # noqa: F401  (registers the pretrained-encoder architecture)
from .existence_classifier import is_batch_independent  # (registers asg.ExistenceClassifier.v1 and v2)
from .existence_features import Context, Features, context_features, doc_contexts, doc_features
from .memo import Memo
from .mentions import links_of
from .tokens import SentenceIndex, ext_key, tokens

LABELS = ("present", "absent", "uncertain")
LABEL_INDEX = {label: i for i, label in enumerate(LABELS)}
MODES = ("rules", "model", "vote")
GOLD_KEY = "asg_existence_gold"  # spans of a reference doc: the gold label as span label
WEIGHT_KEY = ("asg_parse", "existence_weight")  # reference doc user_data: an example's weight (silver < 1)

CACHE_LIMIT = 100_000  # contexts (and features) whose probabilities are kept; beyond, both caches start over

if not Span.has_extension("asg_existence_by"):
    Span.set_extension("asg_existence_by", default=None)

# ---------------------------------------------------------------------------------------------- the component
class ExistenceModel(TrainablePipe):
    """Relabels the finding spans the rules labelled (``span._.asg_existence``) by `mode`; trainable."""

    def __init__(self, vocab: Any, model: Model, name: str = "asg_existence_model", *, mode: str = "vote",
                 threshold: float = 0.9, span_keys: Sequence[str] = ("asg_findings",),
                 ent_types: Sequence[str] = ()):
        if mode not in MODES:
            raise ValueError(f"{name}: mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.vocab, self.model, self.name = vocab, model, name
        self.cfg: dict[str, Any] = {"mode": mode, "threshold": float(threshold), "span_keys": list(span_keys),
                                    "ent_types": list(ent_types), "labels": list(LABELS)}
        self._cache = Memo(self._predict_one, CACHE_LIMIT)  # features -> probabilities
        self._by_context: dict[Context, numpy.ndarray] = {}  # mention context -> probabilities (the parse's path)

    # ------------------------------------------------------------------ options
    @property
    def mode(self) -> str:
        return self.cfg["mode"]

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"existence mode must be one of {', '.join(MODES)}, not {value!r}")
        self.cfg["mode"] = value

    @property
    def threshold(self) -> float:
        return self.cfg["threshold"]

    # ------------------------------------------------------------------ inference
    def spans(self, doc: Doc) -> list[Span]:
        """The spans this component relabels: those of `span_keys` and the entities of `ent_types` (all if none)."""
        out = [s for key in self.cfg["span_keys"] if key in doc.spans for s in doc.spans[key]]
        types = set(self.cfg["ent_types"])
        if not self.cfg["span_keys"] or types:
            out += [e for e in doc.ents if not types or e.label_ in types]
        return out

    def probabilities(self, feats: Sequence[Features]) -> list[numpy.ndarray]:
        """The model's (present, absent, uncertain) probabilities of each mention (repeated contexts are cached)."""
        cache = self._cache
        unique = dict.fromkeys(feats)
        missing = [f for f in unique if f not in cache]
        if missing:
            if len(cache) + len(missing) > CACHE_LIMIT:  # full: start over (the rows of this call are all kept)
                cache.clear()
                missing = list(unique)
            scores = self.model.ops.to_numpy(self.model.predict(missing))
            for f, row in zip(missing, scores):
                cache[f] = row
        return [cache[f] for f in feats]

    def context_probabilities(self, contexts: Sequence[Context]) -> list[numpy.ndarray]:
        """`probabilities` of mentions given by their contexts (`existence_features.mention_context`): a context
        seen before costs one look-up, no featurisation; the new ones go through the model in one call, the same
        call `probabilities` makes for their features."""
        known = self._by_context
        new = [c for c in dict.fromkeys(contexts) if c not in known]
        if new:
            if len(known) + len(new) > CACHE_LIMIT or len(self._cache) + len(new) > CACHE_LIMIT:
                known.clear()
                self._cache.clear()
            feats = [context_features(c) for c in new]
            for c, row in zip(new, self.probabilities(feats)):
                known[c] = row
        return [known[c] for c in contexts]

    def clear_cache(self) -> None:
        """Forget the kept probabilities (the weights changed)."""
        self._cache.clear()
        self._by_context.clear()

    def _predict_one(self, feats: Features) -> numpy.ndarray:
        return self.model.ops.to_numpy(self.model.predict([feats]))[0]

    def decide(self, feats: Sequence[Features], labels: Sequence[tuple[Optional[str], Optional[dict]]],
               fixed: Optional[Sequence[bool]] = None) -> tuple[list[tuple[Optional[str], Optional[dict]]], list[str]]:
        """The (existence, cue) labels after the mode's decision, and who decided each ("rules" / "model");
        `fixed` marks the labels the rules keep in every mode (forced by a normal statement)."""
        if self.mode == "rules" or not labels:
            return list(labels), ["rules"] * len(labels)
        return self.decide_by(self.probabilities(feats), labels, fixed)

    def decide_by(self, probs: Sequence[numpy.ndarray], labels: Sequence[tuple[Optional[str], Optional[dict]]],
                  fixed: Optional[Sequence[bool]] = None) -> tuple[list[tuple[Optional[str], Optional[dict]]], list[str]]:
        """`decide` from the model's probabilities of each mention: the labels and who decided each."""
        if self.mode == "rules" or not labels:
            return list(labels), ["rules"] * len(labels)
        overrides = self.overrides(probs, [label for label, _ in labels], fixed)
        out, by = list(labels), ["rules"] * len(labels)
        for i, best in overrides:
            out[i] = (best, labels[i][1] if best != "present" else None)
            by[i] = "model"
        return out, by

    def overrides(self, probs: Sequence[numpy.ndarray], rule_labels: Sequence[Optional[str]],
                  fixed: Optional[Sequence[bool]] = None) -> list[tuple[int, str]]:
        """(index, the model's label) of the mentions where the mode lets the model override the rules' label
        (computed over all mentions at once: one array operation per step, not one Python step per mention)."""
        if self.mode == "rules" or not len(probs):
            return []
        table = numpy.asarray(probs)
        best = table.argmax(axis=1)
        index = LABEL_INDEX.get
        rule = numpy.fromiter((index(label or "present", -1) for label in rule_labels), dtype=best.dtype,
                              count=len(rule_labels))
        take = best != rule
        if fixed is not None:
            take &= ~numpy.asarray(fixed, dtype=bool)
        if self.mode == "vote":  # (not "< threshold": as confident as the threshold is enough)
            take &= ~(table[numpy.arange(len(best)), best] < self.threshold)
        return [(i, LABELS[best[i]]) for i in numpy.flatnonzero(take).tolist()]

    def predict(self, docs: Iterable[Doc]) -> list[list[Features]]:
        return [self._features(doc) for doc in docs]

    def _features(self, doc: Doc) -> list[Features]:
        spans = self.spans(doc)
        return doc_features(doc, [(s.start, s.end) for s in spans], _span_labels(doc, spans), None,
                            [s.label_ for s in spans])

    def input_of(self, doc: Doc, found: Any, labels: list[tuple[Optional[str], Optional[dict]]],
                 index: SentenceIndex) -> tuple[list[Context], list, list[bool]]:
        """For `asg_parser`: the contexts (`existence_features.mention_context`), the rule labels (normal
        statements' forced ones in place) and the forced flags of the mentions `found` (a linking `Found`); no
        contexts in `rules` mode."""
        links = found.links
        fixed = [is_forced(links.get(f)) for f in found.findings]
        base = [forced_label(links.get(f), label) for f, label in zip(found.findings, labels)]
        if self.mode == "rules":
            return [], base, fixed
        return doc_contexts(doc, found.findings, base, index, [f[2] for f in found.findings]), base, fixed

    def batch_overrides(self, model_inputs: Sequence[tuple[list[Context], list, list[bool]]]
                        ) -> list[list[tuple[int, str]]]:
        """For `asg_parser`: the `overrides` of each doc of a batch (`model_inputs` from `input_of`), the new
        contexts of all the docs going through the model in one call and the decision made over all mentions at once."""
        contexts = [c for inp in model_inputs for c in inp[0]]
        if not contexts or self.mode == "rules":
            return [[] for _ in model_inputs]
        rules = [label for inp in model_inputs for label, _ in inp[1]]
        fixed = [f for inp in model_inputs for f in inp[2]]
        out: list[list[tuple[int, str]]] = [[] for _ in model_inputs]
        ends = numpy.cumsum([len(inp[0]) for inp in model_inputs]).tolist()
        doc = 0
        for i, best in self.overrides(self.context_probabilities(contexts), rules, fixed):
            while i >= ends[doc]:
                doc += 1
            out[doc].append((i - (ends[doc - 1] if doc else 0), best))
        return out

    def relabel(self, doc: Doc, found: Any, labels: list[tuple[Optional[str], Optional[dict]]],
                model_input: tuple[list[Context], list, list[bool]],
                overrides: Optional[list[tuple[int, str]]] = None
                ) -> tuple[list[tuple[Optional[str], Optional[dict]]], dict[tuple[int, int], str]]:
        """For `asg_parser`: the labels of the mentions `found` after the mode's decision (`model_input` from
        `input_of`; `overrides`, when `batch_overrides` made them), and the character spans of the mentions the
        model relabelled."""
        contexts, base, fixed = model_input
        if not contexts:
            return labels, {}
        if overrides is None:
            overrides = self.overrides(self.context_probabilities(contexts), [label for label, _ in base], fixed)
        if not overrides:
            return labels, {}
        out = list(labels)
        char_span = tokens(doc).char_span
        decided = {}
        for i, best in overrides:
            out[i] = (best, base[i][1] if best != "present" else None)
            f = found.findings[i]
            decided[char_span(f[0], f[1])] = "model"
        return out, decided

    def set_annotations(self, docs: Iterable[Doc], feats: list[list[Features]]) -> None:
        """Relabel the spans of `docs` (`feats` from `predict`); a batch-independent model (v2) predicts the new
        mentions of all the docs in one call, another (v1) one call per doc (its probabilities depend on the call)."""
        docs = list(docs)
        probs: Optional[list[numpy.ndarray]] = None
        if self.mode != "rules" and len(docs) > 1 and is_batch_independent(self.model):
            probs = self.probabilities([f for doc_feats in feats for f in doc_feats])
        start = 0
        for doc, doc_feats in zip(docs, feats):
            spans = self.spans(doc)
            links = links_of(doc)
            fixed = [is_forced(links.get((s.start, s.end, s.label_))) for s in spans]
            rule_labels = _span_labels(doc, spans, links)
            if probs is None:
                labels, by = self.decide(doc_feats, rule_labels, fixed)
            else:
                labels, by = self.decide_by(probs[start:start + len(doc_feats)], rule_labels, fixed)
                start += len(doc_feats)
            user_data = doc.user_data
            for span, (label, cue), who in zip(spans, labels, by):
                chars = (span.start_char, span.end_char)
                if who == "model":
                    user_data[ext_key("asg_existence", *chars)] = label
                    user_data[ext_key("asg_existence_cue", *chars)] = cue
                user_data[ext_key("asg_existence_by", *chars)] = who

    def __call__(self, doc: Doc) -> Doc:
        self.set_annotations([doc], self.predict([doc]))
        return doc

    def pipe(self, docs: Iterable[Doc], *, batch_size: int = 128) -> Iterable[Doc]:
        for batch in minibatch(docs, size=batch_size):
            self.set_annotations(batch, self.predict(batch))
            yield from batch

    # ------------------------------------------------------------------ training
    def examples_features(self, examples: Iterable[Example]) -> tuple[list[Features], list[int], list[float]]:
        """Features, gold label indices and weights of the gold spans of `examples` (reference spans of `GOLD_KEY`,
        labelled present / absent / uncertain; the predicted doc carries the rule labels)."""
        feats: list[Features] = []
        golds: list[int] = []
        weights: list[float] = []
        for eg in examples:
            gold = eg.reference.spans.get(GOLD_KEY, [])
            if not len(gold):
                continue
            pred = eg.predicted
            weight = float(eg.reference.user_data.get(WEIGHT_KEY, 1.0))
            spans = [pred.char_span(s.start_char, s.end_char, alignment_mode="expand") for s in gold]
            feats += doc_features(pred, [(s.start, s.end) for s in spans], _span_labels(pred, spans), None,
                                  [s.label_ for s in spans])
            bad = next((s for s in gold if s.label_ not in LABEL_INDEX), None)
            if bad is not None:
                raise ValueError(f"{self.name}: gold span '{bad.text}' has label {bad.label_!r}, not one of "
                                 f"{', '.join(LABELS)}")
            golds += [LABEL_INDEX[s.label_] for s in gold]
            weights += [weight] * len(gold)
        return feats, golds, weights

    def update(self, examples: Iterable[Example], *, drop: float = 0.0, sgd: Optional[Optimizer] = None,
               losses: Optional[dict[str, float]] = None) -> dict[str, float]:
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        feats, golds, weights = self.examples_features(examples)
        if feats:
            losses[self.name] += self.update_features(feats, golds, weights, sgd)
        return losses

    def update_features(self, feats: list[Features], golds: list[int], weights: list[float],
                        sgd: Optional[Optimizer] = None) -> float:
        """One gradient step on featurised mentions (weighted cross-entropy); returns the loss."""
        self.clear_cache()
        probs, backprop = self.model.begin_update(feats)
        ops = self.model.ops
        truth = ops.alloc2f(len(golds), len(LABELS))
        truth[numpy.arange(len(golds)), golds] = 1.0
        w = ops.asarray(numpy.array(weights, dtype="float32")).reshape((-1, 1))
        d_probs = (probs - truth) * w / max(len(golds), 1)
        backprop(d_probs)
        if sgd is not None:
            self.finish_update(sgd)
        return float(-(numpy.log(numpy.clip(ops.to_numpy(probs)[numpy.arange(len(golds)), golds], 1e-8, 1.0))
                       * numpy.array(weights)).sum())

    def score(self, examples: Iterable[Example], **kwargs: Any) -> dict[str, Optional[float]]:
        """`existence_acc`: the share of gold mentions (reference spans of `GOLD_KEY`) whose existence on the
        predicted doc (the span at the same characters) is their gold label; None when there is no gold. What
        `nlp.evaluate` and `spacy train` report."""
        right = total = 0
        for eg in examples:
            get = eg.predicted.user_data.get
            for s in eg.reference.spans.get(GOLD_KEY, []):
                total += 1
                right += get(ext_key("asg_existence", s.start_char, s.end_char)) == s.label_
        return {"existence_acc": right / total if total else None}

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None) -> None:
        feats, golds, _ = self.examples_features(get_examples())
        if not feats:
            raise ValueError(f"{self.name}: no gold mentions to initialize from")
        self.initialize_features(feats[:64])

    def initialize_features(self, sample: list[Features]) -> None:
        """Initialise the model's dimensions from a few featurised mentions."""
        self.model.initialize(X=sample, Y=self.model.ops.alloc2f(len(sample), len(LABELS)))
        self.clear_cache()

    # ------------------------------------------------------------------ serialisation
    def to_disk(self, path: Any, *, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "cfg", self.cfg)
        (path / "model").write_bytes(self.model.to_bytes())

    def from_disk(self, path: Any, *, exclude: Iterable[str] = ()) -> "ExistenceModel":
        path = Path(path)
        cfg = srsly.read_json(path / "cfg")
        mode = self.cfg["mode"]  # the pipeline's choice of mode wins over the saved one
        self.cfg.update(cfg)
        self.cfg["mode"] = mode
        data = (path / "model").read_bytes()
        self._initialize_for_load()
        self.model.from_bytes(data)
        _numpy_matmul(self.model)
        self.clear_cache()
        return self

    def _initialize_for_load(self) -> None:
        """Allocate the weights (shapes come from the config) so that saved bytes can be loaded into them."""
        sample: list[Features] = [(((1, 2, 3),), (1, 2, 3, 4, 5, 6, 7), "[ x ]")]
        self.model.initialize(X=sample, Y=self.model.ops.alloc2f(1, len(LABELS)))


def _numpy_matmul(model: Model) -> None:
    """Run the matrix products of a loaded model (on the CPU) through numpy's BLAS instead of thinc's bundled BLIS:
    the same products, 1.3-1.6x faster on a classifier's shapes (a batch's window words x 192 x 128); the results
    differ from BLIS's in the last bits of a float (< 1e-6 on a probability)."""
    if type(model.ops) is NumpyOps and getattr(model.ops, "use_blis", False):
        ops = NumpyOps(use_blis=False)
        for node in model.walk():
            if type(node.ops) is NumpyOps:
                node.ops = ops


def _span_labels(doc: Doc, spans: Sequence[Span], links: Optional[dict] = None
                 ) -> list[tuple[Optional[str], Optional[dict]]]:
    """The rule (existence, cue) of each span, as `asg_existence` stored them (a normal statement's forced
    existence, which `asg_mentions` links, in their place: the parser's final rule label); `links`: the doc's
    `links_of`, when the caller has them."""
    get = doc.user_data.get
    links = links_of(doc) if links is None else links
    out = []
    for s in spans:
        chars = (s.start_char, s.end_char)
        out.append(forced_label(links.get((s.start, s.end, s.label_)),
                                (get(ext_key("asg_existence", *chars)), get(ext_key("asg_existence_cue", *chars)))))
    return out


def forced_label(link: Any, label: tuple[Optional[str], Optional[dict]]) -> tuple[Optional[str], Optional[dict]]:
    """`label`, or the existence a link forces ("heart size is normal": absent, whatever the cues say)."""
    if link is not None and link[1] is not None:
        return link[1]["existence"], link[1]
    return label


def is_forced(link: Any) -> bool:
    """Whether a mention's link forces its existence (the rules decide it in every mode)."""
    return link is not None and link[1] is not None


def with_decided_by(triplets: list[Any], decided: dict[tuple[int, int], str]) -> list[dict[str, Any]]:
    """The triplets (rows or dicts) as dicts with `decided_by`: "model" for the mentions (character spans) in
    `decided` the model relabelled, else "rules"."""
    from ..schema import TRIPLET_FIELDS

    start, end = TRIPLET_FIELDS.index("start"), TRIPLET_FIELDS.index("end")
    fields = (*TRIPLET_FIELDS, "decided_by")
    get = decided.get
    if not decided:
        return [dict(zip(fields, (*t, "rules"))) if type(t) is tuple else {**t, "decided_by": "rules"}
                for t in triplets]
    return [dict(zip(fields, (*t, get((t[start], t[end]), "rules")))) if type(t) is tuple
            else {**t, "decided_by": get((t["start"], t["end"]), "rules")} for t in triplets]


@Language.factory("asg_existence_model", default_config={"model": {"@architectures": "asg.ExistenceClassifier.v2"},
                                                         "mode": "vote", "threshold": 0.9,
                                                         "span_keys": ["asg_findings"], "ent_types": []},
                  default_score_weights={"existence_acc": 1.0})
def make_existence_model(nlp: Language, name: str, model: Model, mode: str, threshold: float,
                         span_keys: list[str], ent_types: list[str]) -> ExistenceModel:
    """Factory of `asg_existence_model` (entry point); place it after `asg_existence`, whose labels it reads."""
    return ExistenceModel(nlp.vocab, model, name, mode=mode, threshold=threshold, span_keys=span_keys,
                          ent_types=ent_types)


def add_existence_model(nlp: Language, path: Any, mode: str = "rules", after: str = "asg_existence",
                        **config: Any) -> ExistenceModel:
    """Add the model of directory `path` (from `asg-parse train existence`) to `nlp` after `after`, in `mode`;
    `config`: more of the component's settings (`span_keys`, `ent_types`)."""
    from ..learning.trainer import read_model_dir

    model_config, threshold = read_model_dir(path)
    comp = nlp.add_pipe("asg_existence_model", after=after,
                        config={"model": model_config, "mode": mode, "threshold": threshold, **config})
    comp.from_disk(path)
    comp.mode = mode
    return comp
