"""asg_sentences: rule-based sentence splitting for radiology text (numbered items, headers, glued periods)."""
from __future__ import annotations

from itertools import chain, compress
from typing import Optional, Sequence

from spacy.language import Language
from spacy.tokens import Doc

from .sections import spans_layout
from .tokens import SentenceIndex, TokenTable, mark_sentence_starts, tokens

_FINAL = {".", "!", "?"}
_MARKER_PUNCT = {".", ")"}
_CLOSERS = {'"', "'", ")"}


def _list_number(tt: TokenTable, i: int) -> bool:
    """Whether token i, followed by "." or ")", is a list number ("1." / "2)") that starts an item: a small number,
    then that punctuation, then a word."""
    t, text = tt.text[i], tt.text
    if len(t) > 2 or not t.isdigit():
        return False
    if not (tt.alpha[i + 2] or tt.space[i + 2]) or (tt.alpha[i + 2] and text[i + 2][0].islower()):
        return False
    return i == 0 or tt.space[i - 1] or tt.newlines[i - 1] or tt.alpha[i - 1] or tt.punct[i - 1]


def set_sentence_starts(doc: Doc, headers: Optional[Sequence[tuple[int, int, str]]] = None,
                        store: bool = True) -> SentenceIndex:
    """Set the sentence starts of `doc` (header- and numbered-list-aware) and return its `SentenceIndex`;
    `headers` defaults to the header spans `asg_sections` stored on the doc; without `store` the doc is left
    unchanged (only the index is made)."""
    n = len(doc)
    if not n:
        return SentenceIndex([0], [], False)
    tt = tokens(doc)
    text, newlines, space = tt.text, tt.newlines, tt.space
    starts = {0}
    if headers is None:
        headers = spans_layout(doc).headers
    for h in headers:
        starts.add(h[0])
        starts.add(h[1])
    # sentences end at punctuation or line breaks: only those tokens need a look (in any order: each adds a start)
    for i in chain(compress(range(n), tt.punct), compress(range(n), newlines)):
        t = text[i]
        if t in _MARKER_PUNCT and 0 < i < n - 1 and text[i - 1].isdigit() and _list_number(tt, i - 1):
            starts.add(i - 1)  # a list item starts; its "." does not end a sentence (one pass finds both)
            continue
        nl = newlines[i]
        if not (t in _FINAL or (len(t) > 1 and not t.strip(".!?")) or nl >= 2):
            if nl != 1:
                continue
            nxt = text[i + 1] if i + 1 < n and not space[i + 1] else (text[i + 2] if i + 2 < n else "")
            if not (nxt.istitle() or nxt.isdigit()):
                continue
        j = i + 1
        while j < n and (space[j] or text[j] in _FINAL or text[j] in _CLOSERS):
            j += 1
        starts.add(j)
    return mark_sentence_starts(doc, tt, starts, store)


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
