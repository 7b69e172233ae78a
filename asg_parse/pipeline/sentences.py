"""asg_sentences: rule-based sentence splitting for radiology text (numbered items, headers, glued periods, and
clauses dictated without punctuation)."""
from __future__ import annotations

from itertools import chain, compress, islice
from typing import Iterable, NamedTuple, Optional, Sequence, Union

from spacy.attrs import FLAG19
from spacy.language import Language
from spacy.tokens import Doc
from spacy.vocab import Vocab

from anatomy_ontology import Ontology

from .component import OntologyComponent
from .memo import Memo
from .sections import HEADERS_KEY, spans_layout
from .tokens import (LexemeView, SentenceIndex, TokenTable, lexeme_view, mark_sentence_starts, single_sentence,
                     tokens)

_FINAL = {".", "!", "?"}
_MARKER_PUNCT = {".", ")"}
_CLOSERS = {'"', "'", ")"}


_ITEM_AFTER = {".", "!", "?", ":", ";"}  # what may come before a "1." that starts an item, besides a line break


def _list_number(tt: Union[TokenTable, LexemeView], i: int) -> bool:
    """Whether token i, followed by "." or ")", is a list number ("1." / "2)") that starts an item: a small number,
    then that punctuation, then a word. A "2." opens its line, follows the end of a sentence or a colon
    ("...no change. 2.stable heart size", "IMPRESSION: 1. ..."), or goes on a list whose "1." came before
    ("1. Cardiomegaly 2. Small effusion"), so that "postoperative day 2." stays a sentence's end; the item may begin
    in lower case (impressions written all in lower case)."""
    t, text = tt.text[i], tt.text
    if len(t) > 2 or not t.isdigit() or not (tt.alpha[i + 2] or tt.space[i + 2]):
        return False
    if text[i + 1] == ".":
        j = i - 1
        while j >= 0 and tt.space[j] and not tt.newlines[j]:
            j -= 1
        if j < 0 or tt.newlines[j] or text[j] in _ITEM_AFTER or not text[j].strip(".!?"):
            return True
        before = str(int(t) - 1)
        return any(text[k] == before and text[k + 1] in _MARKER_PUNCT for k in range(i - 1))
    if tt.alpha[i + 2] and text[i + 2][0].islower():
        return False
    return i == 0 or tt.space[i - 1] or tt.newlines[i - 1] or tt.alpha[i - 1] or tt.punct[i - 1]


class ClauseRule(NamedTuple):
    """Where a clause dictated without punctuation ends: after a copula and a predicate word ("heart size is
    normal"), before an opener ("no effusion") or a new subject with its own copula ("lungs are clear")."""

    copulas: frozenset[str]
    predicates: frozenset[str]
    openers: frozenset[str]
    continuations: frozenset[str]  # words that go on with the clause ("and", "with", "in": `phrase_breaks`)
    subjects: frozenset[str]  # anatomy names of one or two words ("heart", "heart size"): a new subject


def clause_rule(onto: Ontology) -> ClauseRule:
    """The ontology's clause words: `copulas`, `predicate_words` with every one-word state word of the findings,
    `clause_openers` and `phrase_breaks` (regions.yaml)."""
    states = {w for f in onto.findings.values() for st in f.states
              for w in (*st.words, *st.absent_words, *st.uncertain_words) if " " not in w}
    names = {w.lower() for e in (*onto.regions.values(), *onto.zones.values(), *onto.groups.values())
             for w in (e.id, *e.variants, *getattr(e, "plural", ())) if w.count(" ") <= 1}
    return ClauseRule(onto.copulas, frozenset(onto.predicate_words) | states, onto.clause_openers,
                      onto.phrase_breaks, frozenset(names))


def dictated_clauses(lower: Sequence[str], alpha: Sequence[bool], rule: ClauseRule) -> list[int]:
    """The clause starts (token indices) of text dictated without punctuation, from its lower-cased tokens and
    whether each is alphabetic ("heart size is normal lungs are clear no effusion": "lungs", "no"). The gold's
    sentence splitter (annotations/splitting.py) applies the same rule (GUIDELINES section 2)."""
    copulas = rule.copulas
    n, out = len(lower), []
    for i in compress(range(n - 2), map(copulas.__contains__, lower)):
        k = i + 2
        if lower[i + 1] in rule.predicates and alpha[k] and (lower[k] in rule.openers or (
                lower[k] not in rule.continuations and any(w in copulas for w in lower[k + 1:k + 3]))):
            out.append(k)
    # "no effusion heart is enlarged": an anatomy subject right before its own copula, after a short negated phrase
    subjects = rule.subjects
    for o in compress(range(n), map(rule.openers.__contains__, lower)):
        for k in range(o + 2, min(o + 5, n - 1)):
            if not alpha[k - 1] or lower[k - 1] in rule.continuations:
                break
            if (lower[k] in subjects and lower[k + 1] in copulas) or (
                    k + 2 < n and lower[k + 2] in copulas and " ".join(lower[k:k + 2]) in subjects):
                out.append(k)
                break
    return out


def set_sentence_starts(doc: Doc, headers: Optional[Sequence[tuple[int, int, str]]] = None,
                        store: bool = True, clauses: Optional[ClauseRule] = None,
                        tt: Union[TokenTable, LexemeView, None] = None, points: Optional[Iterable[int]] = None
                        ) -> SentenceIndex:
    """Set the sentence starts of `doc` (header- and numbered-list-aware) and return its `SentenceIndex`;
    `headers` defaults to the header spans `asg_sections` stored on the doc; without `store` the doc is left
    unchanged (only the index is made). With `clauses`, clauses dictated without punctuation are sentences too.
    `tt`: the doc's tokens (default: its token table); `points`: the tokens to look at (default: punctuation and
    line breaks; those that `can_split` suffice)."""
    n = len(doc)
    if not n:
        return SentenceIndex([0], [], False)
    if tt is None:
        tt = tokens(doc)
    text, newlines, space = tt.text, tt.newlines, tt.space
    starts = {0}
    if headers is None:
        headers = spans_layout(doc).headers
    for h in headers:
        starts.add(h[0])
        starts.add(h[1])
    if points is None:
        points = chain(compress(range(n), tt.punct), compress(range(n), newlines))
    # sentences end at punctuation or line breaks: only those tokens need a look (in any order: each adds a start)
    for i in points:
        t = text[i]
        if t in _MARKER_PUNCT and 0 < i < n - 1 and text[i - 1].isdigit() and _list_number(tt, i - 1):
            starts.add(i - 1)  # a list item starts; its "." does not end a sentence (one pass finds both)
            continue
        nl = newlines[i]
        if not (t in _FINAL or (len(t) > 1 and not t.strip(".!?")) or nl >= 2):
            if nl != 1:
                continue
            nxt = text[i + 1] if i + 1 < n and not space[i + 1] else (text[i + 2] if i + 2 < n else "")
            if not (nxt.istitle() or nxt.isdigit()):
                continue
        j = i + 1
        while j < n and (space[j] or text[j] in _FINAL or text[j] in _CLOSERS):
            j += 1
        starts.add(j)
    if clauses is not None:
        starts.update(dictated_clauses(tt.lower, tt.alpha, clauses))
    return mark_sentence_starts(doc, tt, starts, store)


def can_split(text: str) -> bool:
    """Whether `set_sentence_starts` can start a sentence at or after a token of this text: final or list-marker
    punctuation, a run of final marks, a line break. (It looks at no other token.)"""
    return text in _FINAL or text in _MARKER_PUNCT or (len(text) > 1 and not text.strip(".!?")) or "\n" in text


def split_flag(vocab: Vocab) -> Optional[int]:
    """The lexeme flag of `can_split` in `vocab`, added on first use the way spaCy keeps its own lexical flags (each
    lexeme's value set once: a `Doc.to_array` column then says which tokens can split); None when the vocab has
    no free flag."""
    for flag, getter in vocab.lex_attr_getters.items():
        if getter is can_split:
            return flag
    free = next((f for f in range(FLAG19, 64) if f not in vocab.lex_attr_getters), None)
    return None if free is None else vocab.add_flag(can_split, free)


class SplitPoints:
    """The sentences `set_sentence_starts` finds in a doc, without storing them, read from its columns: no token
    table, and no splitter for a doc that is one sentence (no header, and no token before its last that
    `can_split`); else the splitter looks only at the tokens that can split, each read on look-up."""

    def __init__(self, vocab: Vocab):
        self.flag = split_flag(vocab)  # the column that says which tokens can split (None: worked out here)
        self._splits = Memo(lambda orth: int(can_split(vocab.strings[orth])), 100_000)

    def __call__(self, doc: Doc, orth: list[int], space: list[int], split: Optional[list[int]] = None
                 ) -> SentenceIndex:
        """The `SentenceIndex` of `doc` from its ORTH, IS_SPACE and (when there is a `flag`) split columns."""
        if split is None:
            split = list(map(self._splits.__getitem__, orth))
        n = len(orth)
        if not any(islice(split, 0, n - 1)) and not (HEADERS_KEY in doc.spans and len(doc.spans[HEADERS_KEY])):
            return single_sentence(space)
        points = list(compress(range(n), split))
        return set_sentence_starts(doc, store=False, tt=lexeme_view(doc, orth, space), points=points)


class Sentences(OntologyComponent):
    """Sets sentence boundaries; runs after `asg_sections` so headers start sentences. The ontology gives the
    clause words of dictated text (`ClauseRule`)."""

    def _build(self) -> None:
        self.clauses = clause_rule(self.ontology)

    def __call__(self, doc: Doc) -> Doc:
        set_sentence_starts(doc, clauses=self.clauses)
        return doc


@Language.factory("asg_sentences", default_config={"ontology": None})
def make_sentences(nlp: Language, name: str, ontology: Optional[str]) -> Sentences:
    """Rule-based radiology sentence splitter."""
    return Sentences(nlp, name, ontology=ontology)
