"""Report-level label CSVs (`--labels chexpert` / `--labels asg`) against hand-computed rows (our own reports)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from anatomy_ontology import LabelSet, OntologyError, load_ontology
from asg_parse.cli.app import app
from asg_parse.labels import ReportLabeler, label_set
from asg_parse.pipeline.resources import get_ontology

CHEXPERT_COLUMNS = ["No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Lesion", "Lung Opacity",
                    "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
                    "Pleural Other", "Fracture", "Support Devices"]
REPORTS = [
    "No pneumothorax. Probable small left pleural effusion. Endotracheal tube in good position.",
    "No pleural effusion or pneumothorax. Heart size is normal.",
    "Right lower lobe atelectasis versus pneumonia. Pacemaker in place.",
    "Mild cardiomegaly. No new consolidation.",
]
# hand-computed under the chexpert convention: positive > uncertain > negative; No Finding 1.0 only when nothing but
# Support Devices is positive or uncertain
EXPECTED = [
    {"Pneumothorax": "0.0", "Pleural Effusion": "-1.0", "Support Devices": "1.0"},
    {"No Finding": "1.0", "Cardiomegaly": "0.0", "Pneumothorax": "0.0", "Pleural Effusion": "0.0"},
    {"Atelectasis": "-1.0", "Pneumonia": "-1.0", "Support Devices": "1.0"},
    {"Cardiomegaly": "1.0", "Consolidation": "-1.0"},
]


@pytest.fixture(autouse=True)
def _pipelines_once(cli_pipeline):
    """Build each default pipeline once per session."""


def _input(tmp_path: Path) -> Path:
    path = tmp_path / "reports.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "report"])
        w.writerows([[f"r{i}", t] for i, t in enumerate(REPORTS)])
    return path


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_chexpert_labels_csv(tmp_path: Path, workers: str):
    out = tmp_path / "labels.csv"
    res = CliRunner().invoke(app, [str(_input(tmp_path)), "-o", str(out), "--labels", "chexpert", "-w", workers])
    assert res.exit_code == 0, res.output
    header, rows = _rows(out)
    assert header == ["Reports", *CHEXPERT_COLUMNS]
    assert [r["Reports"] for r in rows] == REPORTS
    for row, expected in zip(rows, EXPECTED):
        assert {c: row[c] for c in CHEXPERT_COLUMNS if row[c]} == expected, row["Reports"]


def test_labels_follow_the_convention_option(tmp_path: Path):
    out = tmp_path / "labels.csv"
    res = CliRunner().invoke(app, [str(_input(tmp_path)), "-o", str(out), "--labels", "chexpert",
                                   "--convention", "asg", "-w", "1"])
    assert res.exit_code == 0, res.output
    _, rows = _rows(out)
    assert rows[0]["Pleural Effusion"] == "1.0"  # "probable" is present under asg
    assert rows[3]["Consolidation"] == "0.0"  # "no new" is a negation under asg


def test_asg_labels_csv(tmp_path: Path):
    out = tmp_path / "tags.csv"
    res = CliRunner().invoke(app, [str(_input(tmp_path)), "-o", str(out), "--labels", "asg", "-w", "1"])
    assert res.exit_code == 0, res.output
    header, rows = _rows(out)
    tags = get_ontology(None).asg_tags
    assert header == ["Reports", *tags] and len(tags) == 40
    assert {t: rows[3][t] for t in tags if rows[3][t]} == {"cardiomegaly": "1.0", "consolidation": "0.0"}


def test_unknown_label_set_is_one_line(tmp_path: Path):
    res = CliRunner().invoke(app, [str(_input(tmp_path)), "-o", str(tmp_path / "x.csv"), "--labels", "mimic"])
    assert res.exit_code == 2
    assert "unknown label set 'mimic' (known: asg, chexpert)" in res.output
    res = CliRunner().invoke(app, [str(_input(tmp_path)), "-o", str(tmp_path / "x.jsonl"), "--labels", "asg"])
    assert res.exit_code == 2 and "--labels writes a CSV, not JSON" in res.output
    assert not (tmp_path / "x.jsonl").exists()
    res = CliRunner().invoke(app, [str(_input(tmp_path)), "-o", str(tmp_path / "x.csv")])  # records, no --labels
    assert res.exit_code == 2 and "the records are JSON Lines, not a table" in res.output


def test_region_states_and_skip_words():
    onto = get_ontology(None)
    labeler = ReportLabeler(label_set(onto, "chexpert"))
    record = {"triplets": [{"finding": "cardiomegaly", "existence": "absent", "text": "normal cardiomediastinal "
                            "silhouette"}],
              "sentences": [{"text": "Stable cardiomediastinal silhouette."}],
              "region_sentences": {"mediastinum": [0], "cardiac silhouette": [0]}}
    values = labeler.values(record)
    assert values["Enlarged Cardiomediastinum"] == -1.0  # a stable silhouette is uncertain for the mediastinum
    assert values["Cardiomegaly"] is None  # a cardiomediastinal mention is not the heart's
    assert values["No Finding"] is None


def test_no_finding_ignores_support_devices():
    labeler = ReportLabeler(label_set(get_ontology(None), "chexpert"))
    values = labeler.values({"triplets": [{"finding": "tube", "existence": "present", "text": "tube"},
                                          {"finding": "pneumothorax", "existence": "absent", "text": "pneumothorax"}]})
    assert values["No Finding"] == 1.0 and values["Support Devices"] == 1.0 and values["Pneumothorax"] == 0.0


def test_label_set_with_unknown_finding_is_an_ontology_error(tmp_path: Path):
    (tmp_path / "labels.yaml").write_text(
        "label_sets:\n  - id: mine\n    description: x\n    observations: [{name: A, findings: [dragon]}]\n",
        encoding="utf-8")
    with pytest.raises(OntologyError, match="observation 'A': unknown finding 'dragon'"):
        load_ontology(tmp_path)


def test_duplicate_observation_rejected():
    with pytest.raises(ValueError, match="listed twice"):
        LabelSet(id="x", description="x", observations=[{"name": "A"}, {"name": "A"}])


def test_cardiac_silhouette_conventions():
    labeler = ReportLabeler(label_set(get_ontology(None), "chexpert"))
    normal = labeler.values({"triplets": [{"finding": "cardiomegaly", "existence": "absent", "sentence": 0,
                                           "text": "cardiac silhouette is within normal limits"}],
                             "sentences": [{"text": "The cardiac silhouette is within normal limits."}],
                             "region_sentences": {"cardiac silhouette": [0]}})
    # a normal cardiac silhouette is negative for both (only an absent mention counts for the mediastinum)
    assert (normal["Cardiomegaly"], normal["Enlarged Cardiomediastinum"]) == (0.0, 0.0)
    enlarged = labeler.values({"triplets": [{"finding": "cardiomegaly", "existence": "present", "sentence": 0,
                                             "text": "enlarged cardiac silhouette"}]})
    assert (enlarged["Cardiomegaly"], enlarged["Enlarged Cardiomediastinum"]) == (1.0, None)
    similar = {"triplets": [], "sentences": [{"text": "Heart size unchanged from the previous study."}],
               "region_sentences": {"cardiac silhouette": [0]}}
    assert labeler.values(similar)["Cardiomegaly"] == -1.0
    chest = {"triplets": [], "sentences": [{"text": "The chest looks stable since yesterday."}],
             "region_sentences": {"cardiac silhouette": [0]}}
    assert labeler.values(chest)["Cardiomegaly"] is None  # the sentence does not name the heart


def test_hedged_findings_count_as_uncertain_at_most():
    labeler = ReportLabeler(label_set(get_ontology(None), "chexpert"))
    sign = {"triplets": [{"finding": "congestion", "existence": "present", "text": "vascular congestion"}]}
    assert labeler.values(sign)["Edema"] == -1.0  # a sign of edema, not edema
    both = {"triplets": [*sign["triplets"], {"finding": "edema", "existence": "present", "text": "edema"}]}
    assert labeler.values(both)["Edema"] == 1.0
    none = {"triplets": [{"finding": "congestion", "existence": "absent", "text": "congestion"}]}
    assert labeler.values(none)["Edema"] == 0.0


@pytest.fixture(scope="module")
def chexpert_parse():
    """(labels of a report text) under the chexpert label set and convention."""
    import asg_parse

    nlp = asg_parse.load(spans=False, convention="chexpert")
    labeler = ReportLabeler(label_set(get_ontology(None), "chexpert"))
    return lambda text: labeler.values(asg_parse.parse(text, nlp=nlp))


# a stable state is uncertain for the mediastinum only when it is said of the silhouette or contour; an enlargement
# the sentence states stays positive however stable
SILHOUETTE_STATES = [
    ("Stable cardiomediastinal silhouette.", "Enlarged Cardiomediastinum", -1.0),
    ("The mediastinal contours are unchanged.", "Enlarged Cardiomediastinum", -1.0),
    ("Mediastinal drain in stable position.", "Enlarged Cardiomediastinum", None),
    ("Dilated esophagus, unchanged from before.", "Enlarged Cardiomediastinum", None),
    ("Mediastinal shift to the right, stable.", "Enlarged Cardiomediastinum", None),
    ("The heart is enlarged, stable since last week.", "Cardiomegaly", 1.0),
    ("The heart is enlarged, stable since last week.", "Enlarged Cardiomediastinum", None),
    ("Cardiac silhouette unchanged from the prior film.", "Cardiomegaly", -1.0),
]


@pytest.mark.parametrize("text,column,expected", SILHOUETTE_STATES,
                         ids=[f"{c[0][:40]}-{c[1]}" for c in SILHOUETTE_STATES])
def test_silhouette_states(chexpert_parse, text, column, expected):
    assert chexpert_parse(text)[column] == expected


# a lesion of a bone is not a lung lesion; a callus is a (healing) fracture
LABEL_CLASSES = [
    ("Lytic lesion in the left humeral head.", "Lung Lesion", None),
    ("Small bony lesion of the right scapula, likely benign.", "Lung Lesion", None),
    ("Spiculated lesion in the right upper lobe.", "Lung Lesion", 1.0),
    ("Callus formation along the left seventh rib.", "Fracture", 1.0),
    ("Bulge of the right sixth rib which could be a healing injury with callus.", "Fracture", -1.0),
    # an infectious consolidation and an aspiration pneumonia are pneumonias; a plain aspiration is not
    ("Retrocardiac opacity, perhaps atelectasis or infectious consolidation.", "Pneumonia", -1.0),
    ("Right lower lobe infectious consolidation.", "Consolidation", 1.0),
    ("Right lower lobe infectious consolidation.", "Pneumonia", 1.0),
    ("Findings may represent aspiration pneumonia.", "Pneumonia", -1.0),
    ("Findings may represent aspiration.", "Pneumonia", None),
]


@pytest.mark.parametrize("text,column,expected", LABEL_CLASSES, ids=[f"{c[0][:40]}-{c[1]}" for c in LABEL_CLASSES])
def test_label_classes(chexpert_parse, text, column, expected):
    assert chexpert_parse(text)[column] == expected


# hard-wrapped reports (a line break inside a form) read like unwrapped ones
WRAPPED = [
    ("Right paratracheal widening could be due to pleural\nthickening or nodes.", "Pleural Other", -1.0),
    ("Small left effusion versus pleural \nthickening at the posterior angle.", "Pleural Other", -1.0),
    ("Heart size at the upper limits of\nnormal.", "Cardiomegaly", 0.0),
]


@pytest.mark.parametrize("text,column,expected", WRAPPED, ids=[c[0][:40] for c in WRAPPED])
def test_wrapped_forms(chexpert_parse, text, column, expected):
    assert chexpert_parse(text)[column] == expected
    assert chexpert_parse(" ".join(text.split()))[column] == expected
