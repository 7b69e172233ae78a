"""Python API: build the pipeline and parse report texts into ParsedReport records."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

import spacy
from spacy.attrs import IS_SPACE
from spacy.language import Language
from spacy.tokens import Doc

from .pipeline.existence_model import MODES, add_existence_model
from .pipeline.mentions import FINDINGS_KEY
from .schema import ParsedReport
from .pipeline.tokenizer import TOKENIZER
from .pipeline.triplets import OUTPUT_KEYS

EMPTY_WARNING = "empty report: no text to parse"
_DEFAULT: dict[Any, Language] = {}


def load(ontology: Union[str, Path, None] = None, sections: Optional[list[str]] = None, spans: bool = True,
         convention: Optional[str] = None, existence_model: Union[str, Path, None] = None,
         existence_mode: Optional[str] = None) -> Language:
    """A blank English pipeline with our components; `ontology` is a user directory merged over ours; `convention`
    names the labelling profile that reads the existence cues (default `asg`; `chexpert`, `linguistic`, or one of
    the user directory's `conventions`).

    `existence_model`: a directory made by `asg-parse train existence` (the learned existence layer,
    `asg_existence_model`); `existence_mode`: rules (default) | model | vote. With a model, every triplet
    records who decided its existence (`decided_by`).

    With `spans` (default) the pipeline has one component per step and keeps every intermediate result on the doc
    (`doc.spans["asg_findings"]`, `span._.asg_existence`, ...). With `spans=False` it is the single `asg_parser`
    component, which hands results between the steps directly: the same records, faster (the CLI uses it).
    """
    onto = None if ontology is None else str(Path(ontology).resolve())
    model = None if existence_model is None else str(Path(existence_model).resolve())
    mode = existence_mode or "rules"
    if mode not in MODES:
        raise ValueError(f"existence_mode must be one of {', '.join(MODES)}, not {mode!r}")
    if model is None and mode != "rules":
        raise ValueError(f"existence_mode {mode!r} needs an existence_model directory")
    if model is not None:
        from .learning.trainer import read_model_dir

        read_model_dir(model)  # a missing or broken model directory: a one-line error now
    nlp = spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": TOKENIZER}}})
    if not spans:
        config = {"ontology": onto, "sections": sections, "spans": False, "convention": convention}
        if model is not None:
            config.update({"existence_model": model, "existence_mode": mode})
        nlp.add_pipe("asg_parser", config=config)
        return nlp
    nlp.add_pipe("asg_sections", config={"ontology": onto})
    nlp.add_pipe("asg_sentences", config={"ontology": onto})
    nlp.add_pipe("asg_mentions", config={"ontology": onto})
    nlp.add_pipe("asg_existence", config={"ontology": onto, "span_keys": [FINDINGS_KEY], "convention": convention})
    if model is not None:
        add_existence_model(nlp, model, mode)
    nlp.add_pipe("asg_triplets", config={"ontology": onto, "sections": sections})
    return nlp


def _default() -> Language:
    if None not in _DEFAULT:
        _DEFAULT[None] = load(spans=False)
    return _DEFAULT[None]


def doc_to_record(doc: Doc, id: str) -> dict[str, Any]:
    """The schema record (plain dict) of a parsed doc."""
    sentences, triplets, region_sentences, tags, warnings = map(doc.user_data.get, OUTPUT_KEYS)
    warnings = list(warnings or [])
    if not sentences and doc.to_array(IS_SPACE).all():  # only whitespace (doc.text would build every Token)
        warnings.insert(0, EMPTY_WARNING)
    return {"id": id, "sentences": sentences or [], "triplets": triplets or [],
            "region_sentences": region_sentences or {}, "tags": tags or {}, "warnings": warnings}


def _items(items: Iterable[Union[str, tuple[str, str]]]) -> Iterator[tuple[str, str]]:
    """(id, text) of each item; a TypeError naming the item for anything but a text or an (id, text) pair."""
    for i, item in enumerate(items):
        if isinstance(item, str):
            yield str(i), item
        elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], str):
            yield str(item[0]), item[1]
        else:
            pair = isinstance(item, (tuple, list)) and len(item) == 2
            what = f"a pair whose text is {type(item[1]).__name__}" if pair else type(item).__name__
            raise TypeError(f"item {i}: expected a report text (str) or an (id, text) pair, not {what}")


def parse_records(items: Iterable[Union[str, tuple[str, str]]], nlp: Optional[Language] = None,
                  batch_size: int = 256) -> Iterator[dict[str, Any]]:
    """Parse texts or (id, text) pairs into schema dicts, in input order (the fast path used by the CLI)."""
    nlp = nlp or _default()
    pairs = list(_items(items))
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
    if not isinstance(text, str):
        raise TypeError(f"parse: the report text must be a str, not {type(text).__name__}")
    return next(parse_many([(id, text)], nlp))
