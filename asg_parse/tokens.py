"""Token attributes read once per doc and shared by the components (iterating a Doc builds Token objects)."""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy
from spacy.attrs import IDX, IS_ALPHA, IS_PUNCT, IS_SPACE, ORTH, SENT_START, SPACY
from spacy.strings import StringStore
from spacy.tokens import Doc

if not Doc.has_extension("asg_tokens"):
    Doc.set_extension("asg_tokens", default=None)


def doc_ext(doc: Doc, name: str) -> Any:
    """`doc._.<name>` read straight from `doc.user_data`, where spaCy keeps it (no Underscore object per access)."""
    return doc.user_data.get(("._.", name, None, None))


def set_doc_ext(doc: Doc, name: str, value: Any) -> None:
    """`doc._.<name> = value`, written where spaCy keeps it."""
    doc.user_data[("._.", name, None, None)] = value


class TokenTable(NamedTuple):
    text: list[str]
    lower: list[str]
    space: list[int]       # 1 for a whitespace token
    punct: list[int]       # 1 for punctuation
    alpha: list[int]       # 1 for an alphabetic token
    newlines: list[int]    # "\n" in the token (its trailing whitespace is one space or nothing)
    ws: list[str]          # trailing whitespace
    idx: list[int]         # character offset of each token, plus the text length at the end

    def doc_text(self) -> str:
        """The doc's text, rebuilt without creating Token objects again."""
        return "".join(t + w for t, w in zip(self.text, self.ws))

    def span_text(self, start: int, end: int) -> str:
        """The text of tokens [start, end) as spaCy's `Span.text` gives it (no trailing whitespace)."""
        if end <= start:
            return ""
        return "".join(t + w for t, w in zip(self.text[start:end - 1], self.ws[start:end - 1])) + self.text[end - 1]

    def char_span(self, start: int, end: int) -> tuple[int, int]:
        """(start_char, end_char) of tokens [start, end)."""
        return self.idx[start], self.idx[end - 1] + len(self.text[end - 1])


class _Strings(dict):
    """Hash -> string, filled from the doc's StringStore on a miss (string hashes are the same in every vocab)."""

    store: StringStore

    def __missing__(self, key: int) -> str:
        value = self[key] = self.store[key]
        return value


_STRINGS = _Strings()
_STRINGS_MAX = 500_000  # distinct token strings kept (a long run sees ids and numbers once each)
_TABLE_KEY = ("._.", "asg_tokens", None, None)


def tokens(doc: Doc) -> TokenTable:
    """The doc's token table, built on first use from one `to_array` call (no Token objects)."""
    table = doc.user_data.get(_TABLE_KEY)
    if table is None or len(table.text) != len(doc):
        if len(_STRINGS) > _STRINGS_MAX:
            _STRINGS.clear()
        _STRINGS.store = doc.vocab.strings
        if len(doc):
            orth, space, punct, alpha, spacy_, idx = doc.to_array(
                [ORTH, IS_SPACE, IS_PUNCT, IS_ALPHA, SPACY, IDX]).T.tolist()
        else:
            orth, space, punct, alpha, spacy_, idx = ([],) * 6
        text = list(map(_STRINGS.__getitem__, orth))
        # the flags stay 0/1 ints (truthy like bools); only "\n" tokens (rare) need a count
        table = TokenTable(text, [t.lower() for t in text], space, punct, alpha,
                           [t.count("\n") if "\n" in t else 0 for t in text], [" " if v else "" for v in spacy_],
                           [*idx, idx[-1] + len(text[-1]) + spacy_[-1]] if idx else [0])
        doc.user_data[_TABLE_KEY] = table
    return table


def has_table(doc: Doc) -> bool:
    """Whether the doc's token table is cached."""
    return _TABLE_KEY in doc.user_data


def release(doc: Doc) -> None:
    """Drop the cached table (at the end of the pipeline, so docs serialise lean)."""
    doc.user_data.pop(_TABLE_KEY, None)


def sentence_ids(doc: Doc) -> list[int]:
    """Sentence number of every token (0-based), from the doc's sentence starts."""
    if not len(doc):
        return []
    starts = doc.to_array(SENT_START).astype("int64")
    starts[0] = 1
    return (numpy.cumsum(starts == 1) - 1).tolist()


def sentence_starts(doc: Doc) -> list[int]:
    """Token index of every sentence start, plus len(doc) at the end."""
    if not len(doc):
        return [0]
    arr = doc.to_array(SENT_START)
    out = numpy.flatnonzero(arr == 1).tolist()
    if not out or out[0] != 0:
        out.insert(0, 0)
    out.append(len(doc))
    return out


def set_sentence_starts_array(doc: Doc, starts: set[int]) -> None:
    """Set every token's sentence-start flag in one array write."""
    arr = numpy.full((len(doc), 1), -1, dtype="int64")
    for i in starts:
        if 0 <= i < len(doc):
            arr[i, 0] = 1
    doc.from_array([SENT_START], arr.astype("uint64"))
