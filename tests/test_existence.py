"""Existence engine: each construction of issue 7 / issue 2, with the cue that fired and its offsets."""
from __future__ import annotations

import pytest
import spacy
from spacy.tokens import Doc

from asg_parse.pipeline.existence import ExistenceEngine
from asg_parse.pipeline.resources import get_ontology


@pytest.fixture(scope="module")
def nlp():
    nlp = spacy.blank("en")
    nlp.add_pipe("asg_existence")
    return nlp


def ents_doc(nlp, text: str, targets: list[str]) -> Doc:
    """`text` with each target (first occurrence after the previous one; "a|2" = 2nd occurrence) on doc.ents."""
    doc = nlp.make_doc(text)
    spans, pos = [], 0
    low = text.lower()
    for t in targets:
        word, _, nth = t.partition("|")
        start = -1
        for _ in range(int(nth or 1)):
            start = low.index(word.lower(), start + 1 if start >= 0 else pos)
        spans.append(doc.char_span(start, start + len(word), label="FINDING", alignment_mode="expand"))
        pos = start + len(word)
    doc.ents = spans
    return nlp.get_pipe("asg_existence")(doc)


def labels(nlp, text: str, targets: list[str]) -> list[str]:
    return [e._.asg_existence for e in ents_doc(nlp, text, targets).ents]


CASES = [
    # plain / preceding negation
    ("Mild cardiomegaly.", ["cardiomegaly"], ["present"]),
    ("No pleural effusion.", ["pleural effusion"], ["absent"]),
    ("There is no evidence of pneumothorax.", ["pneumothorax"], ["absent"]),
    ("Lungs are clear without focal consolidation.", ["consolidation"], ["absent"]),
    ("The lungs are free of focal airspace disease.", ["airspace disease"], ["absent"]),
    ("The costophrenic angles are clear of effusion.", ["effusion"], ["absent"]),
    ("Negative for pneumothorax.", ["pneumothorax"], ["absent"]),
    ("The heart is not enlarged.", ["enlarged"], ["absent"]),
    # following negation, radiology forms
    ("Pneumothorax is not seen.", ["pneumothorax"], ["absent"]),
    ("A pleural effusion is not identified.", ["pleural effusion"], ["absent"]),
    ("Focal consolidation is not demonstrated on this exam.", ["consolidation"], ["absent"]),
    ("The left effusion has resolved.", ["effusion"], ["absent"]),
    ("Right basilar atelectasis resolved.", ["atelectasis"], ["absent"]),
    ("Interval resolution of the left lower lobe pneumonia.", ["pneumonia"], ["absent"]),
    ("Interval removal of the right chest tube.", ["chest tube"], ["absent"]),
    ("The endotracheal tube has been removed.", ["endotracheal tube"], ["absent"]),
    ("Pneumothorax is absent.", ["pneumothorax"], ["absent"]),
    ("The previously seen nodule is no longer visualized.", ["nodule"], ["absent"]),
    # pseudo-negation
    ("No change in the small left pleural effusion.", ["pleural effusion"], ["present"]),
    ("No interval change in the right upper lobe nodule.", ["nodule"], ["present"]),
    ("Not only atelectasis but also consolidation.", ["atelectasis", "consolidation"], ["present", "present"]),
    ("No significant change in cardiomegaly since the prior exam.", ["cardiomegaly"], ["present"]),
    # terminators and clause boundaries
    ("No effusion, but there is bibasilar atelectasis.", ["effusion", "atelectasis"], ["absent", "present"]),
    ("No pneumothorax. Small right effusion.", ["pneumothorax", "effusion"], ["absent", "present"]),
    ("No pneumothorax; small right effusion.", ["pneumothorax", "effusion"], ["absent", "present"]),
    ("No consolidation, although there is mild edema.", ["consolidation", "edema"], ["absent", "present"]),
    ("No pneumothorax, however a small effusion persists.", ["pneumothorax", "effusion"], ["absent", "present"]),
    ("No focal consolidation aside from left basilar atelectasis.", ["consolidation", "atelectasis"],
     ["absent", "present"]),
    ("No acute abnormality except for a healed rib fracture.", ["abnormality", "fracture"], ["absent", "present"]),
    ("No effusion, atelectasis is present at the left base.", ["effusion", "atelectasis"], ["absent", "present"]),
    ("No pneumothorax and the heart is enlarged.", ["pneumothorax", "enlarged"], ["absent", "present"]),
    ("Cardiomegaly is present, and the effusion has resolved.", ["cardiomegaly", "effusion"],
     ["present", "absent"]),
    ("There is atelectasis but the pneumothorax is not seen.", ["atelectasis", "pneumothorax"],
     ["present", "absent"]),
    # lists
    ("No pleural effusion, pneumothorax, or focal consolidation.", ["effusion", "pneumothorax", "consolidation"],
     ["absent", "absent", "absent"]),
    ("No effusion, pneumothorax or consolidation is seen.", ["effusion", "pneumothorax", "consolidation"],
     ["absent", "absent", "absent"]),
    ("Without edema or effusion.", ["edema", "effusion"], ["absent", "absent"]),
    ("The effusion and pneumothorax have resolved.", ["effusion", "pneumothorax"], ["absent", "absent"]),
    # uncertainty
    ("Possible left lower lobe pneumonia.", ["pneumonia"], ["uncertain"]),
    ("Atelectasis may be present.", ["atelectasis"], ["uncertain"]),
    ("Findings may represent pneumonia.", ["pneumonia"], ["uncertain"]),
    ("Cannot exclude a small pneumothorax.", ["pneumothorax"], ["uncertain"]),
    ("A small effusion cannot be excluded.", ["effusion"], ["uncertain"]),
    ("Atelectasis versus pneumonia.", ["atelectasis", "pneumonia"], ["uncertain", "uncertain"]),
    ("Opacity suggestive of pneumonia.", ["opacity", "pneumonia"], ["present", "uncertain"]),
    ("Rule out pneumonia.", ["pneumonia"], ["uncertain"]),
    ("Question of a small nodule.", ["nodule"], ["uncertain"]),
    ("Likely atelectasis at the left base.", ["atelectasis"], ["present"]),  # a leaning, not a hedge
    ("Left basilar opacity, likely atelectasis.", ["opacity", "atelectasis"], ["present", "present"]),
    ("Aspiration is less likely.", ["aspiration"], ["uncertain"]),
    ("Opacity concerning for pneumonia.", ["pneumonia"], ["uncertain"]),
    ("Nodular opacity suspicious for malignancy.", ["malignancy"], ["uncertain"]),
    ("This could represent early edema.", ["edema"], ["uncertain"]),
    ("No effusion, possible atelectasis.", ["effusion", "atelectasis"], ["absent", "uncertain"]),
    ("Aspiration and pneumonia are considerations.", ["aspiration", "pneumonia"], ["uncertain", "uncertain"]),
    ("Globular heart; pericardial effusion should be considered.", ["effusion"], ["uncertain"]),
    ("Superimposed pneumonia in the right upper lobe is not excluded.", ["pneumonia"], ["uncertain"]),
    ("Organizing pneumonia is a differential consideration.", ["pneumonia"], ["uncertain"]),
    ("Mass suspicious for carcinoma, with probable hilar adenopathy.", ["carcinoma", "adenopathy"],
     ["uncertain", "present"]),
    # negated uncertainty
    ("No convincing evidence of pneumonia.", ["pneumonia"], ["absent"]),
    ("No definite focal consolidation.", ["consolidation"], ["absent"]),
    ("No findings suspicious for malignancy.", ["malignancy"], ["absent"]),
    ("Pneumonia is unlikely.", ["pneumonia"], ["absent"]),
    ("Pneumonia is not favored.", ["pneumonia"], ["absent"]),
    # normal / unremarkable
    ("Normal interstitial markings.", ["markings"], ["absent"]),
    ("Pulmonary vascularity is within normal limits.", ["vascularity"], ["absent"]),
    ("Normal heart size with a small left effusion.", ["effusion"], ["present"]),
    # historical / stable stays present
    ("Stable left upper lobe granuloma.", ["granuloma"], ["present"]),
    ("Unchanged cardiomegaly.", ["cardiomegaly"], ["present"]),
]


@pytest.mark.parametrize("text,targets,expected", CASES, ids=[c[0][:40] for c in CASES])
def test_constructions(nlp, text, targets, expected):
    assert labels(nlp, text, targets) == expected


def test_cue_offsets_preceding_and_following(nlp):
    text = "There is no pleural effusion. The pneumothorax has resolved."
    doc = ents_doc(nlp, text, ["pleural effusion", "pneumothorax"])
    neg, res = doc.ents
    assert neg._.asg_existence_cue == {"text": "no", "start": 9, "end": 11, "class": "negation"}
    cue = res._.asg_existence_cue
    assert text[cue["start"]:cue["end"]] == cue["text"] == "has resolved"
    assert cue["class"] == "resolution"


def test_cue_none_for_present(nlp):
    doc = ents_doc(nlp, "Small left pleural effusion.", ["pleural effusion"])
    assert doc.ents[0]._.asg_existence == "present"
    assert doc.ents[0]._.asg_existence_cue is None


def test_trigger_inside_entity(nlp):
    text = "Chest: no effusion."
    doc = ents_doc(nlp, text, ["no effusion"])
    ent = doc.ents[0]
    assert ent._.asg_existence == "absent"
    assert ent._.asg_existence_cue == {"text": "no", "start": 7, "end": 9, "class": "negation"}
    doc = ents_doc(nlp, "The effusion has resolved.", ["effusion has resolved"])
    assert doc.ents[0]._.asg_existence == "absent"


def test_trigger_in_middle_of_entity_describes_another_part(nlp):
    doc = ents_doc(nlp, "Neck supple, no lymphadenopathy.", ["neck supple, no lymphadenopathy"])
    assert doc.ents[0]._.asg_existence == "present"
    doc = ents_doc(nlp, "The heart size is normal.", ["heart size is normal"])
    assert doc.ents[0]._.asg_existence == "present"


def test_negated_hedge_cue_covers_both_words(nlp):
    text = "There are no findings suspicious for malignancy."
    ent = ents_doc(nlp, text, ["malignancy"]).ents[0]
    assert ent._.asg_existence == "absent"
    assert ent._.asg_existence_cue["text"] == "no findings suspicious for"


def test_pseudo_cue_does_not_negate_but_later_no_does(nlp):
    text = "No change in the left effusion. No pneumothorax."
    assert labels(nlp, text, ["effusion", "pneumothorax"]) == ["present", "absent"]


def test_scope_stays_inside_sentence_without_sentence_annotation(nlp):
    doc = ents_doc(nlp, "No pneumothorax. The effusion is not seen. Atelectasis.", ["pneumothorax", "effusion",
                                                                                      "atelectasis"])
    assert [e._.asg_existence for e in doc.ents] == ["absent", "absent", "present"]
    assert not doc.has_annotation("SENT_START")  # split for the scopes only: a user's doc is left as it was


def test_engine_reused_directly():
    nlp = spacy.blank("en")
    engine = ExistenceEngine(get_ontology(None), nlp.vocab)
    doc = nlp("Possible pneumonia. No effusion.")
    spans = [doc[1:2], doc[4:5]]
    engine.classify(doc, spans)
    assert [s._.asg_existence for s in spans] == ["uncertain", "absent"]
    assert engine.label(doc, doc[1:2])[0] == "uncertain"


MORE = [
    # whitespace runs inside a cue and around entities (clinical and de-identified text)
    ("Doppler of the legs negative   for thrombosis.", ["thrombosis"], ["absent"]),
    ("No   pleural effusion.", ["pleural effusion"], ["absent"]),
    # a new clause after a comma or "and" stops the negation
    ("Denies fever, reports a productive cough.", ["fever", "cough"], ["absent", "present"]),
    ("Denies fever and has a productive cough.", ["fever", "cough"], ["absent", "present"]),
    ("Denies fever, chills, and cough.", ["fever", "chills", "cough"], ["absent", "absent", "absent"]),
    # a negated hedge later in the clause
    ("There is no focal opacity to suggest pneumonia.", ["opacity", "pneumonia"], ["absent", "absent"]),
    # a hedge in the next sentence is not governed by the previous negation
    ("No pneumothorax. Possible pneumonia.", ["pneumothorax", "pneumonia"], ["absent", "uncertain"]),
    # "X, resolved" and "found and removed"
    ("Small bowel obstruction, resolved.", ["obstruction"], ["absent"]),
    ("A polyp was found in the colon and removed.", ["polyp"], ["present"]),
]


@pytest.mark.parametrize("text,targets,expected", MORE, ids=[c[0][:40] for c in MORE])
def test_more_constructions(nlp, text, targets, expected):
    assert labels(nlp, text, targets) == expected


def test_pseudo_cue_inside_entity_is_not_pseudo(nlp):
    doc = ents_doc(nlp, "No change in vision or hearing.", ["change in vision"])
    assert doc.ents[0]._.asg_existence == "absent"
