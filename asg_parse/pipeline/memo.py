"""Memo: a dict that computes a key's value on its first look-up (lexical facts of words and names, kept per
process as spaCy keeps lexeme flags)."""
from __future__ import annotations

from typing import Any, Callable


class Memo(dict):
    """Key -> `fn(key)`, computed on a key's first look-up and kept; at `limit` keys it starts over (a long run
    sees ids, numbers and cue texts once each)."""

    def __init__(self, fn: Callable[[Any], Any], limit: int):
        super().__init__()
        self.fn, self.limit = fn, limit

    def __missing__(self, key: Any) -> Any:
        if len(self) >= self.limit:
            self.clear()
        value = self[key] = self.fn(key)
        return value
