"""Python API: build the pipeline and parse report texts into ParsedReport records."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from .mentions import FINDINGS_KEY
from .schema import ParsedReport
from .tokenizer import customize_tokenizer

EMPTY_WARNING = "empty report: no text to parse"
_DEFAULT: dict[Any, Language] = {}


def load(ontology: Union[str, Path, None] = None, sections: Optional[list[str]] = None) -> Language:
    """A blank English pipeline with our components; `ontology` is a user directory merged over ours."""
    onto = None if ontology is None else str(Path(ontology).resolve())
    nlp = spacy.blank("en")
    customize_tokenizer(nlp.tokenizer)
    nlp.add_pipe("asg_sections", config={"ontology": onto})
    nlp.add_pipe("asg_sentences")
    nlp.add_pipe("asg_mentions", config={"ontology": onto})
    nlp.add_pipe("asg_existence", config={"ontology": onto, "span_keys": [FINDINGS_KEY]})
    nlp.add_pipe("asg_triplets", config={"ontology": onto, "sections": sections})
    return nlp


def _default() -> Language:
    if None not in _DEFAULT:
        _DEFAULT[None] = load()
    return _DEFAULT[None]


def doc_to_record(doc: Doc, id: str) -> dict[str, Any]:
    """The schema record (plain dict) of a parsed doc."""
    warnings = list(doc._.asg_warnings or [])
    if not any(not t.is_space for t in doc):
        warnings.insert(0, EMPTY_WARNING)
    return {"id": id, "sentences": doc._.asg_sentences or [], "triplets": doc._.asg_triplets or [],
            "region_sentences": doc._.asg_region_sentences or {}, "tags": doc._.asg_tags or {}, "warnings": warnings}


def _items(items: Iterable[Union[str, tuple[str, str]]]) -> Iterator[tuple[str, str]]:
    for i, item in enumerate(items):
        if isinstance(item, str):
            yield str(i), item
        else:
            yield str(item[0]), item[1]


def parse_records(items: Iterable[Union[str, tuple[str, str]]], nlp: Optional[Language] = None,
                  batch_size: int = 256) -> Iterator[dict[str, Any]]:
    """Parse texts or (id, text) pairs into schema dicts, in input order (the fast path used by the CLI)."""
    nlp = nlp or _default()
    pairs = list(_items(items)) if not isinstance(items, list) else list(_items(items))
    docs = nlp.pipe((text for _, text in pairs), batch_size=batch_size)
    for (id_, _), doc in zip(pairs, docs):
        yield doc_to_record(doc, id_)


def parse_many(items: Iterable[Union[str, tuple[str, str]]], nlp: Optional[Language] = None,
               batch_size: int = 256) -> Iterator[ParsedReport]:
    """Parse texts (ids "0", "1", ...) or (id, text) pairs into validated ParsedReport objects."""
    for rec in parse_records(items, nlp, batch_size):
        yield ParsedReport.model_validate(rec)


def parse(text: str, id: str = "report", nlp: Optional[Language] = None) -> ParsedReport:
    """Parse one report."""
    return next(parse_many([(id, text)], nlp))
