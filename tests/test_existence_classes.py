"""Parser tables for the existence classes of other institutions' reports (hedges before and after the finding,
recommendations, pseudo-negations). Every sentence is our own writing; expectations follow the cue classes of
existence.yaml under the default (asg) convention, where these classes read the same as under the others."""
from __future__ import annotations

import pytest

import asg_parse


@pytest.fixture(scope="module")
def nlp():
    return asg_parse.load(spans=False)


def existence_of(nlp, text: str, finding: str) -> set[str]:
    rep = asg_parse.parse(text, nlp=nlp)
    got = {t.existence for t in rep.triplets if t.finding == finding}
    assert got, f"no {finding} mention in {text!r}"
    return got


U, A, P = {"uncertain"}, {"absent"}, {"present"}

HEDGES_BEFORE = [
    ("Question of a small left pleural effusion.", "pleural effusion", U),
    ("Question subtle nodule in the right upper lobe.", "nodule", U),
    ("Questionable subtle opacity at the right base.", "opacity", U),
    ("Suspected left lower lobe consolidation.", "consolidation", U),
    ("Presumed bandlike atelectasis at the left base.", "atelectasis", U),
    ("Also possible early pneumonia in the lingula.", "pneumonia", U),
    ("Patchy atelectasis at the left base; pneumonia is also possible.", "pneumonia", U),
    ("Hyperinflated lungs, maybe with mild peribronchial cuffing.", "bronchial thickening", U),
]

HEDGES_AFTER = [
    ("A small right pleural effusion cannot be excluded.", "pleural effusion", U),
    ("Subtle consolidation at the left base cannot be fully excluded.", "consolidation", U),
    ("A tiny pneumothorax cannot be completely ruled out.", "pneumothorax", U),
    ("Early pneumonia is not excluded on this single view.", "pneumonia", U),
    ("Small effusions are not entirely excluded.", "pleural effusion", U),
    ("It is unsure whether a pneumonia is developing.", "pneumonia", U),
    ("It is uncertain whether there is a small pneumothorax.", "pneumothorax", U),
    ("Cardiomegaly raised on the portable film is not borne out by the PA view.", "cardiomegaly", A),
]

RECOMMENDATIONS = [
    ("Consider atypical pneumonia in the right clinical setting.", "pneumonia", U),
    ("If there is no improvement on therapy then consider aspiration.", "aspiration", U),
    ("Recommend follow-up radiograph to exclude pneumonia.", "pneumonia", U),
    ("Mild hyperinflation as can be seen in reactive airway disease.", "copd", U),
]

PSEUDO_NEGATIONS = [
    ("The left upper lobe opacity was not seen on prior studies.", "opacity", P),
    ("New nodule in the right mid lung, not previously seen.", "nodule", P),
    ("No significant change in the moderate left pleural effusion.", "pleural effusion", P),
    ("No significant change to the bibasilar atelectasis.", "atelectasis", P),
    ("No new consolidation.", "consolidation", A),  # asg convention; chexpert reads it as uncertain
]

# alternatives said after the finding or apart from it, the disfavoured reading, and hedges of what follows only
ALTERNATIVES = [
    ("The pattern favors atypical infection rather than interstitial edema.", "edema", U),
    ("The pattern favors atypical infection rather than interstitial edema.", "pneumonia", P),
    ("Early consolidation at the bases is an alternative possibility.", "consolidation", U),
    ("Bibasilar atelectasis, or alternatively early pneumonia.", "pneumonia", U),
    ("Bibasilar atelectasis, or alternatively early pneumonia.", "atelectasis", P),
    ("In the right clinical setting, an early pneumonia is considered.", "pneumonia", U),
    ("Volume loss in the lingula with or without superimposed infection.", "pneumonia", U),
    ("Pulmonary edema with and without infection.", "pneumonia", U),
    ("Left effusion with suspected underlying atelectasis.", "pleural effusion", P),
    ("Left effusion with suspected underlying atelectasis.", "atelectasis", U),
]

# hard-wrapped reports: a line break inside a form or inside a cue's window changes nothing
WRAPPED = [
    ("Blunted left angle, possibly reflecting a\nsmall left pleural effusion.", "pleural effusion", U),
    ("Blunted left angle, possibly reflecting a small left pleural effusion.", "pleural effusion", U),
    ("Small left effusion versus pleural\nthickening.", "pleural thicken", U),
    ("No focal\nconsolidation or large\npleural effusion.", "pleural effusion", A),
]

# the negations around these classes keep working
CONTROLS = [
    ("No pneumothorax is seen.", "pneumothorax", A),
    ("No focal consolidation to suggest pneumonia.", "pneumonia", A),
    ("A normal variant, or this could be seen with early bronchial wall thickening.", "bronchial thickening", U),
    ("Pneumothorax has resolved.", "pneumothorax", A),
]


@pytest.mark.parametrize("text,finding,expected", HEDGES_BEFORE, ids=[c[0][:40] for c in HEDGES_BEFORE])
def test_hedges_before_the_finding(nlp, text, finding, expected):
    assert existence_of(nlp, text, finding) == expected


@pytest.mark.parametrize("text,finding,expected", HEDGES_AFTER, ids=[c[0][:40] for c in HEDGES_AFTER])
def test_hedges_after_the_finding(nlp, text, finding, expected):
    assert existence_of(nlp, text, finding) == expected


@pytest.mark.parametrize("text,finding,expected", RECOMMENDATIONS, ids=[c[0][:40] for c in RECOMMENDATIONS])
def test_recommendations(nlp, text, finding, expected):
    assert existence_of(nlp, text, finding) == expected


@pytest.mark.parametrize("text,finding,expected", PSEUDO_NEGATIONS, ids=[c[0][:40] for c in PSEUDO_NEGATIONS])
def test_pseudo_negations(nlp, text, finding, expected):
    assert existence_of(nlp, text, finding) == expected


@pytest.mark.parametrize("text,finding,expected", ALTERNATIVES, ids=[f"{c[0][:40]}-{c[1]}" for c in ALTERNATIVES])
def test_alternatives_and_disfavoured_readings(nlp, text, finding, expected):
    assert existence_of(nlp, text, finding) == expected


@pytest.mark.parametrize("text,finding,expected", WRAPPED, ids=[c[0][:40] for c in WRAPPED])
def test_wrapped_lines(nlp, text, finding, expected):
    assert existence_of(nlp, text, finding) == expected


@pytest.mark.parametrize("text,finding,expected", CONTROLS, ids=[c[0][:40] for c in CONTROLS])
def test_negation_controls(nlp, text, finding, expected):
    assert existence_of(nlp, text, finding) == expected


def test_hedge_classes_recorded(nlp):
    rep = asg_parse.parse("Consider atypical pneumonia. Possible small left pleural effusion.", nlp=nlp)
    assert {t.finding: t.cue_class for t in rep.triplets} == {"pneumonia": "recommendation",
                                                             "pleural effusion": "hedge"}
