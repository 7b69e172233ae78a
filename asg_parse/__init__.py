"""Radiology report parsing into validated <region, finding, existence> triplets and region→sentence maps.

    api.py       load(), parse(), parse_many(), parse_records(), doc_to_record(): the Python API
    schema.py    ParsedReport / Sentence / Triplet: the record every face of the parser produces
    files.py     input files read one way by every reader: JSON Lines and UTF-8 text, one-line errors (file, line)
    labels.py    report-level label rows (the CheXpert labeler's CSV layout, the 40 ASG tags) from a record
    pipeline/    the spaCy components and the steps they share (report text -> doc extensions)
    learning/    training data and training of the learned existence layer
    cli/         the asg-parse command line, its input/output and the parallel runner
    evaluation/  scoring against gold annotations and the public benchmarks
    review/      the review web page (`asg-parse review`)

Data flow: text -> pipeline (sections, sentences, mentions, existence, triplets) -> api.doc_to_record -> schema.
The ontology (regions, findings, cues, sections) is data in the `anatomy_ontology` package.

The public names load lazily, so `import asg_parse` (and the CLI's start-up) does not import spaCy until needed.
"""
from typing import Any

__all__ = ["ParsedReport", "Sentence", "Triplet", "doc_to_record", "load", "parse", "parse_many", "parse_records"]
_API = {"doc_to_record", "load", "parse", "parse_many", "parse_records"}
_SCHEMA = {"ParsedReport", "Sentence", "Triplet"}


def __getattr__(name: str) -> Any:
    if name in _API:
        from . import api

        return getattr(api, name)
    if name in _SCHEMA:
        from . import schema

        return getattr(schema, name)
    raise AttributeError(f"module 'asg_parse' has no attribute '{name}'")
