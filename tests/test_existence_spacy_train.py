"""`asg_existence_model` trains under `spacy train` from a config, as spaCy's own trainable components do: an
entity ruler and `asg_existence` annotate, the model learns a site's reading of "likely", and the saved pipeline
reports `existence_acc` and loads with `spacy.load`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import spacy
from spacy.tokens import DocBin, Span

from asg_parse.pipeline.existence_model import GOLD_KEY

# our own sentences; the site reads "likely X" as uncertain, where the asg rules read it as present
SENTENCES = [("Likely edema.", "edema", "uncertain"), ("No effusion.", "effusion", "absent"),
             ("Small effusion.", "effusion", "present"), ("Likely effusion.", "effusion", "uncertain"),
             ("There is no pneumothorax.", "pneumothorax", "absent"), ("Likely pneumonia.", "pneumonia", "uncertain"),
             ("Mild edema.", "edema", "present"), ("Pneumonia is likely.", "pneumonia", "uncertain")]
CONFIG = """
[paths]
train = null
dev = null

[nlp]
lang = "en"
pipeline = ["entity_ruler", "asg_existence", "asg_existence_model"]

[components]

[components.entity_ruler]
factory = "entity_ruler"

[components.asg_existence]
factory = "asg_existence"

[components.asg_existence_model]
factory = "asg_existence_model"
mode = "model"
span_keys = []

[corpora]

[corpora.train]
@readers = "spacy.Corpus.v1"
path = ${paths.train}

[corpora.dev]
@readers = "spacy.Corpus.v1"
path = ${paths.dev}

[training]
annotating_components = ["entity_ruler", "asg_existence"]
# the ruler is not frozen, so that it is initialised (its patterns)
frozen_components = ["asg_existence"]
max_epochs = 30
max_steps = 0
eval_frequency = 20
patience = 0
seed = 0

[training.batcher]
@batchers = "spacy.batch_by_sequence.v1"
size = 8

[initialize]

[initialize.components]

[initialize.components.entity_ruler]
patterns = PATTERNS
"""
FINDINGS = ("edema", "effusion", "pneumothorax", "pneumonia")


def _corpus(path: Path) -> None:
    nlp = spacy.blank("en")
    store = DocBin(store_user_data=True)
    for text, word, label in SENTENCES * 3:
        doc = nlp.make_doc(text)
        start = text.lower().index(word)
        span = doc.char_span(start, start + len(word), label="FINDING")
        doc.ents = [span]
        doc.spans[GOLD_KEY] = [Span(doc, span.start, span.end, label=label)]
        store.add(doc)
    store.to_disk(path)


def test_spacy_train_from_a_config(tmp_path: Path):
    _corpus(tmp_path / "train.spacy")
    patterns = [{"label": "FINDING", "pattern": [{"LOWER": w}]} for w in FINDINGS]
    (tmp_path / "base.cfg").write_text(CONFIG.replace("PATTERNS", json.dumps(patterns)), encoding="utf-8")
    run = [sys.executable, "-m", "spacy"]
    subprocess.run(run + ["init", "fill-config", "base.cfg", "config.cfg"], cwd=tmp_path, check=True,
                   capture_output=True)
    res = subprocess.run(run + ["train", "config.cfg", "--output", "out", "--paths.train", "train.spacy",
                                "--paths.dev", "train.spacy"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    meta = json.loads((tmp_path / "out" / "model-best" / "meta.json").read_text(encoding="utf-8"))
    assert meta["performance"]["existence_acc"] == 1.0
    nlp = spacy.load(tmp_path / "out" / "model-best")
    doc = nlp("Likely edema. No effusion.")
    assert [(e.text, e._.asg_existence, e._.asg_existence_by) for e in doc.ents] == \
        [("edema", "uncertain", "model"), ("effusion", "absent", "rules")]  # the model relabelled the edema
    assert nlp.evaluate(list(_examples(nlp)))["existence_acc"] == 1.0
    nlp.get_pipe("asg_existence_model").mode = "rules"  # the rules read the 4 "likely" sentences of 8 as present
    assert nlp.evaluate(list(_examples(nlp)))["existence_acc"] == 0.5


def _examples(nlp):
    from spacy.training import Example

    for text, word, label in SENTENCES:
        reference = nlp.make_doc(text)
        start = text.lower().index(word)
        span = reference.char_span(start, start + len(word), label="FINDING")
        reference.spans[GOLD_KEY] = [Span(reference, span.start, span.end, label=label)]
        yield Example(nlp.make_doc(text), reference)
