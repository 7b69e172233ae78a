"""Compile the ontology's surface forms into one spaCy PhraseMatcher (a `LowerPhrases`) and the lookup tables the
linker needs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from spacy.language import Language

from anatomy_ontology import Ontology

from .phrases import LowerPhrases

_NO_PLURAL = ("s", "ed", "ing", "ous", "ic", "al", "ly", "ive", "ar", "ent", "ant", "-")


def plural(form: str) -> Optional[str]:
    """A regular English plural of the last word of `form`, or None when it would not be a noun plural."""
    head = form.rsplit(" ", 1)[-1]
    if not head.isalpha() or len(head) < 3 or head.endswith(_NO_PLURAL):
        return None
    if head.endswith(("x", "z", "ch", "sh")):
        return form + "es"
    if head.endswith("y") and head[-2] not in "aeiou":
        return form[:-1] + "ies"
    return form + "s"


@dataclass
class StateRule:
    finding: str
    regions: frozenset[str]
    existence: Optional[str]  # forced existence of a statement word: "absent" (normal), "uncertain" (borderline)
    anatomy_words: frozenset[str] = frozenset()  # the anatomy said must hold one; it then wins over the rules without


@dataclass
class Lexicon:
    """Match-id -> (kind, value) for kinds F (finding), R/Z/G (region/zone/group), S (side), W (state word)."""

    matcher: LowerPhrases
    kinds: dict[int, tuple[str, str]] = field(default_factory=dict)
    states: dict[str, list[StateRule]] = field(default_factory=dict)  # state word -> rules
    boundaries: frozenset[str] = frozenset()
    finding_forms: dict[str, str] = field(default_factory=dict)  # lower-cased form -> finding id


def _add(lex: Lexicon, nlp: Language, kind: str, value: str, forms: set[str]) -> None:
    key = f"{kind}|{value}"
    lex.matcher.add(key, [nlp.make_doc(f) for f in sorted(forms)])
    lex.kinds[nlp.vocab.strings[key]] = (kind, value)


def compile_lexicon(nlp: Language, onto: Ontology) -> Lexicon:
    """Build the matcher over every finding form, anatomy variant, side word and state word."""
    lex = Lexicon(LowerPhrases(nlp.vocab))
    norm = lambda s: " ".join(s.lower().split())  # noqa: E731
    explicit: set[str] = set()
    for f in onto.findings.values():
        explicit |= {norm(x) for x in [f.id, *f.forms]}
    for f in onto.findings.values():
        forms = {norm(x) for x in [f.id, *f.forms]}
        forms |= {p for x in list(forms) if (p := plural(x)) and p not in explicit}
        _add(lex, nlp, "F", f.id, forms)
        lex.finding_forms.update(dict.fromkeys(forms, f.id))
    anatomy_explicit = set()
    for entries in (onto.regions, onto.zones, onto.groups):
        for e in entries.values():
            anatomy_explicit |= {norm(x) for x in [e.id, *e.variants, *getattr(e, "plural", [])]}
    for kind, entries in (("R", onto.regions), ("Z", onto.zones), ("G", onto.groups)):
        for e in entries.values():
            forms = {norm(x) for x in [e.id, *e.variants, *getattr(e, "plural", [])]}
            if kind == "Z":
                forms |= {p for x in list(forms) if (p := plural(x)) and p not in anatomy_explicit}
            _add(lex, nlp, kind, e.id, forms)
    for side in ("left", "right", "both"):
        _add(lex, nlp, "S", side, {norm(x) for x in getattr(onto.sides, side)})
    for f in onto.findings.values():
        for st in f.states:
            for words, existence in ((st.words, None), (st.absent_words, "absent"), (st.uncertain_words, "uncertain")):
                for w in words:
                    lex.states.setdefault(norm(w), []).append(
                        StateRule(f.id, frozenset(st.regions), existence, frozenset(map(norm, st.anatomy_words))))
    for w in lex.states:
        _add(lex, nlp, "W", w, {w})
    lex.boundaries = boundary_words(onto)
    return lex


def boundary_words(onto: Ontology) -> frozenset[str]:
    """Words that end the clause a location word can reach (`clause_breaks` in regions.yaml)."""
    return onto.clause_breaks
