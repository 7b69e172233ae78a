"""Radiology tweaks to spaCy's English tokenizer: split glued sentences ("apex.There", "1.No"), keep "x-ray"."""
from __future__ import annotations

import re

from spacy.tokenizer import Tokenizer
from spacy.symbols import ORTH

# A period glued between a word (>= 2 letters) or a list number and the next word: "effusion.No", "2.Mild".
# A parenthesis glued to a word: "pneumothorax(small)". Decimals ("1.2") and "e.g." are untouched.
RADIOLOGY_INFIXES = (
    r"(?<=[A-Za-z]{2})\.(?=[A-Za-z0-9])",
    r"(?<=\b\d)\.(?=[A-Za-z])",
    r"(?<=\b\d\d)\.(?=[A-Za-z])",
    r"(?<=[A-Za-z])[()](?=[A-Za-z])",
)
SPECIAL_CASES = ("x-ray", "X-ray", "X-Ray", "X-RAY", "x-rays", "X-rays", "X-RAYS")


def customize_tokenizer(tokenizer: Tokenizer) -> None:
    """Add the radiology infixes and special cases to `tokenizer` in place (idempotent, serialisable)."""
    finditer = tokenizer.infix_finditer
    pattern = getattr(getattr(finditer, "__self__", None), "pattern", None)
    if pattern is None or RADIOLOGY_INFIXES[0] not in pattern:
        ours = "|".join(RADIOLOGY_INFIXES)
        tokenizer.infix_finditer = re.compile(f"{pattern}|{ours}" if pattern else ours).finditer
    if tokenizer.url_match is not None:  # every setter re-adds all special cases: set only what changes
        tokenizer.url_match = None  # "effusion.no" is not a Norwegian domain; reports carry no URLs
    rules = tokenizer.rules or {}
    if any(case not in rules for case in SPECIAL_CASES):
        tokenizer.rules = {**rules, **{case: [{ORTH: case}] for case in SPECIAL_CASES}}
