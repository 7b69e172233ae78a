"""Token attributes read once per doc and shared by the components (iterating a Doc builds Token objects)."""
from __future__ import annotations

from typing import NamedTuple

import numpy
from spacy.attrs import SENT_START
from spacy.tokens import Doc

if not Doc.has_extension("asg_tokens"):
    Doc.set_extension("asg_tokens", default=None)


class TokenTable(NamedTuple):
    text: list[str]
    lower: list[str]
    space: list[bool]      # whitespace token
    punct: list[bool]
    alpha: list[bool]
    newlines: list[int]    # "\n" in the token or its trailing whitespace
    ws: list[str]          # trailing whitespace

    def doc_text(self) -> str:
        """The doc's text, rebuilt without creating Token objects again."""
        return "".join(t + w for t, w in zip(self.text, self.ws))


def tokens(doc: Doc) -> TokenTable:
    """The doc's token table, built on first use."""
    table = doc._.asg_tokens
    if table is None or len(table.text) != len(doc):
        cols: tuple = tuple(zip(*[(t.text, t.lower_, t.is_space, t.is_punct, t.is_alpha,
                                   t.text.count("\n") + t.whitespace_.count("\n"), t.whitespace_)
                                  for t in doc])) or ((),) * 7
        table = TokenTable(*(list(c) for c in cols))
        doc._.asg_tokens = table
    return table


def release(doc: Doc) -> None:
    """Drop the cached table (at the end of the pipeline, so docs serialise lean)."""
    doc._.asg_tokens = None


def sentence_ids(doc: Doc) -> list[int]:
    """Sentence number of every token (0-based), from the doc's sentence starts."""
    if not len(doc):
        return []
    starts = doc.to_array(SENT_START).astype("int64")
    starts[0] = 1
    return (numpy.cumsum(starts == 1) - 1).tolist()


def set_sentence_starts_array(doc: Doc, starts: set[int]) -> None:
    """Set every token's sentence-start flag in one array write."""
    arr = numpy.full((len(doc), 1), -1, dtype="int64")
    for i in starts:
        if 0 <= i < len(doc):
            arr[i, 0] = 1
    doc.from_array([SENT_START], arr.astype("uint64"))
