"""Training inputs of the learned existence layer: format detection, the NegEx TSV, BioScope's linguistic reading,
silver labels, and one-line errors."""
from __future__ import annotations

import json

import pytest

from asg_parse.evaluation.bioscope import Sentence, gold_existence, load_documents
from asg_parse.learning.bioscope import linguistic_existence
from asg_parse.learning.readers import DataError, detect_format, negex_reports, read_labelled, silver_reports

_NEGEX_HEADER = "line number\tCondition\tsentence\tnegation_status (negated, affirmed, possible)\ttemporality\texperiencer\n"


def test_negex_tsv_is_detected_and_read(tmp_path):
    path = tmp_path / "negex.tsv"
    path.write_text(_NEGEX_HEADER + "1\tcough\tThe patient denies any COUGH today.\tNegated\tRecent\tPatient\n"
                    "2\tchest pain\tReports CHEST   PAIN on exertion.\tAffirmed\tRecent\tPatient\n"
                    "3\tfever\tNo chills.\tAffirmed\tRecent\tPatient\n", encoding="utf-8")
    assert detect_format(path) == "negex"
    skipped: list[str] = []
    reports = negex_reports(path, skipped)
    assert [(r.text[m.start:m.end], m.existence) for r in reports for m in r.mentions] == \
        [("COUGH", "absent"), ("CHEST   PAIN", "present")]
    assert skipped == [f"{path}:4: condition 'fever' not found in its sentence"]


def test_negex_bad_status_is_one_line(tmp_path):
    path = tmp_path / "negex.tsv"
    path.write_text(_NEGEX_HEADER + "1\tcough\tNo cough.\tPossible\tRecent\tPatient\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path}:2: field 'negation_status'"):
        read_labelled(path)


def test_unknown_jsonl_is_refused(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"report": "No effusion."}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path}:1: unknown JSONL record"):
        detect_format(path)
    with pytest.raises(DataError, match="no such file"):
        detect_format(tmp_path / "missing.jsonl")


def _sentence(doc_id, part, sent_id, text, cues, scopes, topic="chest-only"):
    return {"doc_id": doc_id, "part": part, "sent_id": sent_id, "text": text, "cues": cues, "scopes": scopes,
            "topic": topic}


def _marks(*marks):
    """Cues and scopes in the BioScope layout for a sentence of ours: each mark is (cue type, cue word, scope)."""
    cues = [dict(type=kind, text=word, scope_id=f"m{k}") for k, (kind, word, _) in enumerate(marks)]
    return cues, [dict(id=f"m{k}", text=scope) for k, (_, _, scope) in enumerate(marks)]


def test_bioscope_linguistic_reading():
    text = "Probable viral pneumonia without effusion, atelectasis or scarring."
    s = Sentence("d1", "Impression", "s2", text,
                 *_marks(("speculation", "Probable", "Probable viral pneumonia without effusion"),
                         ("negation", "without", "without effusion"),
                         ("speculation", "or", "atelectasis or scarring")))
    at = text.index
    assert gold_existence(s, at("pneumonia"), at("pneumonia") + 9) == "leaning"  # the benchmark's own reading
    assert linguistic_existence(s, at("pneumonia"), at("pneumonia") + 9) == "uncertain"  # a leaning is a hedge here
    assert linguistic_existence(s, at("atelectasis"), at("atelectasis") + 11) == "uncertain"  # so is "X or Y"
    assert linguistic_existence(s, at("effusion"), at("effusion") + 8) == "absent"  # negation wins
    assert linguistic_existence(Sentence("d1", "Impression", "s3", "Mild cardiomegaly.", [], []), 5, 17) == "present"


def test_bioscope_reports_are_the_benchmark_documents(tmp_path):
    path = tmp_path / "bio.jsonl"
    rows = [_sentence("d1", "History", "s1", "Pneumothorax last year.", [], []),
            _sentence("d1", "Impression", "s2", "Possible pneumonia.",
                      *_marks(("speculation", "Possible", "Possible pneumonia"))),
            _sentence("d1", "Impression", "s3", "No effusion.", *_marks(("negation", "No", "No effusion"))),
            _sentence("d1", "Impression", "s4", "Interval resolution of the atelectasis.", [], []),
            _sentence("d2", "Impression", "s1", "Hydronephrosis.", [], [], topic="renal-only")]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    [document] = load_documents(path)
    [report] = read_labelled(path)
    assert (report.id, report.text) == ("d1", document.text)
    assert report.text.startswith("HISTORY: Pneumothorax last year.\nIMPRESSION: Possible pneumonia.")
    # the History mention and the resolving sentence are left out, as in the benchmark
    assert [(report.text[m.start:m.end], m.existence) for m in report.mentions] == \
        [("pneumonia", "uncertain"), ("effusion", "absent")]


def test_bioscope_file_errors_name_the_line(tmp_path):
    path = tmp_path / "bio.jsonl"
    ok = _sentence("d1", "Impression", "s1", "No effusion.", [], [])
    bad = dict(ok, scopes=[{"id": "x", "text": "not in the sentence"}])
    path.write_text(json.dumps(ok) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    assert detect_format(path) == "bioscope"
    with pytest.raises(DataError, match=rf"{path}: line 2: field 'scopes'"):
        read_labelled(path)
    path.write_text(json.dumps(dict(ok, cues="No")) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path}: line 1: field 'cues' must be a list of objects"):
        read_labelled(path)


def test_silver_labels_are_the_rules_weighted_down(tmp_path):
    path = tmp_path / "reports.csv"
    path.write_text("id,report\n7,FINDINGS: No pneumothorax. Possible small effusion.\n", encoding="utf-8")
    [report] = silver_reports(path, 0.25)
    assert report.weight == 0.25 and report.id == "7"
    assert sorted((report.text[m.start:m.end], m.existence) for m in report.mentions) == \
        [("pneumothorax", "absent"), ("small effusion", "uncertain")]


def test_cli_names_the_rows_it_leaves_out(tmp_path):
    from typer.testing import CliRunner

    from asg_parse.cli.app import app

    path = tmp_path / "negex.tsv"
    path.write_text(_NEGEX_HEADER + "1\tcough\tShe denies cough.\tNegated\tRecent\tPatient\n"
                    "2\tfever\tNo chills.\tAffirmed\tRecent\tPatient\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["train", "existence", "--gold", str(path), "--out", str(tmp_path / "m"),
                                   "--epochs", "1", "-q"])
    assert res.exit_code == 0, res.output
    assert f"warning: 1 row(s) left out, e.g. {path}:3: condition 'fever' not found" in res.output
    assert (tmp_path / "m" / "metrics.json").is_file()
