"""`asg.ExistenceClassifier.v1`: the thinc model of `asg_existence_model` (hashed window-word embeddings, a
convolution, max + mean pooling per mention, the embedded rule features, a softmax over present / absent / uncertain)."""
from __future__ import annotations

from typing import Any, Callable, Optional

import numpy
from spacy.util import registry
from thinc.api import (HashEmbed, Maxout, Model, Ragged, Softmax, chain, concatenate, expand_window, reduce_max,
                       reduce_mean, residual, with_array)
from thinc.types import Floats2d

from .existence_features import Features

N_LABELS = 3  # present, absent, uncertain

@registry.architectures("asg.ExistenceClassifier.v1")
def build_existence_classifier(width: int = 64, rows: int = 4000, depth: int = 2, dropout: float = 0.1
                               ) -> Model[list[Features], Floats2d]:
    """Hashed window-word embeddings + `depth` convolution layers (window 1), max+mean pooled per mention, beside
    the embedded rule features, into a softmax over present / absent / uncertain."""
    embed = chain(concatenate(HashEmbed(width, rows, column=0, seed=11), HashEmbed(width // 4, 64, column=1, seed=12),
                              HashEmbed(width, rows, column=2, seed=13)),
                  Maxout(width, nP=2, dropout=dropout, normalize=True))
    layers = [embed] + [residual(chain(expand_window(window_size=1), Maxout(width, width * 3, nP=2, dropout=dropout,
                                                                            normalize=True)))
                        for _ in range(depth)]
    words = chain(with_array(chain(*layers)), concatenate(reduce_max(), reduce_mean()))
    rule = chain(concatenate(*(HashEmbed(width // 2, 1000, column=i, seed=20 + i) for i in range(7))),
                 Maxout(width, nP=2, dropout=dropout, normalize=True))
    head = chain(Maxout(width, width * 3, nP=2, dropout=dropout, normalize=True), Softmax(N_LABELS, width))
    return Model("asg_existence_classifier", _classifier_forward, init=_classifier_init, layers=[words, rule, head],
                 dims={"nO": N_LABELS})


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
@architectures = "asg.ExistenceClassifier.v1"
width = 64
rows = 4000
depth = 2
dropout = 0.1
"""
