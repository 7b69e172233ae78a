"""OpenI benchmark rules on a small invented CSV: MeSH mapping, skip rules, scores, region recall."""
import csv
from pathlib import Path

import pytest

from asg_parse.evaluation import openi
from asg_parse.schema import ParsedReport

COLUMNS = ["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression"]


def write_csv(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """rows: (uid, MeSH, findings, impression); other columns get filler."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for uid, mesh, findings, impression in rows:
            w.writerow([uid, mesh, "", "PA view", "cough", "", findings, impression])
    return path


@pytest.mark.parametrize("code,expected", [
    ("Cardiomegaly/borderline", ["cardiomegaly"]),
    ("Cardiac Shadow/enlarged/mild", ["cardiomegaly"]),
    ("Cardiac Shadow/obscured", []),
    ("Lung/hyperdistention/mild", ["hyperinflate"]),
    ("Lung/base/right/hypoinflation", ["hypoinflation"]),
    ("Lung/azygos lobe", []),
    ("Thickening/pleura/apex/left", ["pleural thicken"]),
    ("Thickening/lung/base/bilateral/interstitial", []),
    ("Costophrenic Angle/left/blunted", ["blunt"]),
    ("Costophrenic Angle/obscured", []),
    ("Aorta, Thoracic/tortuous/mild", ["tortuous aorta"]),
    ("Aorta/enlarged", []),
    ("Thoracic vertebrae/degenerative/mild", ["degenerative change"]),
    ("Spine/degenerative", ["degenerative change"]),
    ("Spine/scoliosis", []),
    ("Osteophyte/thoracic vertebrae/multiple", ["degenerative change"]),
    ("Hydropneumothorax/right", ["pneumothorax"]),
    ("Surgical Instruments/chest", ["support device"]),
    ("Catheters, Indwelling/right", ["support device"]),
    ("Density/lung/base/left", ["opacity"]),
    ("Calcified Granuloma/lung/upper lobe/right", ["granuloma"]),
    ("Calcinosis/aorta", ["calcification"]),
    ("Hernia, Hiatal", ["hernia"]),
    ("Pulmonary Disease, Chronic Obstructive", []),
    ("normal", []),
])
def test_mesh_code_mapping(code, expected):
    assert openi.code_categories(code) == expected


def test_every_category_and_predicting_id_is_an_ontology_finding():
    from anatomy_ontology import load_ontology

    findings = set(load_ontology().findings)
    assert set(openi.CATEGORIES) <= findings
    assert set(openi.PREDICTING_FINDINGS["support device"]) <= findings
    assert len(openi.CATEGORIES) == 29


def test_build_text_keeps_present_sections_only():
    assert openi.build_text("Heart normal.", "No acute disease.") == "FINDINGS: Heart normal.\nIMPRESSION: No acute disease."
    assert openi.build_text("", "Clear lungs.") == "IMPRESSION: Clear lungs."
    assert openi.build_text("Clear lungs.", "   ") == "FINDINGS: Clear lungs."
    assert openi.build_text(" ", "") == ""


def test_skip_rules(tmp_path):
    path = write_csv(tmp_path / "o.csv", [
        ("1", "normal", "", ""),                                             # no text
        ("2", "No Indexing", "Lungs clear.", ""),                           # only No Indexing
        ("3", "Technical Quality of Image Unsatisfactory ", "Poor film.", ""),  # only TQ (trailing space)
        ("4", "Technical Quality of Image Unsatisfactory ;Cardiomegaly", "Big heart.", ""),  # kept
        ("5", "normal", "", "Nothing acute."),                             # kept
    ])
    reports, skipped = openi.load_reports(path)
    assert [r.uid for r in reports] == ["4", "5"]
    assert sum(skipped.values()) == 3
    assert reports[0].categories == {"cardiomegaly"} and not reports[0].normal
    assert reports[1].normal
    assert openi.openi_items(path) == [("4", "FINDINGS: Big heart."), ("5", "IMPRESSION: Nothing acute.")]


def _item(code: str, category: str):
    return openi.region_item("u", openi.MeshCode.parse(code), category)


def test_region_items_follow_the_qualifier_table():
    it = _item("Opacity/lung/base/left/mild", "opacity")
    assert it.accepted == {"left lower lung zone", "left costophrenic angle"} and it.side == "left"
    it = _item("Nodule/lung/upper lobe", "nodule")  # no side: both
    assert it.accepted == {"right upper lung zone", "right apical zone", "left upper lung zone", "left apical zone"}
    assert it.side is None
    it = _item("Opacity/lung/base/bilateral", "opacity")
    assert it.accepted == {"right lower lung zone", "right costophrenic angle", "left lower lung zone",
                           "left costophrenic angle"}
    assert _item("Pulmonary Atelectasis/middle lobe/right", "atelectasis").accepted == {
        "right mid lung zone", "right lower lung zone"}
    assert _item("Pulmonary Atelectasis/lingula", "atelectasis").accepted == {"left mid lung zone",
                                                                            "left lower lung zone"}
    assert _item("Density/lung/retrocardiac", "opacity").accepted == {"left lower lung zone", "cardiac silhouette"}
    assert _item("Pneumothorax/apex/right", "pneumothorax").accepted == {"right apical zone", "right upper lung zone"}
    assert _item("Calcinosis/lung/hilum/lymph nodes/right", "calcification").accepted == {"right hilar structures"}
    assert _item("Pleural Effusion/costophrenic angle/left", "pleural effusion").accepted == {
        "left costophrenic angle"}
    # two zones: either is accepted
    assert _item("Opacity/lung/upper lobe/hilum/left", "opacity").accepted == {
        "left upper lung zone", "left apical zone", "left hilar structures"}


def test_region_items_special_cases():
    it = _item("Pleural Effusion/right/small", "pleural effusion")
    assert it.accepted == {"right costophrenic angle", "right lung", "right lower lung zone", "right hemidiaphragm"}
    assert _item("Pleural Effusion/bilateral/small", "pleural effusion") is None  # no one side, no zone
    it = _item("Opacity/lung/left", "opacity")
    assert "left lung" in it.accepted and "left upper lung zone" in it.accepted
    assert all(r.startswith("left") for r in it.accepted) and "left hemidiaphragm" not in it.accepted
    assert _item("Opacity/left", "opacity") is None  # a side without zone or lung
    assert _item("Calcinosis/aorta", "calcification") is None


def _pred(*triplets):
    return {"triplets": [{"finding": f, "existence": e, "region": r} for f, e, r in triplets]}


@pytest.fixture()
def scored(tmp_path):
    rows = [(str(i), "Cardiomegaly", "The heart is big.", "") for i in range(1, 11)]
    rows += [
        ("11", "Pleural Effusion/right", "Fluid at one base.", ""),
        ("12", "Pleural Effusion/base/left", "Fluid at the other base.", ""),
        ("13", "normal", "Clear.", ""),
        ("14", "normal", "Clear.", ""),
        ("15", "normal", "Clear.", ""),
        ("16", "Opacity/lung/upper lobe/right", "Hazy apex.", ""),
        ("17", "Diaphragm/right/elevated", "High diaphragm.", ""),
    ]
    path = write_csv(tmp_path / "o.csv", rows)
    preds = {str(i): _pred(("cardiomegaly", "present", "cardiac silhouette")) for i in range(1, 9)}
    preds["9"] = preds["10"] = _pred()
    preds["11"] = _pred(("pleural effusion", "present", "left costophrenic angle"))
    preds["12"] = _pred()
    preds["13"] = _pred(("cardiomegaly", "present", "cardiac silhouette"))
    preds["14"] = _pred(("cardiomegaly", "absent", "cardiac silhouette"))
    # 15: no prediction at all
    preds["16"] = _pred(("opacity", "present", "right apical zone"), ("opacity", "uncertain", "left lung"))
    preds["17"] = _pred(("tube", "present", None))
    return openi.score_openi(path, preds)


def test_micro_and_macro(scored):
    cats = scored.categories
    assert (cats["cardiomegaly"].tp, cats["cardiomegaly"].fp, cats["cardiomegaly"].fn) == (8, 1, 2)
    assert (cats["pleural effusion"].tp, cats["pleural effusion"].fn) == (1, 1)
    assert cats["support device"].fp == 1 and cats["opacity"].tp == 1
    assert (scored.micro["tp"], scored.micro["fp"], scored.micro["fn"]) == (10, 2, 3)
    assert scored.micro["precision"] == pytest.approx(10 / 12)
    assert scored.micro["recall"] == pytest.approx(10 / 13)
    assert scored.micro["f1"] == pytest.approx(0.8)
    # only cardiomegaly has >= 10 gold reports
    assert scored.macro["categories"] == ["cardiomegaly"]
    assert scored.macro["f1"] == pytest.approx(16 / 19)
    assert scored.missing_predictions == ["15"]


def test_abnormal_and_specificity(scored):
    ab = scored.abnormal
    assert ab["n"] == 16  # report 17 has neither `normal` nor a mapped code
    assert (ab["tp"], ab["fp"], ab["fn"]) == (10, 1, 3)
    assert ab["f1"] == pytest.approx(20 / 24)
    assert scored.normal_specificity == {"value": pytest.approx(2 / 3), "tn": 2, "n": 3}


def test_region_recall_and_wrong_side(scored):
    rg = scored.region
    assert (rg["items"], rg["localized"], rg["wrong_side"], rg["detected"]) == (3, 1, 1, 2)
    assert rg["recall"] == pytest.approx(1 / 3)
    wrong = [m for m in scored.region_misses if m["wrong_side"]]
    assert [m["uid"] for m in wrong] == ["11"]


def test_parsed_report_objects_score_like_dicts(tmp_path):
    path = write_csv(tmp_path / "o.csv", [("7", "Pneumothorax/apex/left", "Air at the left apex.", "")])
    rep = ParsedReport.model_validate({"id": "7", "triplets": [
        {"region": "left apical zone", "finding": "pneumothorax", "existence": "present", "sentence": 0,
         "start": 10, "end": 13, "text": "Air"}]})
    res = openi.score_openi(path, {"7": rep})
    assert res.micro["f1"] == 1.0 and res.region["localized"] == 1


def test_support_device_is_predicted_by_any_device_id(tmp_path):
    path = write_csv(tmp_path / "o.csv", [("1", "Medical Device/chest", "A port.", ""),
                                          ("2", "Stents", "A stent.", "")])
    res = openi.score_openi(path, {"1": _pred(("line", "present", None)), "2": _pred(("stent", "uncertain", None))})
    s = res.categories["support device"]
    assert (s.tp, s.fn) == (1, 1)


def test_missing_csv_is_a_clear_error(tmp_path):
    with pytest.raises(openi.OpenIError, match="not found"):
        openi.load_reports(tmp_path / "nope.csv")


def test_wrong_side_needs_the_opposite_side_only(tmp_path):
    path = write_csv(tmp_path / "o.csv", [("1", "Opacity/lung/base/left", "Hazy left base.", ""),
                                          ("2", "Opacity/lung/base/left", "Hazy left base.", ""),
                                          ("3", "Opacity/lung/base/left", "Hazy left base.", "")])
    res = openi.score_openi(path, {
        "1": _pred(("opacity", "present", "right lower lung zone")),                     # wrong side
        "2": _pred(("opacity", "present", "right lung"), ("opacity", "present", "left lung")),  # both: not wrong
        "3": _pred(("opacity", "present", "left costophrenic angle")),                    # localized
    })
    assert (res.region["items"], res.region["localized"], res.region["wrong_side"]) == (3, 1, 1)


def test_region_map_recall_of_the_categories(tmp_path):
    path = write_csv(tmp_path / "o.csv", [("1", "Pulmonary Edema", "Mild edema.", ""),
                                          ("2", "Pulmonary Edema;Medical Device", "A port. Mild edema.", ""),
                                          ("3", "Cardiomegaly", "Big heart.", "")])

    def pred(finding, region, sentence, rmap):
        trip = [] if finding is None else [{"finding": finding, "existence": "present", "region": region,
                                            "sentence": sentence}]
        return {"triplets": trip, "region_sentences": rmap}

    preds = {"1": pred("edema", "right lung", 0, {"right lung": [0]}),  # stated in 0, mapped: recalled
             "2": pred("edema", None, 1, {"right lung": [0]}),  # stated in 1, which the map leaves out
             "3": pred(None, None, 0, {"cardiac silhouette": [0]})}  # never stated
    res = openi.score_openi(path, preds)
    rm = res.region_map.recall("positive")
    # the device category has no home: three items
    assert (rm["recalled"], rm["stated"], rm["items"]) == (1, 2, 3)
    assert res.to_dict()["region_map_recall"]["positive"]["recall"] == pytest.approx(1 / 3)
