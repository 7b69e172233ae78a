"""Token attributes read once per doc and shared by the components (iterating a Doc builds Token objects)."""
from __future__ import annotations

from functools import partial
from itertools import accumulate, compress, islice
from operator import add, sub
from typing import Any, Container, NamedTuple, Optional, Sequence

import numpy
from spacy.attrs import IDX, IS_SPACE, ORTH, SENT_START, SPACY
from spacy.tokens import Doc

from .memo import Memo

if not Doc.has_extension("asg_tokens"):
    Doc.set_extension("asg_tokens", default=None)


def ext_key(name: str, start_char: Optional[int] = None, end_char: Optional[int] = None) -> tuple:
    """The `doc.user_data` key under which spaCy keeps `doc._.<name>` (or, with character offsets, a span's)."""
    return ("._.", name, start_char, end_char)


def doc_ext(doc: Doc, name: str) -> Any:
    """`doc._.<name>` read straight from `doc.user_data`, where spaCy keeps it (no Underscore object per access)."""
    return doc.user_data.get(ext_key(name))


def set_doc_ext(doc: Doc, name: str, value: Any) -> None:
    """`doc._.<name> = value`, written where spaCy keeps it."""
    doc.user_data[ext_key(name)] = value


class TokenTable(NamedTuple):
    text: Sequence[str]
    lower: Sequence[str]
    space: Sequence[int]     # 1 for a whitespace token
    punct: Sequence[int]     # 1 for punctuation
    alpha: Sequence[int]     # 1 for an alphabetic token
    newlines: Sequence[int]  # "\n" in the token (its trailing whitespace is one space or nothing)
    idx: list[int]           # character offset of each token, plus the text length at the end
    string: str              # the doc's text

    def doc_text(self) -> str:
        """The doc's text (as `doc.text`, which would build every Token)."""
        return self.string

    def span_text(self, start: int, end: int) -> str:
        """The text of tokens [start, end) as spaCy's `Span.text` gives it (no trailing whitespace)."""
        if end <= start:
            return ""
        return self.string[self.idx[start]:self.idx[end - 1] + len(self.text[end - 1])]

    def char_span(self, start: int, end: int) -> tuple[int, int]:
        """(start_char, end_char) of tokens [start, end)."""
        return self.idx[start], self.idx[end - 1] + len(self.text[end - 1])


class TokenColumns(NamedTuple):
    """A doc's ORTH, IDX and IS_SPACE columns (as `Doc.to_array` gives them) with its strings: the text and offsets
    of a few tokens, as `TokenTable` gives them, without building the table."""

    orth: list[int]
    idx: list[int]
    strings: Any  # the vocab's StringStore
    space: list[int]

    def span_text(self, start: int, end: int) -> str:
        """The text of tokens [start, end), each token's whitespace (" " or none) between them."""
        if end - start == 1:
            return self.strings[self.orth[start]]
        if end <= start:
            return ""
        orth, idx, strings = self.orth, self.idx, self.strings
        pieces = [strings[orth[k]] for k in range(start, end)]
        for k in range(end - start - 1):
            if idx[start + k + 1] > idx[start + k] + len(pieces[k]):
                pieces[k] += " "
        return "".join(pieces)

    def char_span(self, start: int, end: int) -> tuple[int, int]:
        """(start_char, end_char) of tokens [start, end)."""
        return self.idx[start], self.idx[end - 1] + len(self.strings[self.orth[end - 1]])


class LexemeView(NamedTuple):
    """The lexical columns of `TokenTable` for a doc's tokens, each value read from the doc's ORTH column when it is
    looked up (IS_SPACE given whole): a few look-ups in a doc without building its table."""

    text: Sequence[str]
    lower: Sequence[str]
    space: Sequence[int]
    punct: Sequence[int]
    alpha: Sequence[int]
    newlines: Sequence[int]


class _LexemeColumn(Sequence):
    """Field `field` of the lexeme row (see `_lexeme_row`) of each hash in `orth`, computed on look-up."""

    __slots__ = ("orth", "field")

    def __init__(self, orth: Sequence[int], field: int):
        self.orth, self.field = orth, field

    def __getitem__(self, i: Any) -> Any:
        return _LEXEMES[self.orth[i]][self.field]

    def __len__(self) -> int:
        return len(self.orth)


def lexeme_view(doc: Doc, orth: Sequence[int], space: Sequence[int]) -> LexemeView:
    """The `LexemeView` of `doc` from its ORTH and IS_SPACE columns (as `Doc.to_array` gives them)."""
    _LEXEMES.vocab = doc.vocab
    return LexemeView(*(space if k == 2 else _LexemeColumn(orth, k) for k in range(6)))


_new_table = partial(tuple.__new__, TokenTable)  # from a tuple, without the Python-level __new__ of NamedTuple
new_columns = partial(tuple.__new__, TokenColumns)  # (the same for TokenColumns)


def _lexeme_row(orth: int) -> tuple:
    """(text, lower, is_space, is_punct, is_alpha, newline count) of an orth hash, from the vocab of the doc being
    read (hashes and these lexical flags are the same in every English vocab)."""
    lex = _LEXEMES.vocab[orth]
    text = lex.orth_
    return text, text.lower(), int(lex.is_space), int(lex.is_punct), int(lex.is_alpha), text.count("\n")


_LEXEMES = Memo(_lexeme_row, 500_000)  # orth hash -> its row (a long run sees ids and numbers once each)
_TABLE_KEY = ext_key("asg_tokens")
TEXT_KEY = ("asg_parse", "text")  # `doc.user_data` key of the text a doc was made from (see `note_text`)
_WS = ("", " ")
_WS_LENGTHS = (0, 1)  # of a token's trailing whitespace
_TABLE_ATTRS = [ORTH, IDX]  # (SPACY only where the text is not noted: see _joined)


def note_text(doc: Doc, text: str) -> None:
    """Note that `doc` was made from `text` (its token table then slices it, not joins the tokens back up)."""
    doc.user_data[TEXT_KEY] = text


def tokens(doc: Doc, columns: Optional[tuple[list[int], list[int]]] = None) -> TokenTable:
    """The doc's token table, built on first use from one `to_array` call (no Token objects); `columns`: the doc's
    ORTH and IDX columns, when the caller has read them already."""
    user_data = doc.user_data
    table = user_data.get(_TABLE_KEY)
    n = len(doc)
    if table is None or len(table.text) != n:
        string = user_data.pop(TEXT_KEY, None)
        if not n:
            table = TokenTable((), (), (), (), (), (), [0], "")
        else:
            _LEXEMES.vocab = doc.vocab
            orth, idx = columns if columns is not None else doc.to_array(_TABLE_ATTRS).T.tolist()
            # the columns stay tuples (zip's, not copied); the flags 0/1 ints (truthy like bools)
            text, lower, space, punct, alpha, newlines = zip(*map(_LEXEMES.__getitem__, orth))
            last = idx[-1]
            if string is None or idx[0] or not (  # no noted text, or not this doc's: join the tokens
                    string.startswith(text[-1], last) and len(string) - last - len(text[-1]) in _WS_LENGTHS):
                string, idx = _joined(doc, text, idx)
            else:
                idx.append(len(string))  # idx ends with the text length
            table = _new_table((text, lower, space, punct, alpha, newlines, idx, string))
        user_data[_TABLE_KEY] = table
    return table


def _joined(doc: Doc, text: Sequence[str], idx: list[int]) -> tuple[str, list[int]]:
    """The text of `doc` joined from its tokens `text` and their whitespace, and the offsets `idx` with the text
    length appended (recomputed if they are not offsets into that text)."""
    if not idx[0]:  # each token's whitespace from the gap to the next offset: no second array read (a short doc's
        # largest cost), the last token's from the doc
        gaps = list(map(sub, map(sub, islice(idx, 1, None), idx), map(len, text)))
        if all(map(_WS_LENGTHS.__contains__, gaps)):
            gaps.append(1 if doc[-1].whitespace_ else 0)
            pieces = [""] * (2 * len(text))
            pieces[::2] = text
            pieces[1::2] = [_WS[g] for g in gaps]
            string = "".join(pieces)
            return string, [*idx, len(string)]
    spacy_ = doc.to_array(SPACY).tolist()
    pieces = [""] * (2 * len(text))  # text and whitespace interleaved: one join builds the doc's text
    pieces[::2] = text
    pieces[1::2] = [_WS[s] for s in spacy_]  # (a comprehension beats map over a method-wrapper)
    string = "".join(pieces)
    if idx[0] or idx[-1] + len(text[-1]) + spacy_[-1] != len(string):  # offsets not of this text
        return string, list(accumulate(map(add, map(len, text), spacy_), initial=0))
    return string, [*idx, len(string)]


def has_table(doc: Doc) -> bool:
    """Whether the doc's token table is cached."""
    return _TABLE_KEY in doc.user_data


def release(doc: Doc) -> None:
    """Drop the cached table (at the end of the pipeline, so docs serialise lean)."""
    doc.user_data.pop(_TABLE_KEY, None)


class SentenceIndex(NamedTuple):
    """The doc's sentences, read once: start tokens (plus len(doc)), each token's sentence number, and whether a
    whitespace token sits inside a sentence (where a multi-word cue may straddle it)."""

    starts: list[int]
    ids: list[int]
    inner_space: bool


_new_index = partial(tuple.__new__, SentenceIndex)  # from a tuple, without the Python-level __new__ of NamedTuple
_INDEX_ATTRS = [SENT_START, IS_SPACE]


def sentence_index(doc: Doc) -> SentenceIndex:
    """The `SentenceIndex` of `doc` from its sentence starts (one `to_array` call)."""
    if not len(doc):
        return SentenceIndex([0], [], False)
    return index_from_starts(*doc.to_array(_INDEX_ATTRS).T.tolist())


def single_sentence(space: list[int]) -> SentenceIndex:
    """The `SentenceIndex` of a doc that is one sentence, from its IS_SPACE column."""
    n = len(space)  # (a whitespace token is inside the sentence unless it is the first or the last token)
    return _new_index(([0, n], [0] * n, any(islice(space, 1, n - 1)))) if n else SentenceIndex([0], [], False)


def index_from_starts(sent_start: list[int], space: list[int]) -> SentenceIndex:
    """The `SentenceIndex` of a doc from its columns SENT_START and IS_SPACE (as `Doc.to_array` gives them)."""
    n = len(sent_start)
    if not n:
        return SentenceIndex([0], [], False)
    starts = list(compress(range(1, n), map((1).__eq__, islice(sent_start, 1, None))))
    starts.insert(0, 0)
    return _index(starts, n, space, set(starts))


def _index(first: list[int], n: int, space: list[int], is_start: Container[int],
           lengths: Optional[list[int]] = None) -> SentenceIndex:
    """The `SentenceIndex` of sentences starting at `first` (ascending, from 0; `lengths` in tokens, if known),
    `space` flagging whitespace tokens; `is_start` answers whether a token below n starts a sentence."""
    if lengths is None:
        lengths = list(map(sub, [*first[1:], n], first))
    ids: list[int] = []  # sentence k repeated over its tokens (list repetition beats chained repeat iterators)
    for k, length in enumerate(lengths):
        ids += [k] * length
    inner = False  # a whitespace token that neither starts nor ends a sentence
    for i in compress(range(n - 1), space):
        if i not in is_start and i + 1 not in is_start:
            inner = True
            break
    first.append(n)
    return _new_index((first, ids, inner))


def _sorted_starts(starts: set[int], n: int) -> list[int]:
    """The token indices of `starts` inside [0, n) in order, token 0 included."""
    first = sorted(starts)
    while first and first[-1] >= n:
        first.pop()
    if not first or first[0] != 0:  # token 0 missing, or indices below it
        first = sorted({0, *(i for i in first if i > 0)})
    return first


_SENT_START_ATTRS = [SENT_START]
_UINT64 = numpy.dtype("uint64")
_NOT_START = numpy.array([-1], dtype="int64").astype(_UINT64).tobytes()  # a token's SENT_START value -1
_IS_START = numpy.array([1], dtype=_UINT64).tobytes()


class _StartRuns(dict):
    """Sentence length -> the SENT_START values of its tokens (1, then -1s) as uint64 bytes (short ones kept)."""

    def __missing__(self, length: int) -> bytes:
        value = _IS_START + _NOT_START * (length - 1)
        if length < 256:
            self[length] = value
        return value


_START_RUNS = _StartRuns()


def mark_sentence_starts(doc: Doc, tt: TokenTable, starts: set[int], store: bool = True) -> SentenceIndex:
    """Set the sentences of `doc` (its token table `tt`) to start at `starts`, token 0 always one, in one array write
    (none without `store`); and return their `SentenceIndex`, built without reading the doc back."""
    n = len(tt.text)
    if not n:
        return SentenceIndex([0], [], False)
    first = _sorted_starts(starts, n)
    lengths = list(map(sub, [*first[1:], n], first))
    if store:
        # every token's value, joined from a few cached runs (a Python loop over the starts costs more)
        values = b"".join(map(_START_RUNS.__getitem__, lengths))
        doc.from_array(_SENT_START_ATTRS, numpy.frombuffer(values, dtype=_UINT64))
    return _index(first, n, tt.space, starts if 0 in starts else set(first), lengths)
