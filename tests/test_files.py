"""Input files, read one way by every reader: a byte-order mark is dropped, a line that is not UTF-8 or not one
JSON object is one error (or one flagged problem) naming the file and line, never a traceback."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from asg_parse.cli.app import app
from asg_parse.evaluation.scoring import load_records
from asg_parse.files import decoded_lines, json_records
from asg_parse.learning.readers import DataError, detect_format, read_labelled

GOLD = {"id": "r1", "text": "Small left pleural effusion. No pneumothorax.",
        "triplets": [{"region": "left costophrenic angle", "finding": "pleural effusion", "existence": "present",
                      "start": 11, "end": 27, "sentence": 0},
                     {"region": None, "finding": "pneumothorax", "existence": "absent", "start": 32, "end": 44,
                      "sentence": 1}]}
SENTENCE = {"doc_id": "d1", "part": "Impression", "sent_id": "s1", "text": "No effusion.", "cues": [], "scopes": [],
            "topic": "chest-only"}


def test_lines_drop_the_bom_and_flag_bad_bytes():
    lines = [b"\xef\xbb\xbf{\"a\": 1}\r\n", b"   \n", b"{\"b\": \"\xff\"}\n"]
    assert [(no, bad) for no, _, bad in decoded_lines(lines)] == [(1, False), (3, True)]
    assert next(decoded_lines(lines))[1] == '{"a": 1}'


def test_records_name_file_and_line(tmp_path: Path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"a": 1}).encode() + b"\n\n[1, 2]\n")
    records = json_records(path, KeyError)
    assert next(records) == (1, {"a": 1})
    with pytest.raises(KeyError, match=r"x.jsonl: line 3: a line must hold one JSON object, not list"):
        next(records)
    path.write_bytes(b'{"a": "\xff"}\n')
    with pytest.raises(KeyError, match=r"x.jsonl: line 1: not valid UTF-8"):
        list(json_records(path, KeyError))


def test_training_reads_gold_written_with_a_bom(tmp_path: Path):
    path = tmp_path / "site_labels.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOLD).encode() + b"\n")
    assert detect_format(path) == "gold"
    [report] = read_labelled(path)
    assert [(report.text[m.start:m.end], m.existence) for m in report.mentions] == \
        [("pleural effusion", "present"), ("pneumothorax", "absent")]


def test_training_empty_file_is_one_line(tmp_path: Path):
    path = tmp_path / "labels.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"labels.jsonl: empty file"):
        detect_format(path)


def test_training_bad_bytes_are_one_line(tmp_path: Path):
    tsv = tmp_path / "negex.tsv"
    tsv.write_bytes(b"line number\tCondition\tsentence\tnegation_status\n1\tcough\tNo cough.\tNegated\n"
                    b"2\tfever\tFever \xff today.\tAffirmed\n")
    with pytest.raises(DataError, match=r"negex.tsv: line 3: not valid UTF-8"):
        read_labelled(tsv)
    bio = tmp_path / "bio.jsonl"
    bio.write_bytes(json.dumps(SENTENCE).encode() + b"\n" + json.dumps(SENTENCE).encode()[:-2] + b"\xff\"}\n")
    with pytest.raises(DataError, match=r"bio.jsonl: line 2: not valid UTF-8"):
        read_labelled(bio)


def test_bioscope_benchmark_bad_bytes_are_one_line(tmp_path: Path):
    bio = tmp_path / "bio.jsonl"
    bio.write_bytes(json.dumps(SENTENCE).encode()[:-2] + b"\xff\"}\n")
    res = CliRunner().invoke(app, ["benchmark", "bioscope", "--data", str(bio)])
    assert res.exit_code == 2, res.output
    assert "bio.jsonl: line 1: not valid UTF-8" in " ".join(res.output.split())


def test_evaluation_flags_a_bad_line_and_reads_the_rest(tmp_path: Path):
    path = tmp_path / "gold.jsonl"
    second = dict(GOLD, id="r2")
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOLD).encode() + b"\n" + b'{"id": "r\xff"}\n'
                     + json.dumps(second).encode() + b"\n")
    records, problems = load_records(path, strict=False)
    assert sorted(records) == ["r1", "r2"]
    assert [(p.line, p.message) for p in problems] == [(2, "not valid UTF-8")]
