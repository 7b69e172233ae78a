"""The uncertainty score of `asg-parse review --order confidence`, part by part, on our own sentences (no web
stack needed)."""
from __future__ import annotations

import pytest

from anatomy_ontology import load_ontology
from asg_parse.review.store import parse_view
from asg_parse.review.uncertainty import WEIGHTS, UncertaintyScorer


@pytest.fixture(scope="module")
def score(asg_nlp):
    onto = load_ontology()
    scorer = UncertaintyScorer(onto)
    annotated = {s.id for s in onto.sections.values() if s.parse}

    def run(text: str) -> dict:
        record, anatomy = next(iter(parse_view(asg_nlp, [("r", text)])))
        return scorer.score(record, text, annotated, anatomy).as_dict()

    return run


def test_a_plain_normal_report_scores_zero(score):
    assert score("FINDINGS: The lungs are clear. No pleural effusion or pneumothorax.")["score"] == 0


def test_each_part_counts(score):
    hedged = score("FINDINGS: Findings may represent pneumonia.")
    assert hedged["uncertain"] == 1 and hedged["hedges"] >= 1
    alternative = score("FINDINGS: Left basilar atelectasis or scar.")
    assert alternative["hedges"] == 1 and alternative["uncertain"] == 0  # "or": both present, an alternative
    negated_list = score("FINDINGS: No consolidation or pneumothorax.")
    assert negated_list["hedges"] == 0  # a negated list is no alternative
    unplaced = score("FINDINGS: There is patchy opacity.")
    assert unplaced["unplaced"] == 1
    unknown = score("FINDINGS: A pneumatocele is seen in the right upper lobe.")
    assert unknown["unknown_words"] == 1  # "pneumatocele": every other word is the ontology's or a stop word
    assert unknown["score"] == WEIGHTS["unknown_words"]


def test_only_annotated_sections_count(score):
    assert score("INDICATION: Possible pneumonia, rule out.\nFINDINGS: The lungs are clear.")["score"] == 0
