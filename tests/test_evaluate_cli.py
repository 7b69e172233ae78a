"""`evaluate` and `benchmark openi` through typer's CliRunner on a fresh app; bad inputs never crash."""
import csv
import hashlib
import json

import typer
from typer.testing import CliRunner

from asg_parse.cli import benchmark, evaluate as eval_cli
from asg_parse.evaluation import scoring as evaluate

TEXT = "Mild cardiomegaly. No pneumothorax. Low lung volumes."


def _t(region, finding, existence, phrase, sentence):
    s = TEXT.index(phrase)
    return {"region": region, "finding": finding, "existence": existence, "sentence": sentence, "start": s,
            "end": s + len(phrase), "text": phrase, "cue": None}


SENTS = [{"text": p, "start": TEXT.index(p), "end": TEXT.index(p) + len(p), "section": "findings"}
         for p in ("Mild cardiomegaly.", "No pneumothorax.", "Low lung volumes.")]
GOLD = {"id": "r1", "text": TEXT, "sentences": SENTS,
        "triplets": [_t("cardiac silhouette", "cardiomegaly", "present", "cardiomegaly", 0),
                     _t("right lung", "pneumothorax", "absent", "pneumothorax", 1),
                     _t("left lung", "pneumothorax", "absent", "pneumothorax", 1)],
        "region_sentences": {"cardiac silhouette": [0], "right lung": [1, 2], "left lung": [1, 2]},
        "tags": {"cardiomegaly": 1, "pneumothorax": 0}}
PRED = {"id": "r1", "sentences": SENTS,
        "triplets": [_t("cardiac silhouette", "cardiomegaly", "uncertain", "cardiomegaly", 0),
                     _t("right lung", "pneumothorax", "absent", "pneumothorax", 1),
                     _t("left lung", "pneumothorax", "absent", "pneumothorax", 1),
                     _t(None, "opacity", "present", "Low", 2)],
        "region_sentences": {"cardiac silhouette": [0], "right lung": [1], "left lung": [1]},
        "tags": {"cardiomegaly": -1, "pneumothorax": 0, "opacity": 1}}

runner = CliRunner()


def make_app() -> typer.Typer:
    app = typer.Typer()
    eval_cli.register(app)
    benchmark.register(app)
    return app


def write_jsonl(path, records, extra_lines=()):
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
        for line in extra_lines:
            fh.write(line + "\n")
    return path


def test_evaluate_clean_run_with_json(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    pred = write_jsonl(tmp_path / "pred.jsonl", [PRED])
    out = tmp_path / "m.json"
    res = runner.invoke(make_app(), ["evaluate", "--gold", str(gold), "--pred", str(pred), "--json", str(out),
                                     "--errors", "1"])
    assert res.exit_code == 0, res.output
    assert "triplet" in res.output and "report r1" in res.output
    data = json.loads(out.read_text())
    assert data["triplet"]["tp"] == 2 and data["existence_accuracy"] == 0.5
    assert data["region_map"]["overall"]["recall"] == 0.6 and data["region_map"]["overall"]["precision"] == 1.0


def test_evaluate_bad_lines_are_reported_with_file_and_line(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD, dict(GOLD, id="r2")])
    bad_trip = dict(PRED, id="r9", triplets=[{"finding": "opacity"}])
    pred = write_jsonl(tmp_path / "pred.jsonl", [PRED, bad_trip], extra_lines=["{not json", "[1, 2]"])
    res = runner.invoke(make_app(), ["evaluate", "--gold", str(gold), "--pred", str(pred)])
    assert res.exit_code == 1
    out = " ".join(res.output.split())
    assert "pred.jsonl:2: id r9: field 'triplets.0.region'" in out
    assert "pred.jsonl:3: invalid JSON" in out
    assert "pred.jsonl:4: a line must hold one JSON object" in out
    assert "1 gold id(s) have no prediction" in out and "r2" in out
    assert "evaluated 1 report(s)" in out
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_evaluate_refuses_a_json_output_it_cannot_write(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    res = runner.invoke(make_app(), ["evaluate", "--gold", str(gold), "--pred", str(gold), "--json", str(tmp_path)])
    assert res.exit_code == 2 and "is a folder; give a file name" in " ".join(res.output.split())


def test_evaluate_nothing_to_score(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    pred = write_jsonl(tmp_path / "pred.jsonl", [dict(PRED, id="other")])
    res = runner.invoke(make_app(), ["evaluate", "--gold", str(gold), "--pred", str(pred)])
    assert res.exit_code == 2 and "no report id is present in both files" in res.output
    res = runner.invoke(make_app(), ["evaluate", "--gold", str(tmp_path / "absent.jsonl"), "--pred", str(pred)])
    assert res.exit_code == 2 and "absent.jsonl: cannot read file" in " ".join(res.output.split())


def _fake_openi(tmp_path):
    rows = [("5", "Pleural Effusion/left", "Small left effusion.", "Effusion on the left."),
            ("6", "normal", "", "Clear chest."),
            ("7", "No Indexing", "Something.", "")]
    path = tmp_path / "openi.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression"])
        for uid, mesh, f, i in rows:
            w.writerow([uid, mesh, "", "", "", "", f, i])
    return path


def test_standoff_gold_joins_the_csv(tmp_path):
    csv_path = _fake_openi(tmp_path)
    text = "FINDINGS: Small left effusion.\nIMPRESSION: Effusion on the left."
    s = text.index("effusion")
    standoff = {"uid": "5", "text_sha1": hashlib.sha1(text.encode()).hexdigest(),
                "sentences": [[10, 30], [31, len(text)]],
                "triplets": [{"region": "left costophrenic angle", "finding": "pleural effusion", "existence": "present",
                              "sentence": 0, "start": s, "end": s + 8, "cue": None}],
                "region_sentences": {"left costophrenic angle": [0, 1]}}
    bad_sha = dict(standoff, uid="6", text_sha1="0" * 40)
    path = write_jsonl(tmp_path / "standoff.jsonl", [standoff, bad_sha])
    records, problems = evaluate.load_openi_standoff(path, csv_path)
    rec = records["5"]
    assert rec["text"] == text and rec["triplets"][0]["text"] == "effusion"
    assert rec["sentences"][1]["section"] == "impression" and rec["tags"] == {"pleural effusion": 1}
    assert [str(p) for p in problems] == [f"{path}:2: uid 6: text_sha1 does not match the benchmark text"]
    none, problems = evaluate.load_openi_standoff(path, tmp_path / "missing.csv")
    assert none is None and "skipped" in str(problems[0]) and "missing.csv" in str(problems[0])
    # through the CLI: the standoff file is recognised as gold; without the CSV nothing is scored
    pred = write_jsonl(tmp_path / "pred.jsonl", [{k: v for k, v in rec.items() if k != "text"}])
    res = runner.invoke(make_app(), ["evaluate", "--gold", str(path), "--pred", str(pred), "--csv", str(csv_path)])
    assert res.exit_code == 1 and "evaluated 1 report(s)" in res.output  # 1: the bad-sha line is counted
    res = runner.invoke(make_app(), ["evaluate", "--gold", str(path), "--pred", str(pred),
                                     "--csv", str(tmp_path / "missing.csv")])
    assert res.exit_code == 2 and "skipped" in res.output


def test_benchmark_openi_scores_a_predictions_file(tmp_path):
    csv_path = _fake_openi(tmp_path)
    pred = write_jsonl(tmp_path / "p.jsonl", [
        {"id": "5", "triplets": [{"finding": "pleural effusion", "existence": "present", "region": "left lung"}]},
        {"id": "6", "triplets": [{"finding": "pneumothorax", "existence": "absent", "region": None}]},
    ], extra_lines=["{oops"])
    out = tmp_path / "b.json"
    res = runner.invoke(make_app(), ["benchmark", "openi", "--csv", str(csv_path), "--pred", str(pred),
                                     "--json", str(out), "--errors", "3"])
    assert res.exit_code == 0, res.output
    assert "p.jsonl:3: invalid JSON" in " ".join(res.output.split())
    data = json.loads(out.read_text())
    assert data["n_reports"] == 2 and data["micro"]["f1"] == 1.0
    assert data["normal_specificity"]["value"] == 1.0
    assert data["region"] == {"items": 1, "localized": 1, "recall": 1.0, "wrong_side": 0, "detected": 1,
                              "recall_when_detected": 1.0}


def test_benchmark_openi_missing_csv(tmp_path):
    res = runner.invoke(make_app(), ["benchmark", "openi", "--csv", str(tmp_path / "x.csv"), "--pred",
                                     str(tmp_path / "p.jsonl")])
    assert res.exit_code == 2 and "OpenI CSV not found" in res.output
