"""Radiology report parsing into validated <region, finding, existence> triplets and region→sentence maps.

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
