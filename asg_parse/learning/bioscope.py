"""BioScope clinical sentences as reports, each finding mention's gold read from the cue scopes under the
linguistic reading: inside a negation scope -> absent, else inside any speculation scope -> uncertain, else present.

The report text, the Impression-only mentions and the left-out state statements follow the benchmark of
``../shared/data/bioscope/README.md`` (steps 1-3); only the reading of speculation differs (every speculation cue is
a hedge here). Kept apart from the rest so that a shared BioScope reader can replace it.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Optional

# the benchmark's document and mention rules (../shared/data/bioscope/README.md, steps 1-2) are defined there once
from ..evaluation.bioscope import RESOLUTION_WORDS, STATE_WORDS, TOPICS
from ..jsonl import json_records
from .examples import LabelledReport, Mention

_FIELDS = ("doc_id", "part", "sent_id", "text", "cues", "scopes")


class BioScopeError(ValueError):
    """A BioScope line that does not hold what the format says (the message names file, line and field)."""


def read_sentences(path: Path) -> list[dict[str, Any]]:
    """The sentences of the BioScope JSONL, validated."""
    out = []
    for no, obj in json_records(path, BioScopeError):
        missing = [f for f in _FIELDS if f not in obj]
        if missing:
            raise BioScopeError(f"{path}:{no}: field '{missing[0]}' missing")
        if obj["part"] not in ("History", "Impression"):
            raise BioScopeError(f"{path}:{no}: field 'part' must be History or Impression, not {obj['part']!r}")
        for scope in obj["scopes"]:
            if scope.get("text", "") not in obj["text"]:
                raise BioScopeError(f"{path}:{no}: field 'scopes': scope {scope.get('id')} is not in the text")
        out.append(obj)
    return out


def build_reports(sentences: Iterable[dict[str, Any]]) -> list[tuple[str, str, list[tuple[int, int, dict]]]]:
    """(doc_id, text, [(start, end, sentence) of each Impression sentence]) of the chest documents, built as the
    benchmark builds them: "HISTORY: ...\\nIMPRESSION: ..." (a missing part left out)."""
    docs: dict[str, list[dict]] = defaultdict(list)
    for s in sentences:
        if s.get("topic", "chest-only") in TOPICS:
            docs[str(s["doc_id"])].append(s)
    out = []
    for doc_id, sents in docs.items():
        parts = []
        impression: list[tuple[int, int, dict]] = []
        offset = 0
        for part, header in (("History", "HISTORY: "), ("Impression", "IMPRESSION: ")):
            mine = [s for s in sents if s["part"] == part]
            if not mine:
                continue
            if parts:
                offset += 1  # the line break
            offset += len(header)
            pieces = []
            for k, s in enumerate(mine):
                if k:
                    offset += 1
                if part == "Impression":
                    impression.append((offset, offset + len(s["text"]), s))
                pieces.append(s["text"])
                offset += len(s["text"])
            parts.append(header + " ".join(pieces))
        out.append((doc_id, "\n".join(parts), impression))
    return out


def linguistic_existence(sentence: dict[str, Any], start: int, end: int) -> str:
    """Gold existence of characters [start, end) of `sentence` under the linguistic reading."""
    text = sentence["text"]
    kind_of: dict[Any, set[str]] = defaultdict(set)
    for cue in sentence["cues"]:
        kind_of[cue.get("scope_id")].add(cue.get("type"))
    inside: set[str] = set()
    for scope in sentence["scopes"]:
        for m in re.finditer(re.escape(scope["text"]), text):
            if m.start() <= start and end <= m.end():
                inside |= kind_of.get(scope.get("id"), set())
                break
    if "negation" in inside:
        return "absent"
    if "speculation" in inside:
        return "uncertain"
    return "present"


def scored(sentence_text: str, start: int, end: int) -> bool:
    """Whether a mention takes part in the benchmark (README step 2: state statements and resolving sentences out)."""
    own = sentence_text[start:end].lower()
    if any(w in own for w in STATE_WORDS):
        return False
    before = sentence_text[:start].lower()
    return not any(w in before for w in RESOLUTION_WORDS)


def read_bioscope(path: Path, nlp: Optional[Any] = None) -> list[LabelledReport]:
    """Labelled reports of the BioScope file: every scored finding mention the parser places in an Impression
    sentence, with its linguistic gold (`nlp`: the `asg_parse.load()` pipeline that finds the mentions)."""
    import asg_parse
    from ..pipeline.mentions import FINDINGS_KEY

    nlp = nlp or asg_parse.load()
    reports = []
    for doc_id, text, impression in build_reports(read_sentences(path)):
        doc = nlp(text)
        seen = set()
        mentions = []
        for span in doc.spans.get(FINDINGS_KEY, []):
            key = (span.start_char, span.end_char, span.label_)
            if key in seen:
                continue
            seen.add(key)
            for s0, s1, sent in impression:
                if s0 <= span.start_char and span.end_char <= s1:
                    a, b = span.start_char - s0, span.end_char - s0
                    if scored(sent["text"], a, b):
                        mentions.append(Mention(span.start_char, span.end_char,
                                                linguistic_existence(sent, a, b), span.label_))
                    break
        reports.append(LabelledReport(doc_id, text, mentions, group=doc_id, source=f"{path} doc {doc_id}"))
    return reports
