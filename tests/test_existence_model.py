"""The learned existence layer: a site convention learned from labels, modes, decided_by, serialisation, seeds."""
from __future__ import annotations

import json
import sys

import numpy
import pytest
import spacy

import asg_parse
from asg_parse.learning import trainer
from asg_parse.learning.examples import Featuriser, LabelledReport, Mention

# A site whose radiologists mean "likely X" as a hedge (the rules, following our guidelines, read it as present).
_FINDINGS = ["effusion", "atelectasis", "edema", "consolidation", "pneumothorax", "nodule"]
_TEMPLATES = [("Likely {f} at the left base.", "uncertain"), ("Findings most likely represent {f}.", "uncertain"),
              ("No {f}.", "absent"), ("There is {f} at the right base.", "present"),
              ("Possible {f}.", "uncertain"), ("No evidence of {f}.", "absent")]


def _reports(findings):
    out = []
    for f in findings:
        for k, (template, label) in enumerate(_TEMPLATES):
            text = "FINDINGS: " + template.format(f=f)
            start = text.index(f)
            out.append(LabelledReport(f"{f}-{k}", text, [Mention(start, start + len(f), label)], group=f))
    return out


def _write_gold(path, reports):
    with path.open("w", encoding="utf-8") as fh:
        for r in reports:
            triplets = [{"region": None, "finding": "x", "existence": m.existence, "sentence": 0, "start": m.start,
                         "end": m.end, "text": r.text[m.start:m.end], "cue": None} for m in r.mentions]
            fh.write(json.dumps({"id": r.id, "text": r.text, "triplets": triplets}) + "\n")


@pytest.fixture(scope="module")
def featuriser():
    return Featuriser()


@pytest.fixture(scope="module")
def site_data(featuriser):
    return featuriser.featurise(_reports(_FINDINGS))


@pytest.fixture(scope="module")
def site_model(site_data, tmp_path_factory):
    comp, metrics = trainer.train(site_data, site_data, epochs=25, seed=1, threshold=0.7)
    out = tmp_path_factory.mktemp("site") / "model"
    trainer.save(comp, out, metrics)
    return out


def test_rules_read_likely_as_present(featuriser, site_data):
    # the premise of the site test: the rules disagree with this site on "likely"
    labels = [r for r, g in zip(site_data.rules, site_data.golds) if g == 2 and r == 0]
    assert len(labels) == 2 * len(_FINDINGS)


def test_site_convention_is_learned_and_recorded(site_model):
    text = "FINDINGS: Likely pneumonia in the right lower lobe. No pleural effusion."
    rules = asg_parse.parse(text)
    assert [(t.finding, t.existence) for t in rules.triplets][:1] == [("pneumonia", "present")]
    assert all(t.decided_by is None for t in rules.triplets)  # no model: no decided_by
    for spans in (True, False):
        nlp = asg_parse.load(spans=spans, existence_model=site_model, existence_mode="vote")
        rec = asg_parse.doc_to_record(nlp(text), "r")
        by = {(t["text"], t["existence"], t["decided_by"]) for t in rec["triplets"]}
        assert ("pneumonia", "uncertain", "model") in by
        assert ("pleural effusion", "absent", "rules") in by


def test_rules_mode_with_a_model_only_adds_decided_by(site_model):
    text = "FINDINGS: Likely pneumonia. Possible small effusion. No pneumothorax. Heart size is normal."
    plain = asg_parse.doc_to_record(asg_parse.load(spans=False)(text), "r")
    nlp = asg_parse.load(spans=False, existence_model=site_model, existence_mode="rules")
    rec = asg_parse.doc_to_record(nlp(text), "r")
    assert {t.pop("decided_by") for t in rec["triplets"]} == {"rules"}
    assert rec == plain


def test_normal_statements_stay_with_the_rules(site_model):
    nlp = asg_parse.load(spans=False, existence_model=site_model, existence_mode="model")
    rec = asg_parse.doc_to_record(nlp("FINDINGS: Heart size is normal."), "r")
    assert [(t["finding"], t["existence"], t["decided_by"]) for t in rec["triplets"]] == \
        [("cardiomegaly", "absent", "rules")]


def test_modes_are_checked(site_model):
    with pytest.raises(ValueError, match="existence_mode"):
        asg_parse.load(existence_model=site_model, existence_mode="majority")
    with pytest.raises(ValueError, match="needs an existence_model"):
        asg_parse.load(existence_mode="vote")


def test_model_directory_round_trip(site_model, site_data):
    a = trainer.load(site_model)
    b = trainer.load(site_model)
    pa, pb = numpy.array(a.probabilities(site_data.feats)), numpy.array(b.probabilities(site_data.feats))
    assert numpy.allclose(pa, pb)
    assert json.loads((site_model / "metrics.json").read_text())["dev"]["model"]["accuracy"] > \
        json.loads((site_model / "metrics.json").read_text())["dev"]["rules"]["accuracy"]


def test_pipeline_to_disk_and_spacy_load(site_model, tmp_path):
    nlp = asg_parse.load(existence_model=site_model, existence_mode="vote")
    text = "FINDINGS: Likely pneumonia. No effusion."
    before = asg_parse.doc_to_record(nlp(text), "r")
    nlp.to_disk(tmp_path / "pipe")
    again = spacy.load(tmp_path / "pipe")
    assert again.pipe_names == nlp.pipe_names
    assert asg_parse.doc_to_record(again(text), "r") == before


def test_training_is_seeded(site_data):
    small = site_data.subset(list(range(24)))
    one, _ = trainer.train(small, None, epochs=2, seed=7)
    two, _ = trainer.train(small, None, epochs=2, seed=7)
    other, _ = trainer.train(small, None, epochs=2, seed=8)
    assert one.model.to_bytes() == two.model.to_bytes()
    assert one.model.to_bytes() != other.model.to_bytes()


def test_cli_train_and_parse(tmp_path, cli_pipeline):
    from typer.testing import CliRunner

    from asg_parse.cli.app import app

    gold = tmp_path / "site.jsonl"
    _write_gold(gold, _reports(_FINDINGS[:4]))
    dev = tmp_path / "dev.jsonl"
    _write_gold(dev, _reports(_FINDINGS[4:]))
    runner = CliRunner()
    res = runner.invoke(app, ["train", "existence", "--gold", str(gold), "--dev", str(dev), "--out",
                              str(tmp_path / "m"), "--epochs", "3", "-q"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert set(metrics["dev"]) == {"rules", "model", "vote"} and metrics["seed"] == 0
    reports = tmp_path / "r.csv"
    reports.write_text("id,report\n1,FINDINGS: No pneumothorax.\n", encoding="utf-8")
    res = runner.invoke(app, [str(reports), "-o", str(tmp_path / "o.jsonl"), "-w", "1", "-q",
                              "--existence-model", str(tmp_path / "m"), "--existence-mode", "vote"])
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "o.jsonl").read_text())
    assert {t["decided_by"] for t in rec["triplets"]} == {"rules"}
    res = runner.invoke(app, [str(reports), "-o", str(tmp_path / "p.jsonl"), "-q", "--existence-mode", "model"])
    assert res.exit_code == 2 and "needs --existence-model" in res.output


def test_cli_train_rejects_bad_gold_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from asg_parse.cli.app import app

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "text": "No effusion.", "triplets": [
        {"finding": "pleural effusion", "existence": "maybe", "start": 3, "end": 11}]}) + "\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["train", "existence", "--gold", str(bad), "--out", str(tmp_path / "m")])
    assert res.exit_code == 2
    assert f"{bad}:1: triplets[0]: field 'existence'" in res.output
    assert "Traceback" not in res.output


def test_cli_train_checks_the_encoder_first(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from asg_parse.cli.app import app

    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "a", "text": "No effusion.", "triplets": [
        {"finding": "pleural effusion", "existence": "absent", "start": 3, "end": 11}]}) + "\n", encoding="utf-8")
    args = ["train", "existence", "--gold", str(gold), "--out", str(tmp_path / "m"), "--encoder"]
    res = CliRunner().invoke(app, args + [str(tmp_path / "no_such_bert")])
    assert res.exit_code == 2 and "no_such_bert: no such directory" in " ".join(res.output.split())
    monkeypatch.setitem(sys.modules, "transformers", None)  # the models extra not installed
    res = CliRunner().invoke(app, args + ["emilyalsentzer/Bio_ClinicalBERT"])
    assert res.exit_code == 2 and "pip install -e '.[models]'" in res.output
    assert not (tmp_path / "m").exists()


def test_tiny_pretrained_encoder(tmp_path, featuriser):
    pytest.importorskip("transformers")
    pytest.importorskip("torch")
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[", "]", "no", "possible", "effusion", "likely",
             "edema", "is", "seen", ".", "there"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    bert = tmp_path / "bert"
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=64)).save_pretrained(str(bert))
    BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(str(bert))
    data = featuriser.featurise(_reports(["effusion", "edema"]))
    config = trainer.default_model_config(encoder=str(bert))
    comp, metrics = trainer.train(data, None, epochs=2, seed=0, model_config=config)
    trainer.save(comp, tmp_path / "out", metrics)
    assert (tmp_path / "out" / "encoder" / "config.json").is_file()
    loaded = trainer.load(tmp_path / "out")
    assert numpy.allclose(numpy.array(comp.probabilities(data.feats)), numpy.array(loaded.probabilities(data.feats)),
                          atol=1e-6)
    nlp = asg_parse.load(spans=False, existence_model=tmp_path / "out", existence_mode="model")
    rec = asg_parse.doc_to_record(nlp("FINDINGS: Possible edema."), "r")
    assert rec["triplets"] and {t["decided_by"] for t in rec["triplets"]} <= {"rules", "model"}


def test_spacy_initialize_and_update_on_examples():
    from spacy.tokens import Span
    from spacy.training import Example

    from asg_parse.pipeline.existence_model import GOLD_KEY

    nlp = spacy.blank("en")
    nlp.add_pipe("asg_existence")
    model = nlp.add_pipe("asg_existence_model", config={"span_keys": [], "mode": "model"})
    examples = []
    for text, word, label in [("Likely edema.", "edema", "uncertain"), ("No effusion.", "effusion", "absent"),
                              ("Small effusion.", "effusion", "present"), ("Likely effusion.", "effusion", "uncertain")]:
        start = text.index(word)
        predicted = nlp.make_doc(text)
        predicted.ents = [predicted.char_span(start, start + len(word), label="FINDING")]
        predicted = nlp.get_pipe("asg_existence")(predicted)
        reference = nlp.make_doc(text)
        reference.spans[GOLD_KEY] = [Span(reference, *_tokens(reference, start, len(word)), label=label)]
        examples.append(Example(predicted, reference))
    model.initialize(lambda: examples, nlp=nlp)
    optimizer = model.create_optimizer()
    losses = [model.update(examples, sgd=optimizer, losses={})["asg_existence_model"] for _ in range(40)]
    assert losses[-1] < losses[0] / 2
    doc = nlp.make_doc("Likely edema.")
    doc.ents = [doc.char_span(7, 12, label="FINDING")]
    doc = model(nlp.get_pipe("asg_existence")(doc))
    assert (doc.ents[0]._.asg_existence, doc.ents[0]._.asg_existence_by) == ("uncertain", "model")


def _tokens(doc, start, length):
    span = doc.char_span(start, start + length)
    return span.start, span.end


def test_parser_component_saves_its_model(site_model, tmp_path):
    import shutil

    model = tmp_path / "site_model"
    shutil.copytree(site_model, model)
    nlp = spacy.blank("en")
    nlp.add_pipe("asg_parser", config={"spans": False, "existence_model": str(model), "existence_mode": "vote"})
    text = "FINDINGS: Likely pneumonia. No effusion."
    before = asg_parse.doc_to_record(nlp(text), "r")
    nlp.to_disk(tmp_path / "pipe")
    shutil.rmtree(model)  # the saved pipeline carries its own copy
    again = spacy.load(tmp_path / "pipe")
    assert asg_parse.doc_to_record(again(text), "r") == before
    assert any(t["decided_by"] == "model" for t in before["triplets"])


_BATCH = ["FINDINGS: Likely pneumonia in the right lower lobe. No pleural effusion.",
          "FINDINGS: Possible small effusion. There is atelectasis at the left base. Heart size is normal.",
          "IMPRESSION: Findings most likely represent edema. No pneumothorax.",
          "FINDINGS: Likely pneumonia in the right lower lobe. No pleural effusion."]  # a repeated report


def test_contexts_give_the_features_and_the_probabilities_of_the_mentions(site_model):
    from asg_parse.pipeline.existence_features import context_features, doc_contexts, doc_features

    nlp = asg_parse.load(spans=False, existence_model=site_model, existence_mode="vote")
    parser = nlp.get_pipe("asg_parser")
    model = parser.existence_model
    for text in _BATCH:
        state = parser._analyse(nlp.make_doc(text))
        contexts, base, _ = state.model_input
        feats = doc_features(state.doc, state.found.findings, base, state.index, [f[2] for f in state.found.findings])
        assert contexts and [context_features(c) for c in contexts] == feats
        assert any(f[2].startswith("[ ") or " [ " in f[2] for f in feats)  # the mention is bracketed in its window
        fresh = trainer.load(site_model)  # an empty cache: the probabilities are the model's, not a cached row
        assert numpy.array_equal(numpy.array(model.context_probabilities(contexts)),
                                 numpy.array(fresh.probabilities(feats)))


def test_the_decision_over_a_batch_is_the_decision_per_mention(site_model):
    model = trainer.load(site_model, mode="vote", threshold=0.7)
    probs = [numpy.array(p, dtype="float32") for p in
             ([0.1, 0.2, 0.7], [0.1, 0.25, 0.65], [0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.2, 0.1, 0.7])]
    rules = ["present", "present", "absent", None, "present"]  # None: no cue, present
    fixed = [False, False, False, False, True]  # the last is a normal statement's forced label
    # the second: the model's 0.65 is under the threshold; the last: forced
    assert model.overrides(probs, rules, fixed) == [(0, "uncertain"), (2, "present"), (3, "absent")]
    labels = [(label, {"text": "cue"} if label else None) for label in rules]
    out, by = model.decide_by(probs, labels, fixed)
    assert by == ["model", "rules", "model", "model", "rules"]
    assert out[0] == ("uncertain", {"text": "cue"}) and out[2] == ("present", None) and out[4] == labels[4]
    model.mode = "model"  # no threshold: the second one is overridden too
    assert [i for i, _ in model.overrides(probs, rules, fixed)] == [0, 1, 2, 3]
    model.mode = "rules"
    assert model.overrides(probs, rules, fixed) == [] and model.decide_by(probs, labels, fixed)[1] == ["rules"] * 5


def test_a_batch_of_reports_is_labelled_as_each_report_alone_with_a_warm_cache(site_model):
    # the batch's decisions, made over all its mentions at once, go back to the right reports and mentions
    nlp = asg_parse.load(spans=False, existence_model=site_model, existence_mode="model")
    alone = [asg_parse.doc_to_record(nlp(text), str(i)) for i, text in enumerate(_BATCH)]  # fills the cache
    batch = [asg_parse.doc_to_record(doc, str(i)) for i, doc in enumerate(nlp.pipe(_BATCH, batch_size=3))]
    assert batch == alone
    assert any(t["decided_by"] == "model" for rec in batch for t in rec["triplets"])
