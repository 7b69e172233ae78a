"""Phrase matching on lower-cased words: a spaCy PhraseMatcher that keeps its patterns, and one walk over a doc that
finds what several of them would, in their order (the `asg_parser` fast path matches section headers, mentions and
existence cues in one pass)."""
from __future__ import annotations

from itertools import compress
from typing import Any, Callable, Iterable, Optional, Sequence

from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

Match = tuple[int, int, int]  # (match id, start, end), as a PhraseMatcher gives it


class LowerPhrases(PhraseMatcher):
    """A PhraseMatcher on LOWER that also keeps the patterns it was given (`patterns`: (key, docs))."""

    def __init__(self, vocab: Vocab):
        super().__init__(vocab, attr="LOWER")
        self.patterns: list[tuple[str, list[Doc]]] = []

    def add(self, key: str, docs: Iterable[Doc], *, on_match: Optional[Any] = None) -> None:
        """`PhraseMatcher.add`, remembering the patterns."""
        docs = list(docs)
        super().add(key, docs, on_match=on_match)
        self.patterns.append((key, docs))


Node = tuple[Optional[tuple[tuple[int, int], ...]], Optional[dict[str, Any]]]  # see PhraseWalk.__init__
Route = tuple[int, dict[int, tuple[int, ...]]]  # a source's number of outputs, and match id -> its outputs


class PhraseWalk:
    """The matches of several `LowerPhrases` (none with callbacks) in one pass over a doc's lower-cased words: one
    list per matcher, equal to what the matcher returns, or with a `Route` for the matcher, its matches split
    over several lists (each in the matcher's order). A Python trie; it is cheaper than calling the matchers one
    by one, whose cost is mostly a fixed part per call and a Python part per match."""

    def __init__(self, sources: Sequence[LowerPhrases], routes: Sequence[Optional[Route]] = ()):
        self.size = 0
        trie: dict[Optional[str], Any] = {}  # word -> node: next word -> node, None -> (output, match id) of the
        # phrases ending there, in the order their matcher gives them
        for k, source in enumerate(sources):
            route = routes[k] if k < len(routes) else None
            first = self.size
            self.size += 1 if route is None else route[0]
            strings = source.vocab.strings
            phrases: dict[tuple[str, ...], list[int]] = {}  # words -> match ids, as added
            for key, docs in source.patterns:
                mid = strings[key]
                for doc in docs:
                    if len(doc):
                        mids = phrases.setdefault(tuple(t.lower_ for t in doc), [])
                        if mid not in mids:
                            mids.append(mid)
            for words, mids in phrases.items():
                if len(mids) > 1:  # several keys of one phrase come in the matcher's (hash-table) order: ask it
                    mids = [m for m, s, e in source(Doc(source.vocab, words=list(words))) if (s, e) == (0, len(words))]
                node = trie
                for w in words:
                    node = node.setdefault(w, {})
                ends = node.setdefault(None, [])
                for m in mids:
                    ends.extend((first + out, m) for out in (route[1][m] if route is not None else (0,)))
        # the trie as (ends or None, children or None) nodes: one unpacking per word, no look-up at a leaf
        self.root: dict[str, Node] = {w: _node(child) for w, child in trie.items()}

    def rekeyed(self, key: Callable[[str], Any]) -> "PhraseWalk":
        """The same walk over `key(word)` instead of the words (e.g. their string hashes, as `Doc.to_array(LOWER)`
        gives them: no strings to build)."""
        walk = object.__new__(PhraseWalk)
        walk.size, walk.root = self.size, _rekeyed_nodes(self.root, key) or {}
        return walk

    def find(self, lower: list[str], space: Optional[Sequence[int]] = None) -> list[list[Match]]:
        """The (match id, start, end) matches of the words `lower` (a doc's `Token.lower_`): per source matcher its
        list, or its routed lists. With `space` (1 for a whitespace token), whitespace tokens inside a phrase do not
        break it: a form wrapped over two lines ("pleural\nthickening") is found, as the cues are."""
        outs: list[list[Match]] = [[] for _ in range(self.size)]
        root = self.root
        n = len(lower)
        for i in compress(range(n), map(root.__contains__, lower)):  # only the words that start a phrase
            ends, children = root[lower[i]]
            j = i + 1
            while True:
                if ends is not None:
                    for out, mid in ends:
                        outs[out].append((mid, i, j))
                if children is None or j == n:
                    break
                node = children.get(lower[j])
                if node is None:
                    if space is None or not space[j]:
                        break
                    while j < n and space[j]:  # a line break inside the phrase
                        j += 1
                    if j == n:
                        break
                    node = children.get(lower[j])
                    if node is None:
                        break
                ends, children = node
                j += 1
        return outs

    def find_at(self, lower: Sequence[Any], i: int, skip: Sequence[int]) -> list[Match]:
        """The matches that start at word `i` of `lower`, in `find`'s order, passing over the words flagged in `skip`
        (whitespace tokens): end offsets are in `lower`, one past a match's last word. For a walk of one source."""
        out: list[Match] = []
        node = self.root.get(lower[i])
        n = len(lower)
        j = i + 1
        while node is not None:
            ends, children = node
            if ends is not None:
                out.extend((mid, i, j) for _, mid in ends)
            if children is None:
                break
            k = j
            while k < n and skip[k]:
                k += 1
            if k == n:
                break
            node = children.get(lower[k])
            j = k + 1
        return out


def _rekeyed_nodes(nodes: Optional[dict[Any, Node]], key: Callable[[str], Any]) -> Optional[dict[Any, Node]]:
    """A trie level (and the levels below it) with every word replaced by `key(word)`."""
    if nodes is None:
        return None
    return {key(w): (ends, _rekeyed_nodes(children, key)) for w, (ends, children) in nodes.items()}


def _node(trie: dict[Optional[str], Any]) -> Node:
    """A trie node of `PhraseWalk` from its dict form."""
    children = {w: _node(child) for w, child in trie.items() if w is not None}
    ends = trie.get(None)
    return tuple(ends) if ends is not None else None, children or None
