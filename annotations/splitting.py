"""The authoring tools' sentence splitter (GUIDELINES.md section 2), shared by build_gold.py and openi_offsets.py.

A sentence ends at . ? ! followed by white space and at every line break; a section header ("FINDINGS:") and list
enumerators ("1.") are outside every span; a piece with no letter or digit (a stray ".") is not a sentence. A
clause dictated without punctuation is a sentence too ("heart size is normal lungs are clear"), by the clause
words of regions.yaml; the rule is the parser's (`asg_parse.pipeline.sentences.dictated_clauses`), applied to the
piece's words.
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Optional

_WORD = re.compile(r"[A-Za-z0-9]+(?:['-][A-Za-z0-9]+)*|[^\sA-Za-z0-9]")


def clause_rule(onto: Any) -> Any:
    """The ontology's clause words (`asg_parse.pipeline.sentences.ClauseRule`) for `sentence_pieces`."""
    from asg_parse.pipeline.sentences import clause_rule as rule_of

    return rule_of(onto)


def _clauses(start: int, chunk: str, rule: Any) -> Iterator[tuple[int, str]]:
    """The dictated clauses of one piece, as (start, text) without surrounding white space."""
    from asg_parse.pipeline.sentences import dictated_clauses

    words = list(_WORD.finditer(chunk))
    cuts = [words[k].start() for k in dictated_clauses([w.group().lower() for w in words],
                                                       [w.group().isalpha() for w in words], rule)]
    for a, b in zip([0, *cuts], [*cuts, len(chunk)]):
        piece = chunk[a:b].rstrip()
        if piece:
            yield start + a, piece

_BREAK = re.compile(r"(?<=[.?!])\s+")
_ENUM_ONLY = re.compile(r"^\(?\d{1,2}[.)]$")
_ENUM_LEAD = re.compile(r"^\(?\d{1,2}[.)]\s+")
_ENUM_TRAIL = re.compile(r"\s+(\d{1,2})\.$")  # "1. Cardiomegaly 2. Small effusion": the "2." opens the next item
_WORDY = re.compile(r"[A-Za-z0-9]")


def sentence_pieces(text: str, header_re: re.Pattern[str], clauses: Any = None
                    ) -> Iterator[tuple[int, int, Optional[str]]]:
    """(start, end, header) of every sentence of `text`; `header` is the text matched by group 1 of `header_re`
    when the sentence opens with a section header, else None. With `clauses` (`clause_rule`), dictated clauses
    are sentences too (the header goes with the first)."""
    offset = 0
    for line in text.split("\n"):
        pos = 0
        pieces: list[tuple[int, str]] = []
        for m in _BREAK.finditer(line):
            pieces.append((pos, line[pos:m.start()]))
            pos = m.end()
        pieces.append((pos, line[pos:]))
        for start, chunk in pieces:
            lead = len(chunk) - len(chunk.lstrip())
            start, chunk = start + lead, chunk.strip()
            header = None
            m = header_re.match(chunk)
            if m:
                header = m.group(1)
                start, chunk = start + m.end(), chunk[m.end():]
            if not chunk or _ENUM_ONLY.match(chunk) or not _WORDY.search(chunk):
                if header is not None:
                    yield offset + start, offset + start, header  # a header alone still opens its section
                continue
            m = _ENUM_LEAD.match(chunk)
            if m:
                start, chunk = start + m.end(), chunk[m.end():]
            m = _ENUM_TRAIL.search(chunk)
            if m and int(m.group(1)) > 1 and re.search(rf"(?<![\d.]){int(m.group(1)) - 1}[.)]\s",
                                                       text[:offset + start]):
                chunk = chunk[:m.start()]  # the enumerator of the next item, not this sentence's end
            if clauses is None:
                yield offset + start, offset + start + len(chunk), header
                continue
            for k, (s, piece) in enumerate(_clauses(start, chunk, clauses)):
                yield offset + s, offset + s + len(piece), header if k == 0 else None
        offset += len(line) + 1


def has_header(text: str, header_re: re.Pattern[str]) -> bool:
    """Whether any sentence of `text` opens with a section header."""
    return any(header_re.match(chunk) for line in text.split("\n") for chunk in _BREAK.split(line))
