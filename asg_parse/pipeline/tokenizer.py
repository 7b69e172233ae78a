"""Radiology tweaks to spaCy's English tokenizer: split glued sentences ("apex.There", "1.No"), keep "x-ray"."""
from __future__ import annotations

import re
from typing import Callable

from spacy import util
from spacy.language import Language
from spacy.symbols import ORTH
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc

from .tokens import note_text

# A period glued between a word (>= 2 letters) or a list number and the next word: "effusion.No", "2.Mild".
# A parenthesis glued to a word: "pneumothorax(small)". Decimals ("1.2") and "e.g." are untouched.
RADIOLOGY_INFIXES = (
    r"(?<=[A-Za-z]{2})\.(?=[A-Za-z0-9])",
    r"(?<=\b\d)\.(?=[A-Za-z])",
    r"(?<=\b\d\d)\.(?=[A-Za-z])",
    r"(?<=[A-Za-z])[()](?=[A-Za-z])",
)
SPECIAL_CASES = ("x-ray", "X-ray", "X-Ray", "X-RAY", "x-rays", "X-rays", "X-RAYS")
# spaCy's whitespace special cases: without them " ", "\t" and "\n" are still one token each (no affix matches
# whitespace), but a special-case hit turns off spaCy's chunk cache for the rest of the doc (its #1250 guard), so
# with them every word after a report's first line break was split by the affix regexes again, each time.
DROPPED_CASES = (" ", "\t", "\n")
TOKENIZER = "asg_parse.RadiologyTokenizer.v1"  # registered name, for `[nlp.tokenizer]` in a pipeline config
CACHE_SIZE = 100_000  # whitespace-delimited chunks whose split is cached (spaCy's default, 10,000, fills up)


class RadiologyTokenizer(Tokenizer):
    """spaCy's Tokenizer that also notes the text of each doc it makes (`tokens.note_text`), so the token table
    slices it instead of joining the doc's tokens back together."""

    def __call__(self, string: str) -> Doc:
        """The doc of `string`, as `Tokenizer.__call__` makes it, with its text noted."""
        doc = _TOKENIZE(self, string)
        note_text(doc, string)
        return doc


_TOKENIZE = Tokenizer.__call__


def _rules(rules: dict) -> dict:
    """`rules` with our special cases added and the whitespace ones dropped."""
    out = {case: subs for case, subs in rules.items() if case not in DROPPED_CASES}
    out.update({case: [{ORTH: case}] for case in SPECIAL_CASES})
    return out


@util.registry.tokenizers(TOKENIZER)
def create_radiology_tokenizer() -> Callable[[Language], Tokenizer]:
    """The language's default tokenizer with the radiology tweaks, built in one pass (each setter of a built
    Tokenizer reloads its ~1,800 special cases, which is most of a pipeline's start-up time)."""

    def factory(nlp: Language) -> Tokenizer:
        d = nlp.Defaults
        return RadiologyTokenizer(
            nlp.vocab,
            rules=_rules(d.tokenizer_exceptions or {}),
            prefix_search=util.compile_prefix_regex(d.prefixes).search if d.prefixes else None,
            suffix_search=util.compile_suffix_regex(d.suffixes).search if d.suffixes else None,
            infix_finditer=util.compile_infix_regex([*(d.infixes or ()), *RADIOLOGY_INFIXES]).finditer,
            token_match=d.token_match,
            url_match=None,  # see customize_tokenizer
            max_cache_size=CACHE_SIZE,
        )

    return factory


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
    if any(case not in rules for case in SPECIAL_CASES) or any(case in rules for case in DROPPED_CASES):
        tokenizer.rules = _rules(rules)
    tokenizer.max_cache_size = max(tokenizer.max_cache_size, CACHE_SIZE)
