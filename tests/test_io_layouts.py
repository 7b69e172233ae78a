"""Input layouts of asg-parse: detection, id/text column rules, decoding, duplicates and the bad-input messages."""
import io
import json

import pytest

from asg_parse.cli.io import BAD_BYTES_WARNING, InputError, detect_layout, read_inputs
from asg_parse.cli.output import JsonlWriter, partial_path, read_done_ids

R1 = "Small left pleural effusion. No pneumothorax."
R2 = "Heart size is mildly enlarged."


def test_csv_with_findings_and_impression_columns_builds_sectioned_text(tmp_path):
    p = tmp_path / "openi_like.csv"
    p.write_text('uid,MeSH,findings,impression\n7,x,"Lungs are clear.",No acute process.\n'
                 '9,y,,Mild cardiomegaly.\n', encoding="utf-8")
    inp = read_inputs(str(p))
    assert inp.layout == "csv"
    assert [(i, t) for i, t, _ in inp.items] == [
        ("7", "FINDINGS: Lungs are clear.\nIMPRESSION: No acute process."),
        ("9", "IMPRESSION: Mild cardiomegaly."),
    ]


def test_mimic_sectioned_csv_uses_study_id_and_falls_back_to_last_paragraph(tmp_path):
    p = tmp_path / "mimic_sectioned.csv"
    p.write_text("study,impression,findings,last_paragraph,comparison\n"
                 f"s50000001,No effusion.,{R2},,None\n"
                 f"s50000002,,,{R1},\n", encoding="utf-8")
    items = read_inputs(str(p)).items
    assert items[0][:2] == ("s50000001", f"FINDINGS: {R2}\nIMPRESSION: No effusion.")
    assert items[1][:2] == ("s50000002", R1)


def test_id_column_priority_and_report_column(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text(f"dicom_id,study_id,report\nd1,s1,{R2}\n", encoding="utf-8")
    assert read_inputs(str(p)).items[0][:2] == ("s1", R2)


def test_tsv_and_overrides(tmp_path):
    p = tmp_path / "r.tsv"
    p.write_text(f"accession\tbody\tnote\nA1\t{R1}\tfollow-up\nA2\t{R2}\t\n", encoding="utf-8")
    inp = read_inputs(str(p), id_col="accession", text_cols=["body", "note"])
    assert inp.layout == "tsv"
    assert inp.items[0][:2] == ("A1", f"BODY: {R1}\nNOTE: follow-up")
    assert inp.items[1][:2] == ("A2", f"BODY: {R2}")


def test_jsonl_with_the_same_key_rules(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text(json.dumps({"study_id": 101, "text": R1}) + "\n\n" + json.dumps({"study_id": 102, "text": None}) + "\n",
                 encoding="utf-8")
    assert [(i, t) for i, t, _ in read_inputs(str(p)).items] == [("101", R1), ("102", "")]


def test_mimic_directory_tree_uses_file_stems_in_path_order(tmp_path):
    for rel, text in [("files/p10/p10000032/s50414267.txt", R1), ("files/p10/p10000032/s53189527.txt", R2),
                      ("files/p11/p11000011/s51000001.txt", "No acute findings.")]:
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text, encoding="utf-8")
    inp = read_inputs(str(tmp_path / "files"))
    assert inp.layout == "dir"
    assert [(i, t) for i, t, _ in inp.items] == [("s50414267", R1), ("s53189527", R2),
                                                 ("s51000001", "No acute findings.")]


def test_single_txt_file_and_stdin(tmp_path):
    p = tmp_path / "case12.txt"
    p.write_text(R1, encoding="utf-8")
    assert read_inputs(str(p)).items == [("case12", R1, ())]
    assert read_inputs("-", stdin=io.BytesIO(R2.encode())).items == [("stdin", R2, ())]
    table = f"id,text\na,{R1}\nb,{R2}\n".encode()
    assert [i for i, _, _ in read_inputs("-", stdin=io.BytesIO(table)).items] == ["a", "b"]


def test_undecodable_bytes_are_replaced_and_warned_per_record(tmp_path):
    p = tmp_path / "latin1.csv"
    p.write_bytes(b"id,text\nA,Calcified granuloma \xe0 droite.\nB,Clear lungs.\n")
    items = read_inputs(str(p)).items
    assert items[0] == ("A", "Calcified granuloma \ufffd droite.", (BAD_BYTES_WARNING,))
    assert items[1] == ("B", "Clear lungs.", ())


def test_duplicate_id_is_kept_with_a_warning(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text(f"id,text\nx,{R1}\ny,{R2}\nx,{R2}\n", encoding="utf-8")
    items = read_inputs(str(p)).items
    assert [i for i, _, _ in items] == ["x", "y", "x"]
    assert items[2][2] == ("duplicate id 'x' (first used by record 1)",)


@pytest.mark.parametrize("content, kwargs, message", [
    ('id,text\n1,"never closed\n2,ok\n', {}, "{p}: line 2: malformed CSV (unexpected end of data)"),
    ("id,text\n1,ok\n2,ok,extra\n", {}, "{p}: line 3: malformed CSV, expected 2 fields, found 3"),
    ('id,text\n1,"a"b\n', {}, "{p}: line 2: malformed CSV (',' expected after '\"')"),
    ("id,body\n1,ok\n", {}, "{p}: no report text column; expected 'report', 'text' or 'findings'/'impression' "
                            "(columns: id, body); choose one with --text-col"),
    ("id,text\n1,ok\n", {"id_col": "accession"}, "{p}: no column 'accession' (columns: id, text)"),
    ("id,text\n1,ok\n", {"text_cols": ["text", "notes"]}, "{p}: no column 'notes' (columns: id, text)"),
])
def test_bad_tables_give_one_line_errors(tmp_path, content, kwargs, message):
    p = tmp_path / "bad.csv"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_inputs(str(p), **kwargs)
    assert str(err.value) == message.format(p=p)


def test_bad_jsonl_and_unknown_layouts(tmp_path):
    j = tmp_path / "bad.jsonl"
    j.write_text('{"id": 1, "text": "ok"}\n{"id": 2, "text": \n', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.jsonl: line 2: invalid JSON \(Expecting value at column 19\)"):
        read_inputs(str(j))
    other = tmp_path / "notes.dat"
    other.write_text("just some words\n", encoding="utf-8")
    with pytest.raises(InputError, match="notes.dat: cannot tell the layout"):
        read_inputs(str(other))
    with pytest.raises(InputError, match="nowhere.csv: no such file or directory"):
        read_inputs(str(tmp_path / "nowhere.csv"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .txt files"):
        read_inputs(str(tmp_path / "empty"))


def test_layout_sniffed_for_unknown_extension(tmp_path):
    p = tmp_path / "export.data"
    p.write_text(f"study_id\treport\n1\t{R1}\n", encoding="utf-8")
    assert detect_layout(str(p)) == "tsv"


def test_writer_is_atomic_and_resume_cuts_a_torn_line(tmp_path):
    out = tmp_path / "out.jsonl"
    w = JsonlWriter(str(out))
    w.write('{"id":"a"}\n')
    w.keep_partial()
    assert not out.exists() and partial_path(out).exists()
    with partial_path(out).open("a") as fh:
        fh.write('{"id":"b"}\n{"id":"c","sente')  # killed mid-line
    assert read_done_ids(partial_path(out)) == ["a", "b"]
    assert partial_path(out).read_text() == '{"id":"a"}\n{"id":"b"}\n'
    w = JsonlWriter(str(out), resume=True)
    assert list(w.done_ids()) == ["a", "b"]
    w.write('{"id":"c"}\n')
    w.commit()
    assert out.read_text() == '{"id":"a"}\n{"id":"b"}\n{"id":"c"}\n' and not partial_path(out).exists()
