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


# What a mention's features are made from (`mention_context`): the window's lower-case tokens, where the mention
# starts and ends in them, the rule label, the cue's text / kind / class, where the cue stands, the finding. Cheap to
# build and to hash: the model's probabilities are kept per context, so a repeated one costs no featurisation.
Context = tuple[tuple[str, ...], int, int, Optional[str], Optional[str], Optional[str], Optional[str], str, str]


def mention_context(lower: Sequence[str], sent: tuple[int, int], span: tuple[int, int], chars: tuple[int, int],
                    label: Optional[str], cue: Optional[dict[str, Any]], finding: str = "") -> Context:
    """The context of the mention of tokens `span` (characters `chars`) in the sentence of tokens `sent`, with the
    rule engine's `label` and `cue`: everything `context_features` reads."""
    s0, s1 = span
    lo = s0 - WINDOW if s0 - WINDOW > sent[0] else sent[0]
    hi = s1 + WINDOW if s1 + WINDOW < sent[1] else sent[1]
    if cue:
        return (tuple(lower[lo:hi]), s0 - lo, s1 - lo, label, cue["text"], cue.get("kind"), cue.get("class"),
                cue_position(cue, *chars), finding)
    return tuple(lower[lo:hi]), s0 - lo, s1 - lo, label, None, None, None, "none", finding


def context_features(context: Context) -> Features:
    """The model's input for a mention context: its window words (each with side and distance) and the rule
    engine's verdict (label, cue text, `kind` / `class` when the cue has them, cue position, finding)."""
    window, m0, m1, label, cue_text, kind, cls, position, finding = context
    h = _HASH
    words = []
    text = []
    for i, w in enumerate(window):
        if not w.strip():
            continue
        side, dist = ("L", m0 - i) if i < m0 else ("R", i - m1 + 1) if i >= m1 else ("M", 0)
        words.append((h[w], h[f"{side}{dist}"], h[f"{side}:{w}"]))
        text.append(f"[ {w}" if i == m0 else w)
        if i == m1 - 1:
            text.append("]")
    if not words:
        words.append((h[""], h["M0"], h["M:"]))
    label = label or "present"
    cue_text = " ".join(cue_text.lower().split()) if cue_text is not None else ""
    kind = kind or {"absent": "negation", "uncertain": "uncertainty"}.get(label, "")
    cls = cls or ""
    rule = (h[f"rule={label}"], h[f"cue={cue_text}"], h[f"kind={kind}"], h[f"class={cls}"],
            h[f"pos={position}"], h[f"finding={finding}"], h[f"rule={label}|cue={cue_text}"])
    return tuple(words), rule, " ".join(text)


def mention_features(lower: Sequence[str], sent: tuple[int, int], span: tuple[int, int],
                     chars: tuple[int, int], label: Optional[str], cue: Optional[dict[str, Any]],
                     finding: str = "") -> Features:
    """The model's input for the mention of tokens `span` (characters `chars`) in the sentence of tokens `sent`:
    its window words and the rule engine's `label` and `cue` (text, and `kind` / `class` when the cue has them)."""
    return context_features(mention_context(lower, sent, span, chars, label, cue, finding))


def doc_contexts(doc: Doc, spans: Sequence[Any], labels: Sequence[tuple[Optional[str], Optional[dict]]],
                 index: Optional[SentenceIndex] = None, findings: Optional[Sequence[str]] = None) -> list[Context]:
    """`mention_context` of each span (anything with token `start` and `end`) of a doc with sentence starts."""
    tt = tokens(doc)
    index = index or sentence_index(doc)
    starts, ids, lower, char_span = index.starts, index.ids, tt.lower, tt.char_span
    out = []
    for k, (span, (label, cue)) in enumerate(zip(spans, labels)):
        s0, s1 = span[0], span[1]
        sid = ids[s0]
        out.append(mention_context(lower, (starts[sid], starts[sid + 1]), (s0, s1),
                                   char_span(s0, s1) if cue else (0, 0), label, cue,
                                   findings[k] if findings is not None else ""))
    return out


def doc_features(doc: Doc, spans: Sequence[Any], labels: Sequence[tuple[Optional[str], Optional[dict]]],
                 index: Optional[SentenceIndex] = None, findings: Optional[Sequence[str]] = None) -> list[Features]:
    """`mention_features` of each span (anything with token `start` and `end`) of a doc with sentence starts."""
    return [context_features(c) for c in doc_contexts(doc, spans, labels, index, findings)]
