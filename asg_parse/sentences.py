"""asg_sentences: rule-based sentence splitting for radiology text (numbered items, headers, glued periods)."""
from __future__ import annotations

from spacy.language import Language
from spacy.tokens import Doc

from .sections import HEADERS_KEY

_FINAL = {".", "!", "?"}
_MARKER_PUNCT = {".", ")"}


def _numbered_markers(doc: Doc) -> set[int]:
    """Token indices of list numbers ("1." / "2)") that start an item: a small number, then "." or ")", then a word."""
    out: set[int] = set()
    n = len(doc)
    for i, tok in enumerate(doc):
        if i + 2 >= n or not tok.text.isdigit() or len(tok.text) > 2 or doc[i + 1].text not in _MARKER_PUNCT:
            continue
        nxt = doc[i + 2]
        if not (nxt.is_alpha or nxt.is_space) or (nxt.is_alpha and nxt.text[0].islower()):
            continue
        prev = doc[i - 1] if i else None
        if prev is None or prev.is_space or prev.text in _FINAL or prev.text in {":", ";"} or "\n" in prev.whitespace_ \
                or prev.is_alpha or prev.is_punct:
            out.add(i)
    return out


def set_sentence_starts(doc: Doc) -> None:
    """Set `token.is_sent_start` for every token of `doc` (header- and numbered-list-aware)."""
    n = len(doc)
    if not n:
        return
    starts = {0}
    markers = _numbered_markers(doc)
    starts |= markers
    for h in doc.spans.get(HEADERS_KEY, []) if HEADERS_KEY in doc.spans else []:
        starts.add(h.start)
        starts.add(h.end)
    skip = {m + 1 for m in markers}  # the "." of "2." does not end a sentence
    for i, tok in enumerate(doc):
        if i in skip:
            continue
        text = tok.text
        brk = text in _FINAL or (len(text) > 1 and not text.strip(".!?")) or (tok.is_space and text.count("\n") >= 2) or tok.whitespace_.count("\n") >= 2
        if brk:
            j = i + 1
            while j < n and (doc[j].is_space or doc[j].text in _FINAL or doc[j].text in {'"', "'", ")"}):
                j += 1
            starts.add(j)
    for i, tok in enumerate(doc):
        tok.is_sent_start = i in starts


class Sentences:
    """Sets sentence boundaries; runs after `asg_sections` so headers start sentences."""

    def __init__(self, nlp: Language, name: str):
        self.name = name

    def __call__(self, doc: Doc) -> Doc:
        set_sentence_starts(doc)
        return doc


@Language.factory("asg_sentences", default_config={})
def make_sentences(nlp: Language, name: str) -> Sentences:
    """Rule-based radiology sentence splitter."""
    return Sentences(nlp, name)
