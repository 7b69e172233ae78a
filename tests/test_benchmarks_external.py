"""The BioScope and Stanford CheXpert-label scorers on small hand-computed cases (our own sentences), and their
commands; the runs on the shared dev files skip when the data is not there."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from asg_parse.cli.app import app
from asg_parse.evaluation import bioscope, chexpert

CHEX_DATA = chexpert.DEFAULT_DATA
BIO_DATA = bioscope.DEFAULT_DATA


# ---------------------------------------------------------------- BioScope
def _sentence(text: str, cues=(), scopes=()) -> bioscope.Sentence:
    return bioscope.Sentence("d1", "Impression", "S1", text, list(cues), list(scopes))


def test_gold_existence_by_scope_containment():
    s = _sentence("No effusion. Possible pneumonia or atelectasis.",
                  cues=[{"type": "negation", "text": "No", "scope_id": "X1"},
                        {"type": "speculation", "text": "Possible", "scope_id": "X2"},
                        {"type": "speculation", "text": "or", "scope_id": "X3"}],
                  scopes=[{"id": "X1", "text": "No effusion"}, {"id": "X2", "text": "Possible pneumonia"},
                          {"id": "X3", "text": "pneumonia or atelectasis"}])
    text = s.text
    at = lambda w: (text.index(w), text.index(w) + len(w))  # noqa: E731
    assert bioscope.gold_existence(s, *at("effusion")) == "absent"
    assert bioscope.gold_existence(s, *at("pneumonia")) == "uncertain"  # "Possible" is not an alternative cue
    assert bioscope.gold_existence(s, *at("atelectasis")) == "alternative"
    assert bioscope.gold_existence(s, 0, 2) == "absent"
    lean = _sentence("Likely atelectasis.", cues=[{"type": "speculation", "text": "Likely", "scope_id": "X1"}],
                     scopes=[{"id": "X1", "text": "Likely atelectasis"}])
    assert bioscope.gold_existence(lean, 7, 18) == "leaning"
    assert bioscope.gold_existence(_sentence("Mild atelectasis."), 5, 16) == "present"


def test_exclusions_of_the_readme():
    s = _sentence("Interval resolution of the right lower lobe pneumonia.")
    assert bioscope.excluded(s, s.text.index("pneumonia"), "pneumonia") == "resolution before"
    assert bioscope.excluded(_sentence("Heart normal."), 0, "Heart normal") == "state word"
    assert bioscope.excluded(_sentence("Mild atelectasis."), 5, "atelectasis") is None


def test_negation_and_hedge_scores_hand_computed():
    gold = ["absent", "absent", "present", "uncertain", "leaning", "uncertain", "present"]
    pred = ["absent", "present", "absent", "uncertain", "uncertain", "present", "present"]
    neg = bioscope.negation_scores([g == "absent" for g in gold], [p == "absent" for p in pred])
    # absent: tp 1, fp 1, fn 1 -> P 0.5 R 0.5 F1 0.5; accuracy 5/7
    assert (neg["precision"], neg["recall"], neg["f1"]) == (0.5, 0.5, 0.5)
    assert neg["accuracy"] == pytest.approx(5 / 7)
    hedge = bioscope.hedge_scores(gold, pred)
    # the leaning gold is left out: 6 mentions; uncertain tp 1, fp 0, fn 1 -> P 1 R 0.5 F1 2/3; 3-way 3/6
    assert hedge["n"] == 6
    assert (hedge["precision"], hedge["recall"]) == (1.0, 0.5)
    assert hedge["f1"] == pytest.approx(2 / 3)
    assert hedge["accuracy3"] == pytest.approx(0.5)


def _bio_file(tmp_path: Path) -> Path:
    lines = [
        {"doc_id": "10", "part": "Impression", "sent_id": "S1", "text": "No pleural effusion.",
         "cues": [{"type": "negation", "text": "No", "scope_id": "X1"}],
         "scopes": [{"id": "X1", "text": "No pleural effusion"}], "topic": "chest-only"},
        {"doc_id": "10", "part": "Impression", "sent_id": "S2", "text": "Possible right lower lobe pneumonia.",
         "cues": [{"type": "speculation", "text": "Possible", "scope_id": "X2"}],
         "scopes": [{"id": "X2", "text": "Possible right lower lobe pneumonia"}], "topic": "chest-only"},
        {"doc_id": "10", "part": "History", "sent_id": "S3", "text": "Cough and fever.", "cues": [], "scopes": [],
         "topic": "chest-only"},
        {"doc_id": "11", "part": "Impression", "sent_id": "S4", "text": "Small kidney cyst.", "cues": [],
         "scopes": [], "topic": "renal-only"},
    ]
    path = tmp_path / "bio.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def test_documents_are_built_as_the_readme_says(tmp_path: Path):
    docs = bioscope.load_documents(_bio_file(tmp_path))
    assert [d.doc_id for d in docs] == ["10"]  # the renal-only document is left out
    text = docs[0].text
    assert text == "HISTORY: Cough and fever.\nIMPRESSION: No pleural effusion. Possible right lower lobe pneumonia."
    for s in docs[0].sentences:
        assert text[s.start:s.end] == s.text


def test_bioscope_command_scores_our_parser_and_negspacy(tmp_path: Path):
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["benchmark", "bioscope", "--data", str(_bio_file(tmp_path)), "--json", str(out)])
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    assert d["mentions"] == 2 and d["gold"] == {"absent": 1, "uncertain": 1}
    assert d["negation"]["f1"] == 1.0 and d["hedge"]["f1"] == 1.0
    assert d["negspacy_negation"]["f1"] == 1.0


def test_bioscope_command_bad_file_is_one_line(tmp_path: Path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"doc_id": "1"}\n', encoding="utf-8")
    res = CliRunner().invoke(app, ["benchmark", "bioscope", "--data", str(bad)])
    assert res.exit_code == 2
    assert "line 1: missing field(s)" in res.output


# ---------------------------------------------------------------- Stanford CheXpert labels
OBS = ["No Finding", "Cardiomegaly", "Edema", "Pleural Effusion"]


def test_f1_per_kind_hand_computed():
    reports = [chexpert.Report(str(i), "", {"Cardiomegaly": g}) for i, g in enumerate([1.0, 0.0, -1.0, None, 1.0])]
    pred = {str(i): {"Cardiomegaly": p} for i, p in enumerate([1.0, -1.0, -1.0, 0.0, None])}
    r = chexpert.score(reports, pred, ["No Finding", "Cardiomegaly"])
    per = r.per["Cardiomegaly"]
    # mention: gold non-blank {0,1,2,4}, pred non-blank {0,1,2,3}: tp 3 fp 1 fn 1 -> F1 0.75
    assert per["mention"]["f1"] == pytest.approx(0.75)
    # negation: gold 0 {1}, pred 0 {3}: tp 0 -> F1 0
    assert per["negation"]["f1"] == 0.0
    # uncertain: gold -1 {2}, pred -1 {1,2}: tp 1 fp 1 -> P 0.5 R 1 F1 2/3
    assert per["uncertain"]["f1"] == pytest.approx(2 / 3)
    # positive: gold 1 {0,4}, pred 1 {0}: P 1 R 0.5 -> F1 2/3
    assert per["positive"]["f1"] == pytest.approx(2 / 3)
    assert set(r.per["No Finding"]) == {"positive"}
    # macro over observations with gold cases: here only Cardiomegaly
    assert r.macro("uncertain")["f1"] == pytest.approx(2 / 3)


def test_macro_skips_observations_without_gold_cases():
    reports = [chexpert.Report("1", "", {"Edema": 1.0, "Cardiomegaly": 0.0}),
               chexpert.Report("2", "", {"Edema": 0.0, "Cardiomegaly": None})]
    pred = {"1": {"Edema": 1.0, "Cardiomegaly": 0.0}, "2": {"Edema": None, "Cardiomegaly": None}}
    r = chexpert.score(reports, pred, ["No Finding", "Cardiomegaly", "Edema"])
    # positive: only Edema has a gold 1 (F1 1.0); Cardiomegaly has none and is not averaged
    assert r.macro("positive") == {"f1": 1.0, "observations": ["Edema"]}
    # negation: Cardiomegaly 1.0, Edema 0.0 -> 0.5
    assert r.macro("negation")["f1"] == pytest.approx(0.5)


def test_course_positive_averages_the_observations_and_pools_them():
    reports = [chexpert.Report("1", "", {"Edema": 1.0, "Support Devices": 1.0, "Pleural Effusion": -1.0}),
               chexpert.Report("2", "", {"Edema": 1.0, "Pleural Effusion": 1.0})]
    pred = {"1": {"Edema": 1.0, "Support Devices": None, "Pleural Effusion": 1.0},
            "2": {"Edema": 1.0, "Pleural Effusion": 1.0}}
    r = chexpert.score(reports, pred, ["Edema", "Support Devices", "Pleural Effusion"])
    cp = r.course_positive()  # Support Devices is not scored; the -1 gold counts as not positive
    assert cp["per_observation"] == {"Edema": 1.0, "Pleural Effusion": pytest.approx(2 / 3)}
    assert cp["f1"] == pytest.approx((1 + 2 / 3) / 2)  # the course's mean over observations
    pooled = cp["pooled"]
    assert (pooled["tp"], pooled["fp"], pooled["fn"]) == (3, 1, 0) and pooled["f1"] == pytest.approx(6 / 7)


def _chex_file(tmp_path: Path) -> Path:
    cols = ["SimpleTestReportID", "Report Impression", "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly",
            "Lung Lesion", "Airspace Opacity", "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax",
            "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices"]
    rows = [["1.0", "1. No pneumothorax. 2. Probable small left pleural effusion.", *[""] * 9, "0.0", "-1.0", "", "",
             ""],
            ["2.0", "Mild cardiomegaly. No edema.", "", "", "1.0", "", "", "0.0", *[""] * 8]]
    path = tmp_path / "chex.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        w.writerows(rows)
    return path


def test_chexpert_command_scores_our_labels(tmp_path: Path):
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["benchmark", "chexpert", "--data", str(_chex_file(tmp_path)), "--json", str(out)])
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    per = d["per_observation"]
    assert per["Pleural Effusion"]["uncertain"]["f1"] == 1.0  # "probable" is uncertain under chexpert
    assert per["Pneumothorax"]["negation"]["f1"] == 1.0
    assert per["Cardiomegaly"]["positive"]["f1"] == 1.0 and per["Edema"]["negation"]["f1"] == 1.0
    # the effusion's sentence maps to the left angle, the cardiomegaly's to the heart; the negative edema is no item
    rm = d["region_map_recall"]
    assert (rm["positive"]["recalled"], rm["positive"]["items"]) == (1, 1)
    assert (rm["uncertain"]["recalled"], rm["uncertain"]["items"]) == (1, 1)
    assert "Region-map recall" in res.output


def test_chexpert_command_scores_a_label_csv(tmp_path: Path):
    data = _chex_file(tmp_path)
    pred = tmp_path / "pred.csv"
    with data.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    with pred.open("w", newline="", encoding="utf-8") as fh:  # the labeler layout: no id, rows in data order
        w = csv.writer(fh)
        w.writerow(["Reports", *["Lung Opacity" if c == "Airspace Opacity" else c for c in rows[0][2:]]])
        for r in rows[1:]:
            w.writerow([r[1], *r[2:]])
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["benchmark", "chexpert", "--data", str(data), "--pred", str(pred),
                                   "--json", str(out)])
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    assert d["macro"]["mention"]["f1"] == 1.0 and d["course_positive_11"]["f1"] == 1.0
    assert "region_map_recall" not in d  # a label CSV has no region map


def test_chexpert_bad_label_is_one_line(tmp_path: Path):
    data = _chex_file(tmp_path)
    text = data.read_text(encoding="utf-8").replace("-1.0", "maybe")
    data.write_text(text, encoding="utf-8")
    res = CliRunner().invoke(app, ["benchmark", "chexpert", "--data", str(data)])
    assert res.exit_code == 2
    assert "row 2, column 'Pleural Effusion': label 'maybe'" in res.output


def test_chexpert_csv_with_a_bom_or_a_bad_byte(tmp_path: Path):
    data = _chex_file(tmp_path)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + data.read_bytes())  # as spreadsheet programs save it
    res = CliRunner().invoke(app, ["benchmark", "chexpert", "--data", str(bom)])
    assert res.exit_code == 0, res.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes(data.read_bytes().replace(b"Mild", b"M\xefld"))
    res = CliRunner().invoke(app, ["benchmark", "chexpert", "--data", str(bad)])
    assert res.exit_code == 2 and "bad.csv: line 3: not valid UTF-8" in " ".join(res.output.split())


def test_predictions_that_match_no_report_are_refused(tmp_path: Path):
    """A --pred file none of whose records is a benchmark report is an error, not a table of zeros."""
    pred = tmp_path / "other.jsonl"
    pred.write_text(json.dumps({"id": "not-a-report", "triplets": []}) + "\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["benchmark", "chexpert", "--data", str(_chex_file(tmp_path)), "--pred", str(pred)])
    assert res.exit_code == 2
    assert "other.jsonl: none of its 1 record(s) is a report of the benchmark" in " ".join(res.output.split())
    res = CliRunner().invoke(app, ["benchmark", "bioscope", "--data", str(_bio_file(tmp_path)),
                                   "--pred", str(tmp_path / "missing.jsonl")])
    assert res.exit_code == 2 and "missing.jsonl: cannot read file" in " ".join(res.output.split())


def test_an_output_that_cannot_be_written_is_refused_before_the_work(tmp_path: Path):
    res = CliRunner().invoke(app, ["benchmark", "bioscope", "--data", str(_bio_file(tmp_path)), "--json",
                                   str(tmp_path)])
    assert res.exit_code == 2 and "is a folder; give a file name" in res.output
    res = CliRunner().invoke(app, ["benchmark", "chexpert", "--data", str(_chex_file(tmp_path)), "--json",
                                   str(tmp_path / "no" / "r.json")])
    assert res.exit_code == 2 and "does not exist" in res.output


# ---------------------------------------------------------------- the shared dev files
@pytest.mark.skipif(not BIO_DATA.is_file(), reason="BioScope dev file not present")
def test_bioscope_dev_counts_match_the_readme():
    docs = bioscope.load_documents(BIO_DATA)
    assert len(docs) == 493


def _course_average(gold_rows: list[dict[str, str]], pred_rows: list[dict[str, str]], columns: list[str]) -> float:
    """The course material's figure, computed apart from our scorer: per column, F1 of "1" against everything else
    (0 when undefined), each rounded to 3 places, then their mean."""
    f1s = []
    for col in columns:
        gold = [float(r[col] or "nan") == 1.0 for r in gold_rows]
        pred = [float(r[col] or "nan") == 1.0 for r in pred_rows]
        tp = sum(g and p for g, p in zip(gold, pred))
        denominator = sum(gold) + sum(pred)
        f1s.append(round(2 * tp / denominator if denominator else 0.0, 3))
    return sum(f1s) / len(f1s)


@pytest.mark.skipif(not CHEX_DATA.is_file(), reason="Stanford dev file not present")
def test_course_figure_agrees_with_the_course_scorer(tmp_path: Path):
    """On the same input our scorer and the course's agree within 0.005 (a keyword labeler's CSV as the input)."""
    with CHEX_DATA.open(newline="", encoding="utf-8") as fh:
        gold_rows = list(csv.DictReader(fh))
    columns = [c for c in gold_rows[0]
               if c not in ("SimpleTestReportID", "Report Impression", *chexpert.COURSE_EXCLUDED)]
    assert len(columns) == 11
    words = {c: c.split()[-1].lower()[:6] for c in columns}  # "effusi", "pneumo", "edema", ...
    pred_rows = [{"SimpleTestReportID": r["SimpleTestReportID"], **{c: "" for c in chexpert.COURSE_EXCLUDED},
                  **{c: "1.0" if words[c] in r["Report Impression"].lower() else "" for c in columns}}
                 for r in gold_rows]
    pred = tmp_path / "keyword.csv"
    with pred.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(pred_rows[0]))
        w.writeheader()
        w.writerows(pred_rows)
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["benchmark", "chexpert", "--pred", str(pred), "--json", str(out)])
    assert res.exit_code == 0, res.output
    ours = json.loads(out.read_text())["course_positive_11"]
    theirs = _course_average(gold_rows, pred_rows, columns)
    assert abs(ours["f1"] - theirs) <= 0.005
    assert abs(ours["pooled"]["f1"] - theirs) > 0.005  # the pooled figure is another number
