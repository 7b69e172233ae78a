"""BioScope clinical reports as training data: each scored finding mention's gold read from the cue scopes under the
linguistic reading (inside a negation scope -> absent, else inside any speculation scope -> uncertain, else present).

The documents, the Impression-only mentions, the left-out state statements and the scope reading are those of the
benchmark (`asg_parse.evaluation.bioscope`, after ``../shared/data/bioscope/README.md``); only the reading of
speculation differs: every speculation cue is a hedge here, alternatives and leanings included.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from ..evaluation.bioscope import ABSENT, PRESENT, UNCERTAIN, Sentence, excluded, gold_existence, load_documents
from .examples import LabelledReport, Mention


def linguistic_existence(sentence: Sentence, start: int, end: int) -> str:
    """Gold existence of characters [start, end) of `sentence` under the linguistic reading."""
    gold = gold_existence(sentence, start, end)
    return gold if gold in (ABSENT, PRESENT) else UNCERTAIN


def read_bioscope(path: Path, nlp: Optional[Any] = None) -> list[LabelledReport]:
    """Labelled reports of the BioScope file: every scored finding mention the parser places in an Impression
    sentence, with its linguistic gold (`nlp`: the `asg_parse.load()` pipeline that finds the mentions); a bad
    line raises the benchmark's one-line `BioScopeError`."""
    import asg_parse
    from ..pipeline.mentions import FINDINGS_KEY

    nlp = nlp or asg_parse.load()
    reports = []
    for document in load_documents(path):
        doc = nlp(document.text)
        seen = set()
        mentions = []
        for span in doc.spans.get(FINDINGS_KEY, []):
            key = (span.start_char, span.end_char, span.label_)
            if key in seen:
                continue
            seen.add(key)
            sentence = document.impression_sentence(span.start_char, span.end_char)
            if sentence is None:
                continue
            a, b = span.start_char - sentence.start, span.end_char - sentence.start
            if excluded(sentence, a, span.text) is None:
                mentions.append(Mention(span.start_char, span.end_char, linguistic_existence(sentence, a, b),
                                        span.label_))
        reports.append(LabelledReport(document.doc_id, document.text, mentions, group=document.doc_id,
                                      source=f"{path} doc {document.doc_id}"))
    return reports
