"""Radiology report parsing into validated <region, finding, existence> triplets and region→sentence maps."""
from .api import doc_to_record, load, parse, parse_many, parse_records
from .schema import ParsedReport, Sentence, Triplet

__all__ = ["ParsedReport", "Sentence", "Triplet", "doc_to_record", "load", "parse", "parse_many", "parse_records"]
