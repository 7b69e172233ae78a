"""The thinc models of `asg_existence_model`: hashed window-word embeddings, a convolution, max + mean pooling per
mention, the embedded rule features, a softmax over present / absent / uncertain.

`asg.ExistenceClassifier.v2` (the default) convolves each mention's window words on their own, so a mention's
probabilities do not depend on the other mentions of a model call. `asg.ExistenceClassifier.v1` (models saved
before v2) convolves the window words of all the mentions of a call as one sequence: the edge words of a window see
the neighbouring mention's; it stays registered, unchanged, so that its saved models load and predict as before."""
from __future__ import annotations

from typing import Any, Callable, Optional

import numpy
from spacy.util import registry
from thinc.api import (HashEmbed, Maxout, Model, Ragged, Softmax, chain, concatenate, expand_window, reduce_max,
                       reduce_mean, residual, with_array)
from thinc.types import Floats2d

from .existence_features import Features

N_LABELS = 3  # present, absent, uncertain
BATCH_INDEPENDENT = "batch_independent"  # model attr: a mention's probabilities do not depend on its call's others


@registry.architectures("asg.ExistenceClassifier.v2")
def build_existence_classifier_v2(width: int = 64, rows: int = 4000, depth: int = 2, dropout: float = 0.1
                                  ) -> Model[list[Features], Floats2d]:
    """Hashed window-word embeddings + `depth` convolution layers (window 1) over each mention's window words alone
    (the window of a word stops at its mention's first and last word), max+mean pooled per mention, beside the
    embedded rule features, into a softmax over present / absent / uncertain."""
    layers = [with_array(_embed(width, rows, dropout))] + [
        residual(chain(expand_window(window_size=1), with_array(_conv_step(width, dropout)))) for _ in range(depth)]
    model = _classifier(chain(*layers, concatenate(reduce_max(), reduce_mean())), width, dropout)
    model.attrs[BATCH_INDEPENDENT] = True
    return model


@registry.architectures("asg.ExistenceClassifier.v1")
def build_existence_classifier(width: int = 64, rows: int = 4000, depth: int = 2, dropout: float = 0.1
                               ) -> Model[list[Features], Floats2d]:
    """As v2, but the convolution runs over the window words of all the mentions of a call as one sequence (models
    saved before v2; a mention's probabilities shift with the mentions that share its call)."""
    layers = [_embed(width, rows, dropout)] + [residual(chain(expand_window(window_size=1), _conv_step(width, dropout)))
                                              for _ in range(depth)]
    model = _classifier(chain(with_array(chain(*layers)), concatenate(reduce_max(), reduce_mean())), width, dropout)
    model.attrs[BATCH_INDEPENDENT] = False
    return model


def _embed(width: int, rows: int, dropout: float) -> Model:
    """A window word's (word, side/distance, side+word) hashes -> one vector."""
    return chain(concatenate(HashEmbed(width, rows, column=0, seed=11), HashEmbed(width // 4, 64, column=1, seed=12),
                             HashEmbed(width, rows, column=2, seed=13)),
                 Maxout(width, nP=2, dropout=dropout, normalize=True))


def _conv_step(width: int, dropout: float) -> Model:
    """A word's vector with its two neighbours' (from `expand_window`) -> its new vector."""
    return Maxout(width, width * 3, nP=2, dropout=dropout, normalize=True)


def _classifier(words: Model, width: int, dropout: float) -> Model[list[Features], Floats2d]:
    """The pooled window words `words` (Ragged of hash rows -> one row per mention) beside the embedded rule
    features, into the softmax."""
    rule = chain(concatenate(*(HashEmbed(width // 2, 1000, column=i, seed=20 + i) for i in range(7))),
                 Maxout(width, nP=2, dropout=dropout, normalize=True))
    head = chain(Maxout(width, width * 3, nP=2, dropout=dropout, normalize=True), Softmax(N_LABELS, width))
    return Model("asg_existence_classifier", _classifier_forward, init=_classifier_init, layers=[words, rule, head],
                 dims={"nO": N_LABELS})


def is_batch_independent(model: Model) -> bool:
    """Whether `model` gives a mention the same probabilities whatever other mentions share its call."""
    return bool(model.attrs.get(BATCH_INDEPENDENT, False))


def _inputs(model: Model, X: list[Features]) -> tuple[Ragged, Any]:
    """The window words of all mentions as one Ragged of hash rows, and the rule features as one array."""
    ops = model.ops
    lengths = ops.asarray1i([len(x[0]) for x in X])
    flat = ops.asarray(numpy.array([row for x in X for row in x[0]], dtype="uint64"))
    return Ragged(flat, lengths), ops.asarray(numpy.array([x[1] for x in X], dtype="uint64"))


def _classifier_init(model: Model, X: Optional[list[Features]] = None, Y: Optional[Floats2d] = None) -> None:
    words, rule, head = model.layers
    if X is None:
        X = [(((1, 2, 3),), (1, 2, 3, 4, 5, 6, 7), "[ x ]")]
    ragged, rules = _inputs(model, X)
    words.initialize(X=ragged)
    rule.initialize(X=rules)
    head.initialize(X=model.ops.xp.hstack((words.predict(ragged), rule.predict(rules))), Y=Y)


def _classifier_forward(model: Model, X: list[Features], is_train: bool) -> tuple[Floats2d, Callable]:
    words, rule, head = model.layers
    ops = model.ops
    ragged, rules = _inputs(model, X)
    W, back_words = words(ragged, is_train)
    R, back_rule = rule(rules, is_train)
    H = ops.xp.hstack((W, R))
    Y, back_head = head(H, is_train)
    nw = W.shape[1]

    def backprop(dY: Floats2d) -> list[Features]:
        dH = back_head(dY)
        back_words(ops.xp.ascontiguousarray(dH[:, :nw]))
        back_rule(ops.xp.ascontiguousarray(dH[:, nw:]))
        return X

    return Y, backprop


DEFAULT_MODEL = """
[model]
@architectures = "asg.ExistenceClassifier.v2"
width = 64
rows = 4000
depth = 2
dropout = 0.1
"""
