"""The record's rows: the report's content sentences, sentence and triplet rows as the record's dicts, and the
assembled parse of a doc (`Assembled`) with where spaCy keeps each record field."""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

from spacy.tokens import Doc

from .sections import DEFAULT_SECTION, Layout
from .tokens import TokenTable, ext_key

OUTPUTS = ("asg_sentences", "asg_triplets", "asg_region_sentences", "asg_tags")
for _name in OUTPUTS:
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=None)
# where spaCy keeps `doc._.<name>` of each record field (sentences, triplets, region map, tags, warnings)
OUTPUT_KEYS = tuple(ext_key(name) for name in (*OUTPUTS, "asg_warnings"))

STATE_CLASS = "state"  # the cue class of a finding's state statement (findings.yaml `states`)


class Assembled(NamedTuple):
    """The parse of one report, as the record fields (sentences and triplets as dicts, or as `Triplets.rows`)."""

    sentences: list[Any]
    triplets: list[Any]
    region_sentences: dict[str, list[int]]
    tags: dict[str, int]
    warnings: list[str]

    def store(self, doc: Doc) -> None:
        """Set `doc._.asg_sentences`, `asg_triplets`, `asg_region_sentences`, `asg_tags` and `asg_warnings`."""
        doc.user_data.update(zip(OUTPUT_KEYS, self))


def content_sentences(tt: TokenTable, starts: list[int], layout: Layout, parse_sections: set[str]
                       ) -> tuple[list[tuple[str, int, int, str]], dict[int, int]]:
    """The record's sentences as rows (`SENTENCE_FIELDS`): the content ones (header-only and blank ones dropped), their
    text without surrounding whitespace or a leading list number ("2. ..."), with their section id; and for those of
    `parse_sections`, their number among all sentences -> their index in the record's list."""
    sections = layout.sections
    header_end = {h.start: h.end for h in layout.headers}  # headers do not overlap: one per start
    space, punct, words, idx, text = tt.space, tt.punct, tt.text, tt.idx, tt.doc_text()
    nsec, k = len(sections), 0
    end_of_doc = starts[-1]
    label = sections[0].label if nsec else DEFAULT_SECTION
    next_section = sections[1].start if nsec > 1 else end_of_doc  # where the section after `label` starts
    parse = label in parse_sections
    sentences: list[tuple[str, int, int, str]] = []
    parsed: dict[int, int] = {}
    for raw, (b, e) in enumerate(zip(starts, starts[1:])):
        if header_end.get(b) == e:  # a header-only sentence
            continue
        first = b
        if space[b] or punct[b]:  # else a word opens the sentence
            while first < e and space[first]:
                first += 1
            i = first  # is there a token that is neither space nor punctuation?
            while i < e and (space[i] or punct[i]):
                i += 1
            if i == e:
                continue
        if first + 2 < e and words[first + 1] in (".", ")") and words[first].isdigit():  # list number
            j = first + 2
            while j < e and space[j]:
                j += 1
            if j < e:
                first = j
        last = e - 1
        while space[last]:
            last -= 1
        if b >= next_section:
            while k + 1 < nsec and sections[k + 1].start <= b:
                k += 1
            label = sections[k].label
            next_section = sections[k + 1].start if k + 1 < nsec else end_of_doc
            parse = label in parse_sections
        start, end = idx[first], idx[last] + len(words[last])
        if parse:
            parsed[raw] = len(sentences)
        sentences.append((text[start:end], start, end, label))
    return sentences, parsed


# rows as the record's dicts (keys: SENTENCE_FIELDS, TRIPLET_FIELDS); a dict display per row is about three times
# cheaper than dict(zip(fields, row))
def sentence_dicts(rows: list[tuple]) -> list[dict[str, Any]]:
    return [{"text": text, "start": start, "end": end, "section": section} for text, start, end, section in rows]


def triplet_dicts(rows: list[tuple]) -> list[dict[str, Any]]:
    return [{"region": region, "finding": finding, "existence": existence, "sentence": sentence, "start": start,
             "end": end, "text": text, "cue": cue, "cue_class": cue_class}
            for region, finding, existence, sentence, start, end, text, cue, cue_class in rows]


def cue_fields(cue: Optional[dict]) -> tuple[Optional[str], Optional[str]]:
    """The `cue` and `cue_class` of a triplet from the cue dict of its mention (None: no cue). A cue without a class
    is a state statement of findings.yaml ("heart size is normal"), class `state`."""
    if not cue:
        return None, None
    return cue["text"], cue.get("class", STATE_CLASS)
