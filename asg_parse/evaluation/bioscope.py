"""The BioScope clinical benchmark (the data folder's README): existence of the parser's own mentions against the
corpus's negation and speculation scopes, with negspacy run on the same mention spans as the anchor.

1. Documents of topic `chest-only` or `both`, each built as ``HISTORY: ...\\nIMPRESSION: ...`` (a part without
   sentences is left out; a part's sentences joined by one space, in file order).
2. Mentions: every distinct (start, end, finding) of the predictions that lies in an Impression sentence, except a
   mention whose own text holds a state word (`STATE_WORDS`) or whose sentence holds a resolution word
   (`RESOLUTION_WORDS`) before it.
3. Gold by character containment in the sentence: inside a negation scope -> absent; else inside speculation
   scopes whose cues are all alternatives -> alternative; all alternatives or leanings -> leaning; any other
   speculation scope -> uncertain; else present.
4. Negation (absent vs not) over all scored mentions; hedges (uncertain vs not, and 3-way accuracy) over those whose
   gold is neither alternative nor leaning.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

from ..files import json_records
from . import SHARED_DATA, data_file

DATA_ENV = "ASG_BIOSCOPE"
DEFAULT_DATA = SHARED_DATA / "bioscope" / "bioscope_dev.jsonl"
TOPICS = ("chest-only", "both")
STATE_WORDS = ("normal", "clear", "unremarkable", "limits", "resol", "cleared", "stable")
RESOLUTION_WORDS = ("resol", "clearing", "cleared", "improved", "improving")
ALTERNATIVE_CUES = frozenset({"or", "either", "versus", "vs", "vs.", "and/or", "whether"})
LEANING_CUES = frozenset({"likely", "most likely", "probably", "probable", "consistent", "consistent with",
                          "compatible", "compatible with", "suggest", "suggests", "suggesting", "suggestive",
                          "suggestive of", "favored", "represent", "represents", "appears", "appear", "seen with",
                          "worrisome", "concerning"})
CONVENTION = "linguistic"  # BioScope's hedge reading: every speculation cue is uncertain
ABSENT, PRESENT, UNCERTAIN, ALTERNATIVE, LEANING = "absent", "present", "uncertain", "alternative", "leaning"
HEDGE_GOLD = (PRESENT, ABSENT, UNCERTAIN)  # the golds the hedge metrics are computed over


class BioScopeError(ValueError):
    """The data file cannot be read as the BioScope benchmark file (the message names the file and line)."""


def resolve_data(path: Optional[Union[str, Path]] = None) -> Path:
    """The data file: explicit path, else $ASG_BIOSCOPE, else ../shared/data/bioscope/bioscope_dev.jsonl."""
    return data_file(path, DATA_ENV, DEFAULT_DATA)


@dataclass
class Sentence:
    """One annotated sentence placed in its report: `start` is its character offset in the built report text."""

    doc_id: str
    part: str
    sent_id: str
    text: str
    cues: list[dict[str, Any]]
    scopes: list[dict[str, Any]]
    start: int = 0

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass
class Document:
    """One benchmark report: its id, the built text and its sentences (with their offsets)."""

    doc_id: str
    text: str
    sentences: list[Sentence]

    def impression_sentence(self, start: int, end: int) -> Optional[Sentence]:
        """The Impression sentence holding characters [start, end), if any."""
        for s in self.sentences:
            if s.part == "Impression" and s.start <= start and end <= s.end:
                return s
        return None


def read_sentences(path: Union[str, Path]) -> list[tuple[dict[str, Any], str]]:
    """(sentence object, topic) of every line; BioScopeError with file and line for a bad one."""
    p = Path(path)
    if not p.is_file():
        raise BioScopeError(f"{p}: BioScope file not found (pass --data or set ${DATA_ENV})")
    out = []
    for no, obj in json_records(p, BioScopeError):
        missing = [k for k in ("doc_id", "part", "sent_id", "text", "cues", "scopes", "topic") if k not in obj]
        if missing:
            raise BioScopeError(f"{p}: line {no}: missing field(s) {', '.join(missing)}")
        if obj["part"] not in ("History", "Impression"):
            raise BioScopeError(f"{p}: line {no}: field 'part' must be History or Impression, not {obj['part']!r}")
        if not isinstance(obj["text"], str):
            raise BioScopeError(f"{p}: line {no}: field 'text' must be a string")
        for name in ("cues", "scopes"):
            if not isinstance(obj[name], list) or not all(isinstance(x, dict) for x in obj[name]):
                raise BioScopeError(f"{p}: line {no}: field '{name}' must be a list of objects")
        for k, scope in enumerate(obj["scopes"]):
            if str(scope.get("text", "")) not in obj["text"]:
                raise BioScopeError(f"{p}: line {no}: field 'scopes': scopes[{k}] is not in the sentence's text")
        out.append((obj, obj["topic"]))
    return out


def load_documents(path: Union[str, Path, None] = None) -> list[Document]:
    """The benchmark documents (chest topics), built as the README says, in file order of their first sentence."""
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for obj, topic in read_sentences(resolve_data(path)):
        if topic in TOPICS:
            by_doc.setdefault(str(obj["doc_id"]), []).append(obj)
    docs = []
    for doc_id, objs in by_doc.items():
        text, sentences = "", []
        for part, header in (("History", "HISTORY:"), ("Impression", "IMPRESSION:")):
            rows = [o for o in objs if o["part"] == part]
            if not rows:
                continue
            if text:
                text += "\n"
            text += header
            for k, o in enumerate(rows):
                text += " "
                sentences.append(Sentence(doc_id, part, str(o["sent_id"]), o["text"], o["cues"], o["scopes"],
                                          start=len(text)))
                text += o["text"]
        docs.append(Document(doc_id, text, sentences))
    return docs


def _scope_spans(sentence: Sentence) -> dict[str, tuple[str, list[tuple[int, int]]]]:
    """scope id -> (cue type, the scope's character spans in the sentence: every occurrence of its text)."""
    types: dict[str, str] = {}
    for c in sentence.cues:
        sid = c.get("scope_id")
        if sid is not None:
            # a scope with a negation cue is a negation scope
            types[sid] = "negation" if c.get("type") == "negation" or types.get(sid) == "negation" else c.get("type")
    out = {}
    for sc in sentence.scopes:
        stext = sc.get("text") or ""
        spans, k = [], sentence.text.find(stext) if stext else -1
        while k >= 0:
            spans.append((k, k + len(stext)))
            k = sentence.text.find(stext, k + 1)
        out[sc["id"]] = (types.get(sc["id"], "speculation"), spans)
    return out


def gold_existence(sentence: Sentence, start: int, end: int) -> str:
    """The gold of a mention at characters [start, end) of `sentence` (README step 3)."""
    spec_cues: list[str] = []
    spec = False
    cues_of: dict[str, list[str]] = {}
    for c in sentence.cues:
        cues_of.setdefault(c.get("scope_id"), []).append(" ".join(str(c.get("text", "")).lower().split()))
    for sid, (kind, spans) in _scope_spans(sentence).items():
        if not any(a <= start and end <= b for a, b in spans):
            continue
        if kind == "negation":
            return ABSENT
        spec = True
        spec_cues += cues_of.get(sid, [])
    if not spec:
        return PRESENT
    if spec_cues and all(c in ALTERNATIVE_CUES for c in spec_cues):
        return ALTERNATIVE
    if spec_cues and all(c in ALTERNATIVE_CUES or c in LEANING_CUES for c in spec_cues):
        return LEANING
    return UNCERTAIN


@dataclass
class Mention:
    """A scored mention: where it is, its gold and each tool's prediction."""

    doc_id: str
    sent_id: str
    start: int  # in the sentence
    end: int
    finding: str
    text: str
    gold: str
    pred: str
    negspacy: Optional[bool] = None  # negspacy's negation of the same span (None: not run)


def excluded(sentence: Sentence, start: int, mention_text: str) -> Optional[str]:
    """Why a mention is left out (README step 2), or None."""
    own = mention_text.lower()
    for w in STATE_WORDS:
        if w in own:
            return "state word"
    before = sentence.text[:start].lower()
    for w in RESOLUTION_WORDS:
        if w in before:
            return "resolution before"
    return None


def _triplets(record: Any) -> list[dict[str, Any]]:
    if hasattr(record, "triplets"):
        return [t.model_dump() if hasattr(t, "model_dump") else dict(t) for t in record.triplets]
    return list(record.get("triplets") or [])


def scored_mentions(docs: Iterable[Document], predictions: Mapping[str, Any]) -> tuple[list[Mention], dict[str, int]]:
    """The scored mentions of every document (README step 2) and a count of those left out per reason."""
    out: list[Mention] = []
    skipped: dict[str, int] = {}
    for doc in docs:
        rec = predictions.get(doc.doc_id)
        if rec is None:
            continue
        seen: set[tuple[int, int, str]] = set()
        for t in _triplets(rec):
            try:
                start, end, finding = int(t["start"]), int(t["end"]), str(t["finding"])
            except (KeyError, TypeError, ValueError):
                continue
            key = (start, end, finding)
            if key in seen:
                continue
            seen.add(key)
            sent = doc.impression_sentence(start, end)
            if sent is None:
                continue
            s0, s1 = start - sent.start, end - sent.start
            text = doc.text[start:end]
            why = excluded(sent, s0, text)
            if why is not None:
                skipped[why] = skipped.get(why, 0) + 1
                continue
            out.append(Mention(doc.doc_id, sent.sent_id, s0, s1, finding, text, gold_existence(sent, s0, s1),
                               str(t.get("existence", PRESENT))))
    return out, skipped


def run_negspacy(docs: Iterable[Document], mentions: list[Mention]) -> None:
    """Set `negspacy` on every mention: negspacy's Negex (en_clinical termset) on the same span, the mention's
    sentence as one doc."""
    import spacy
    from negspacy.negation import Negex  # noqa: F401  (registers the factory)
    from negspacy.termsets import termset

    nlp = spacy.blank("en")
    negex = nlp.add_pipe("negex", config={"neg_termset": termset("en_clinical").get_patterns()})
    sentences = {(d.doc_id, s.sent_id): s for d in docs for s in d.sentences}
    for m in mentions:
        doc = nlp.make_doc(sentences[m.doc_id, m.sent_id].text)
        for k, token in enumerate(doc):  # the sentence is one doc and one sentence
            token.is_sent_start = k == 0
        span = doc.char_span(m.start, m.end, label="FINDING", alignment_mode="expand")
        if span is None:
            m.negspacy = False
            continue
        doc.ents = [span]
        negex(doc)
        m.negspacy = bool(doc.ents[0]._.negex)


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "tp": tp, "fp": fp, "fn": fn}


def negation_scores(gold: list[bool], pred: list[bool]) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of "absent" (True) vs not."""
    tp = sum(g and p for g, p in zip(gold, pred))
    fp = sum(p and not g for g, p in zip(gold, pred))
    fn = sum(g and not p for g, p in zip(gold, pred))
    out = _prf(tp, fp, fn)
    out["accuracy"] = sum(g == p for g, p in zip(gold, pred)) / len(gold) if gold else 0.0
    out["n"] = len(gold)
    return out


def hedge_scores(gold: list[str], pred: list[str]) -> dict[str, float]:
    """Precision, recall, F1 of "uncertain" and 3-way accuracy, over golds present / absent / uncertain."""
    pairs = [(g, p) for g, p in zip(gold, pred) if g in HEDGE_GOLD]
    tp = sum(g == UNCERTAIN and p == UNCERTAIN for g, p in pairs)
    fp = sum(g != UNCERTAIN and p == UNCERTAIN for g, p in pairs)
    fn = sum(g == UNCERTAIN and p != UNCERTAIN for g, p in pairs)
    out = _prf(tp, fp, fn)
    out["accuracy3"] = sum(g == p for g, p in pairs) / len(pairs) if pairs else 0.0
    out["n"] = len(pairs)
    return out


@dataclass
class BioScopeResult:
    """The benchmark's figures for our parser (or a predictions file) and negspacy on the same mentions."""

    n_documents: int
    mentions: list[Mention]
    skipped: dict[str, int]
    missing_predictions: list[str] = field(default_factory=list)

    def gold_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for m in self.mentions:
            counts[m.gold] = counts.get(m.gold, 0) + 1
        return counts

    def negation(self) -> dict[str, float]:
        return negation_scores([m.gold == ABSENT for m in self.mentions], [m.pred == ABSENT for m in self.mentions])

    def negspacy_negation(self) -> Optional[dict[str, float]]:
        if any(m.negspacy is None for m in self.mentions):
            return None
        return negation_scores([m.gold == ABSENT for m in self.mentions], [bool(m.negspacy) for m in self.mentions])

    def hedge(self) -> dict[str, float]:
        return hedge_scores([m.gold for m in self.mentions], [m.pred for m in self.mentions])

    def errors(self) -> list[Mention]:
        """Scored mentions whose prediction disagrees with the gold (alternative / leaning golds aside unless the
        prediction is absent)."""
        out = []
        for m in self.mentions:
            if m.gold in HEDGE_GOLD:
                if m.pred != m.gold:
                    out.append(m)
            elif m.pred == ABSENT:
                out.append(m)
        return out

    def to_dict(self, errors: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {"documents": self.n_documents, "mentions": len(self.mentions), "skipped": self.skipped,
                             "gold": self.gold_counts(), "negation": self.negation(), "hedge": self.hedge(),
                             "negspacy_negation": self.negspacy_negation(),
                             "missing_predictions": self.missing_predictions}
        if errors:
            d["errors"] = [m.__dict__ for m in self.errors()]
        return d


def score(docs: list[Document], predictions: Mapping[str, Any], negspacy: bool = True) -> BioScopeResult:
    """Score `predictions` (doc_id -> record) on `docs`; with `negspacy`, run the anchor on the same mentions."""
    mentions, skipped = scored_mentions(docs, predictions)
    if negspacy:
        run_negspacy(docs, mentions)
    missing = [d.doc_id for d in docs if d.doc_id not in predictions]
    return BioScopeResult(len(docs), mentions, skipped, missing)


def parse_documents(docs: list[Document], convention: Optional[str] = CONVENTION, nlp: Any = None,
                    progress: Any = None) -> dict[str, Any]:
    """Run our parser on the built texts under `convention`; doc_id -> record dict."""
    import asg_parse

    nlp = nlp or asg_parse.load(spans=False, convention=convention)
    out = {}
    for rec in asg_parse.parse_records([(d.doc_id, d.text) for d in docs], nlp=nlp):
        out[rec["id"]] = rec
        if progress is not None:
            progress(1)
    return out
