"""The `asg_existence` component: doc.spans, ent_types, a user's ontology, serialisation, the entry point."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import spacy
from spacy.tokens import Span


def _doc(nlp, text, words_labels):
    doc = nlp.make_doc(text)
    spans = []
    for word, label in words_labels:
        i = text.index(word)
        spans.append(doc.char_span(i, i + len(word), label=label))
    return doc, spans


def test_component_on_doc_spans_and_ents_filter():
    nlp = spacy.blank("en")
    nlp.add_pipe("asg_existence", config={"span_keys": ["asg_findings"], "ent_types": ["COND"]})
    doc, spans = _doc(nlp, "No pneumothorax. Possible pneumonia. Small effusion.",
                      [("pneumothorax", "pneumothorax"), ("pneumonia", "pneumonia"), ("effusion", "effusion")])
    doc.spans["asg_findings"] = spans[:2]
    doc.ents = [Span(doc, spans[2].start, spans[2].end, label="OTHER")]
    doc = nlp.get_pipe("asg_existence")(doc)
    assert [s._.asg_existence for s in doc.spans["asg_findings"]] == ["absent", "uncertain"]
    assert doc.ents[0]._.asg_existence is None  # label OTHER is not in ent_types


def test_empty_ent_types_means_all_labels():
    nlp = spacy.blank("en")
    nlp.add_pipe("asg_existence")
    doc, spans = _doc(nlp, "No effusion or pneumothorax.", [("effusion", "A"), ("pneumothorax", "B")])
    doc.ents = spans
    doc = nlp.get_pipe("asg_existence")(doc)
    assert [e._.asg_existence for e in doc.ents] == ["absent", "absent"]


def test_with_users_entity_ruler():
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "FINDING", "pattern": [{"LOWER": "effusion"}]},
                        {"label": "FINDING", "pattern": [{"LOWER": "atelectasis"}]}])
    nlp.add_pipe("asg_existence")
    doc = nlp("No effusion, but there is atelectasis.")
    assert [(e.text, e._.asg_existence) for e in doc.ents] == [("effusion", "absent"), ("atelectasis", "present")]


def _user_dir(tmp_path):
    (tmp_path / "existence.yaml").write_text(textwrap.dedent("""\
        cues:
          - {text: excluded, kind: negation, direction: following, note: our site's wording}
          - {text: likely, kind: negation, direction: both, window: 2, back_window: 2}
        """), encoding="utf-8")
    return tmp_path


def test_user_ontology_adds_and_overrides_cues(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("asg_existence", config={"ontology": str(_user_dir(tmp_path))})
    doc, spans = _doc(nlp, "Pneumothorax excluded. Likely pneumonia. No effusion.",
                      [("Pneumothorax", "F"), ("pneumonia", "F"), ("effusion", "F")])
    doc.ents = spans
    doc = nlp.get_pipe("asg_existence")(doc)
    assert [e._.asg_existence for e in doc.ents] == ["absent", "absent", "absent"]
    assert doc.ents[0]._.asg_existence_cue["text"] == "excluded"


def test_to_disk_and_spacy_load_round_trip(tmp_path):
    (tmp_path / "onto").mkdir()
    user = _user_dir(tmp_path / "onto")
    nlp = spacy.blank("en")
    nlp.add_pipe("asg_existence", config={"ontology": str(user), "span_keys": ["asg_findings"]})
    nlp.to_disk(tmp_path / "model")
    (user / "existence.yaml").unlink()
    user.rmdir()
    loaded = spacy.load(tmp_path / "model")
    assert loaded.get_pipe("asg_existence").span_keys == ["asg_findings"]
    for model in (nlp, loaded):
        doc, spans = _doc(model, "Pneumothorax excluded. Possible edema. Cardiomegaly.",
                          [("Pneumothorax", "F"), ("edema", "F"), ("Cardiomegaly", "F")])
        doc.spans["asg_findings"] = spans
        doc = model.get_pipe("asg_existence")(doc)
        assert [s._.asg_existence for s in doc.spans["asg_findings"]] == ["absent", "uncertain", "present"]


def test_component_from_disk_directly(tmp_path):
    nlp = spacy.blank("en")
    comp = nlp.add_pipe("asg_existence")
    comp.to_disk(tmp_path / "c")
    other = spacy.blank("en").add_pipe("asg_existence")
    other.from_disk(tmp_path / "c")
    assert [c.text for c in other.engine.cues] == [c.text for c in comp.engine.cues]


def test_missing_ontology_dir_gives_clear_error(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("asg_existence", config={"ontology": str(tmp_path / "nope")})
    with pytest.raises(ValueError, match="ontology directory not found"):
        nlp("No effusion.")


def test_entry_point_in_fresh_interpreter(tmp_path):
    code = ("import spacy; nlp = spacy.blank('en'); r = nlp.add_pipe('entity_ruler'); "
            "r.add_patterns([{'label': 'F', 'pattern': 'effusion'}]); nlp.add_pipe('asg_existence'); "
            "print(nlp('There is no effusion.').ents[0]._.asg_existence)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "absent"


# A user's doc (no token table) takes the per-doc path: a probe for triggers, columns read without a token table, the
# splitter only where a token can split. It must label exactly as the token-table path the parser takes.
FAST_PATH_CASES = [
    ("No  pleural effusion.  Mild cardiomegaly.", [("pleural effusion", "absent"), ("cardiomegaly", "present")]),
    ("Negative  for pneumothorax.", [("pneumothorax", "absent")]),
    ("Lungs are clear. No effusion. Heart size is enlarged", [("effusion", "absent"), ("Heart", "present")]),
    ("No effusion.\n\nPossible consolidation at the left base.",
     [("effusion", "absent"), ("consolidation", "uncertain")]),
    ("1. No pneumothorax 2. Atelectasis cannot be excluded.",
     [("pneumothorax", "absent"), ("Atelectasis", "uncertain")]),
    ("Stable cardiomegaly without edema.", [("cardiomegaly", "present"), ("edema", "absent")]),
]


@pytest.mark.parametrize("sentencizer", [False, True])
@pytest.mark.parametrize("text,expected", FAST_PATH_CASES)
def test_user_doc_path_labels_like_the_token_table_path(text, expected, sentencizer):
    from asg_parse.pipeline.tokens import tokens

    nlp = spacy.blank("en")
    if sentencizer:
        nlp.add_pipe("sentencizer")
    nlp.add_pipe("asg_existence")
    labels = []
    for with_table in (False, True):
        doc, spans = _doc(nlp, text, [(word, "F") for word, _ in expected])
        doc.ents = spans
        if sentencizer:
            doc = nlp.get_pipe("sentencizer")(doc)
        if with_table:
            tokens(doc)  # the parser's path: the doc carries its token table
        doc = nlp.get_pipe("asg_existence")(doc)
        labels.append([(e._.asg_existence, e._.asg_existence_cue) for e in doc.ents])
    assert labels[0] == labels[1]
    assert [value for value, _ in labels[0]] == [value for _, value in expected]
