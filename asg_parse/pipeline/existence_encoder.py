"""The pretrained-encoder architecture of `asg_existence_model` (`asg.ExistenceEncoder.v1`, the `models` extra).

A transformers encoder (a local directory or a hub id, e.g. a clinical BERT) reads the mention's window with the
mention in brackets; its first-token vector, beside the embedded rule features, feeds a linear layer and a softmax
over present / absent / uncertain. The whole is fine-tuned through thinc's PyTorch wrapper. A saved model keeps the
encoder's config and tokenizer in `encoder/` and every weight in the component's `model` file, so it loads without
the original weights (`pretrained: false` builds the encoder from its config only)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from spacy.util import registry
from thinc.api import Model, chain

N_LABELS = 3
RULE_BUCKETS = 4096
MAX_LENGTH = 64


@registry.architectures("asg.ExistenceEncoder.v1")
def build_existence_encoder(encoder: str, pretrained: bool = True, rule_width: int = 32) -> Model:
    """The classifier on a transformers encoder: `encoder` = a local directory or a hub id; `pretrained` loads its
    weights (else its config only: the weights come from a saved model)."""
    import torch
    from thinc.api import PyTorchWrapper_v2
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(encoder)
    body = AutoModel.from_pretrained(encoder) if pretrained else AutoModel.from_config(AutoConfig.from_pretrained(encoder))

    class EncoderClassifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = body
            self.rules = torch.nn.EmbeddingBag(RULE_BUCKETS, rule_width, mode="sum")
            self.out = torch.nn.Linear(body.config.hidden_size + rule_width, N_LABELS)

        def forward(self, input_ids: Any, attention_mask: Any, rule_ids: Any) -> Any:
            hidden = self.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0]
            return self.out(torch.cat([hidden, self.rules(rule_ids)], dim=1))

    def convert_inputs(model: Model, X: list, is_train: bool) -> tuple[Any, Callable]:
        from thinc.api import ArgsKwargs

        batch = tokenizer([x[2] for x in X], padding=True, truncation=True, max_length=MAX_LENGTH,
                          return_tensors="pt")
        rules = torch.tensor([[r % RULE_BUCKETS for r in x[1]] for x in X], dtype=torch.long)
        return ArgsKwargs(args=(), kwargs={"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
                                           "rule_ids": rules}), lambda d: X

    wrapped = PyTorchWrapper_v2(EncoderClassifier(), convert_inputs=convert_inputs)
    wrapped.attrs["tokenizer"] = tokenizer
    return chain(wrapped, _softmax())


def _softmax() -> Model:
    """Softmax whose backprop takes the cross-entropy gradient (probabilities - truth), as thinc's Softmax does."""
    def forward(model: Model, X: Any, is_train: bool) -> tuple[Any, Callable]:
        Y = model.ops.softmax(X)
        return Y, lambda dY: dY

    return Model("softmax_ce", forward)


def save_encoder_files(model: Model, path: Path) -> None:
    """Write the encoder's config and tokenizer to `path` (the weights travel in the component's `model` file)."""
    wrapped = model.layers[0]
    path.mkdir(parents=True, exist_ok=True)
    wrapped.attrs["tokenizer"].save_pretrained(str(path))
    wrapped.shims[0]._model.body.config.save_pretrained(str(path))
