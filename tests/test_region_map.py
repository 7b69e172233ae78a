"""Region-map recall (evaluation/region_map.py) against hand-computed cases, and the homes of regions.yaml."""
from __future__ import annotations

from pathlib import Path

import pytest

import asg_parse
from anatomy_ontology import OntologyError, load_ontology
from asg_parse.evaluation import openi, region_map
from asg_parse.labels import ReportLabeler, label_set
from asg_parse.pipeline.resources import get_ontology

LUNGS = frozenset({"right lung", "left lung", "right lower lung zone"})
HEART = frozenset({"cardiac silhouette", "mediastinum"})


def _record(stated: dict[str, list[int]], rmap: dict[str, list[int]]) -> dict:
    return {"stated": stated, "region_sentences": rmap}


def _stating(record: dict) -> dict[str, list[int]]:
    return record["stated"]


def test_label_items_take_positive_and_uncertain_observations_with_a_home():
    gold = [("a", {"Edema": 1.0, "Cardiomegaly": 0.0, "Support Devices": 1.0}),
            ("b", {"Edema": -1.0, "Cardiomegaly": None})]
    items = region_map.label_items(gold, {"Edema": LUNGS, "Cardiomegaly": HEART})
    # negatives, blanks and observations without a home (Support Devices) are not items
    assert [(i.report, i.observation, i.kind) for i in items] == [("a", "Edema", "positive"),
                                                                 ("b", "Edema", "uncertain")]


def test_recall_hand_computed():
    items = [region_map.Item("a", "Edema", "positive", LUNGS),         # stated in 1, 1 mapped to a lung zone: hit
             region_map.Item("b", "Edema", "positive", LUNGS),         # stated in 0, only 1 mapped: miss
             region_map.Item("c", "Edema", "positive", LUNGS),         # never stated: miss, not stated
             region_map.Item("d", "Cardiomegaly", "uncertain", HEART),  # stated in 0, 0 at the carina only: miss
             region_map.Item("e", "Cardiomegaly", "uncertain", HEART),  # stated in 2, mapped to the heart: hit
             region_map.Item("f", "Edema", "positive", LUNGS)]         # no record at all: miss
    records = {"a": _record({"Edema": [1]}, {"right lower lung zone": [0, 1]}),
               "b": _record({"Edema": [0]}, {"left lung": [1]}),
               "c": _record({}, {"right lung": [0]}),
               "d": _record({"Cardiomegaly": [0]}, {"carina": [0]}),
               "e": _record({"Cardiomegaly": [2]}, {"cardiac silhouette": [2], "right lung": [0]})}
    r = region_map.score(items, records, _stating)
    pos, unc = r.recall("positive"), r.recall("uncertain")
    assert (pos["recalled"], pos["stated"], pos["items"]) == (1, 2, 4)
    assert pos["recall"] == 0.25 and pos["recall_when_stated"] == 0.5
    assert (unc["recalled"], unc["stated"], unc["items"]) == (1, 2, 2)
    assert [(m["report"], m["sentences"], m["their_regions"]) for m in r.misses] == [
        ("b", [0], []), ("c", [], []), ("d", [0], ["carina"]), ("f", [], [])]
    d = r.to_dict(errors=True)
    assert d["positive"]["per_observation"]["Edema"] == {"recall": 0.25, "recalled": 1, "stated": 2, "items": 4}


def test_homes_of_the_ontology():
    homes = load_ontology().home_regions
    assert {"right lung", "left lower lung zone", "right costophrenic angle", "left hilar structures"} <= homes["edema"]
    assert "right hemidiaphragm" in homes["pleural effusion"] and "right hemidiaphragm" not in homes["edema"]
    # the heart's home has no device landmarks (parts: false)
    assert homes["cardiomegaly"] == {"cardiac silhouette", "mediastinum", "upper mediastinum", "right atrium"}
    # a rib lies in its hemithorax: the lungs are a fracture's home besides the bones
    assert {"spine", "left clavicle", "left lung"} <= homes["fracture"]
    assert "tube" not in homes and "calcification" not in homes


def test_chexpert_observation_homes():
    onto = get_ontology(None)
    homes = region_map.observation_homes(label_set(onto, "chexpert"), onto)
    assert "Support Devices" not in homes and "No Finding" not in homes
    # the union of its findings' homes: a nodule's lungs, and a mass's lungs and mediastinum
    assert homes["Lung Lesion"] == onto.home_regions["nodule"] | onto.home_regions["mass"]
    assert "mediastinum" in homes["Lung Lesion"] and "mediastinum" not in onto.home_regions["nodule"]
    assert homes["Enlarged Cardiomediastinum"] == onto.home_regions["cardiomegaly"]


@pytest.mark.parametrize("block, problem", [
    ("homes:\n  - {id: x, groups: [no such group], findings: [edema]}\n", "unknown region group 'no such group'"),
    ("homes:\n  - {id: x, regions: [spine], findings: [edema]}\n", "finding 'edema' is also in home 'lungs'"),
    ("homes:\n  - {id: x, regions: [spine], findings: [no such finding]}\n", "unknown finding 'no such finding'"),
])
def test_bad_home_is_one_line(tmp_path: Path, block: str, problem: str):
    (tmp_path / "regions.yaml").write_text(block, encoding="utf-8")
    with pytest.raises(OntologyError) as exc:
        load_ontology(tmp_path)
    assert problem in str(exc.value) and "\n" not in str(exc.value)


def test_stating_sentences_of_a_parse(asg_nlp):
    onto = get_ontology(None)
    labeler = ReportLabeler(label_set(onto, "chexpert"))
    rec = next(asg_parse.parse_records([("r", "No pneumothorax. Mild pulmonary edema. Stable cardiomediastinal "
                                               "silhouette.")], nlp=asg_parse.load(spans=False,
                                                                                   convention="chexpert")))
    stated = labeler.stating_sentences(rec)
    assert stated["Edema"] == {1}
    assert "Pneumothorax" not in stated  # a negative statement states nothing
    assert stated["Enlarged Cardiomediastinum"] == {2}  # a region state (uncertain under chexpert)


def test_openi_items_and_stating_sentences():
    rep = openi.OpenIReport("u", "", [], {"edema", "support device", "calcification"}, False)
    items = openi.region_map_items([rep])
    assert [(i.observation, i.kind) for i in items] == [("edema", "positive")]  # the others have no home
    pred = {"triplets": [{"finding": "edema", "existence": "present", "region": None, "sentence": 2},
                         {"finding": "edema", "existence": "absent", "region": "right lung", "sentence": 0},
                         {"finding": "tube", "existence": "uncertain", "region": None, "sentence": 1}]}
    assert openi.stating_sentences(pred) == {"edema": {2}, "support device": {1}}
    r = region_map.score(items, {"u": {**pred, "region_sentences": {"right lung": [0], "left lung": [2]}}},
                         openi.stating_sentences, ("positive",))
    assert r.recall("positive")["recalled"] == 1
