"""The input of the learned existence layer: per finding mention, the words of a window around it (with side and
distance) and the rule engine's verdict (label, cue text, kind and class, where the cue stands, the finding)."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from spacy.strings import hash_string
from spacy.tokens import Doc

from .memo import Memo
from .tokens import SentenceIndex, sentence_index, tokens

WINDOW = 8  # words on each side of the mention, inside its sentence

# (word, side/distance, side+word) hashes of each window word; the rule features; the window as text with the
# mention in brackets (what a pretrained encoder reads)
Features = tuple[tuple[tuple[int, int, int], ...], tuple[int, ...], str]
_HASH = Memo(hash_string, 200_000)


def cue_position(cue: Optional[dict[str, Any]], start_char: int, end_char: int) -> str:
    """Where the rule cue stands relative to the mention: none / before / inside / after."""
    if not cue:
        return "none"
    if cue["end"] <= start_char:
        return "before"
    if cue["start"] >= end_char:
        return "after"
    return "inside"


def mention_features(lower: Sequence[str], sent: tuple[int, int], span: tuple[int, int],
                     chars: tuple[int, int], label: Optional[str], cue: Optional[dict[str, Any]],
                     finding: str = "") -> Features:
    """The model's input for the mention of tokens `span` (characters `chars`) in the sentence of tokens `sent`:
    its window words and the rule engine's `label` and `cue` (text, and `kind` / `class` when the cue has them)."""
    s0, s1 = span
    lo, hi = max(sent[0], s0 - WINDOW), min(sent[1], s1 + WINDOW)
    h = _HASH
    words = []
    text = []
    for i in range(lo, hi):
        w = lower[i]
        if not w.strip():
            continue
        side, dist = ("L", s0 - i) if i < s0 else ("R", i - s1 + 1) if i >= s1 else ("M", 0)
        words.append((h[w], h[f"{side}{dist}"], h[f"{side}:{w}"]))
        text.append(f"[ {w}" if i == s0 else w)
        if i == s1 - 1:
            text.append("]")
    if not words:
        words.append((h[""], h["M0"], h["M:"]))
    label = label or "present"
    cue_text = " ".join(cue["text"].lower().split()) if cue else ""
    kind = (cue.get("kind") if cue else None) or {"absent": "negation", "uncertain": "uncertainty"}.get(label, "")
    cls = (cue.get("class") if cue else None) or ""
    rule = (h[f"rule={label}"], h[f"cue={cue_text}"], h[f"kind={kind}"], h[f"class={cls}"],
            h[f"pos={cue_position(cue, *chars)}"], h[f"finding={finding}"], h[f"rule={label}|cue={cue_text}"])
    return tuple(words), rule, " ".join(text)


def doc_features(doc: Doc, spans: Sequence[Any], labels: Sequence[tuple[Optional[str], Optional[dict]]],
                 index: Optional[SentenceIndex] = None, findings: Optional[Sequence[str]] = None) -> list[Features]:
    """`mention_features` of each span (anything with token `start` and `end`) of a doc with sentence starts."""
    tt = tokens(doc)
    index = index or sentence_index(doc)
    starts, ids = index.starts, index.ids
    out = []
    for k, (span, (label, cue)) in enumerate(zip(spans, labels)):
        s0, s1 = span[0], span[1]
        sid = ids[s0]
        finding = findings[k] if findings is not None else ""
        out.append(mention_features(tt.lower, (starts[sid], starts[sid + 1]), (s0, s1), tt.char_span(s0, s1),
                                    label, cue, finding))
    return out
