"""asg-parse INPUT -o OUT: every layout, one record per report in order, bad input, errors, stdin/stdout."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from asg_parse import api
from asg_parse.cli.app import app

REPORTS = [
    "FINDINGS: Small left pleural effusion. No pneumothorax.\nIMPRESSION: Mild cardiomegaly.",
    "Lungs are clear. No focal consolidation.",
    "Possible right lower lobe pneumonia. Heart size is normal.",
    "   ",
    "Stable calcified granuloma in the right upper lobe. No acute cardiopulmonary process.",
    "Bibasilar atelectasis. Moderate pulmonary edema.",
]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _pipelines_once(cli_pipeline):
    """Build each default pipeline once per session; a user ontology still loads its own."""


def write_csv(path: Path, n: int, id_col: str = "id") -> list[str]:
    ids = [f"case{i:03d}" for i in range(n)]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([id_col, "report"])
        for i, rid in enumerate(ids):
            w.writerow([rid, REPORTS[i % len(REPORTS)]])
    return ids


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def invoke(args, **kw):
    return CliRunner().invoke(app, args, **kw)


def test_csv_gives_one_record_per_row_in_input_order(tmp_path):
    ids = write_csv(tmp_path / "reports.csv", 14)
    out = tmp_path / "out.jsonl"
    res = invoke([str(tmp_path / "reports.csv"), "-o", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    recs = records(out)
    assert [r["id"] for r in recs] == ids
    first = recs[0]
    assert {(t["finding"], t["existence"]) for t in first["triplets"]} >= {
        ("pleural effusion", "present"), ("pneumothorax", "absent"), ("cardiomegaly", "present")}
    empty = recs[3]
    assert empty["triplets"] == [] and empty["warnings"] == [api.EMPTY_WARNING]
    assert all("error" not in r for r in recs)
    assert "reports parsed" in res.stderr and "14" in res.stderr
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_jsonl_tsv_single_txt_and_mimic_tree(tmp_path):
    j = tmp_path / "r.jsonl"
    j.write_text("".join(json.dumps({"study_id": f"s{i}", "text": t}) + "\n" for i, t in enumerate(REPORTS[:3])))
    t = tmp_path / "r.tsv"
    t.write_text("uid\tfindings\timpression\nu1\tNo effusion.\tNormal chest.\nu2\t\tMild cardiomegaly.\n")
    one = tmp_path / "case7.txt"
    one.write_text(REPORTS[0])
    tree = tmp_path / "files"
    for rel, text in [("p10/p10000032/s50414267.txt", REPORTS[0]), ("p10/p10000032/s53911762.txt", REPORTS[1]),
                      ("p12/p12000004/s50000005.txt", REPORTS[5])]:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(text)
    expected = {j: ["s0", "s1", "s2"], t: ["u1", "u2"], one: ["case7"],
                tree: ["s50414267", "s53911762", "s50000005"]}
    for src, ids in expected.items():
        out = tmp_path / f"{src.name}.out.jsonl"
        res = invoke([str(src), "-o", str(out), "-q"])
        assert res.exit_code == 0, res.output
        assert [r["id"] for r in records(out)] == ids
    mimic = records(tmp_path / "files.out.jsonl")
    assert any(t["finding"] == "atelectasis" for t in mimic[2]["triplets"])


def test_stdin_to_stdout(tmp_path):
    res = invoke(["-", "-o", "-", "-q"], input=REPORTS[0])
    assert res.exit_code == 0, res.output
    (rec,) = [json.loads(line) for line in res.stdout.splitlines()]
    assert rec["id"] == "stdin" and rec["tags"]["pleural effusion"] == 1
    table = "id,text\na,No pneumothorax.\nb,Right pleural effusion.\n"
    res = invoke(["-", "-o", "-", "-q"], input=table)
    assert [json.loads(line)["id"] for line in res.stdout.splitlines()] == ["a", "b"]


@pytest.mark.parametrize("setup, args, message", [
    (None, ["{d}/nope.csv"], "error: {d}/nope.csv: no such file or directory"),
    ("notes.dat:hello there\n", ["{d}/notes.dat"],
     "error: {d}/notes.dat: cannot tell the layout; expected a .csv, .tsv, .jsonl or .txt file, "
     "or a directory of .txt files"),
    ("r.csv:id,text\n1,No effusion.\n", ["{d}/r.csv", "--text-col", "body"],
     "error: {d}/r.csv: no column 'body' (columns: id, text)"),
    ("r.csv:id,text\n1,No effusion.\n", ["{d}/r.csv", "--id-col", "accession"],
     "error: {d}/r.csv: no column 'accession' (columns: id, text)"),
    ("r.csv:id,text\n1,No effusion.\n2,Clear,lungs\n", ["{d}/r.csv"],
     "error: {d}/r.csv: line 3: malformed CSV, expected 2 fields, found 3"),
    ('r.csv:id,text\n1,No effusion.\n2,"Clear lungs.\n3,ok\n', ["{d}/r.csv"],
     "error: {d}/r.csv: line 3: malformed CSV (unexpected end of data)"),
    ("r.csv:accession,body\n1,No effusion.\n", ["{d}/r.csv"],
     "error: {d}/r.csv: no report text column; expected 'report', 'text' or 'findings'/'impression' "
     "(columns: accession, body); choose one with --text-col"),
])
def test_bad_input_is_one_line_with_exit_2(tmp_path, setup, args, message):
    if setup:
        name, content = setup.split(":", 1)
        (tmp_path / name).write_text(content)
    out = tmp_path / "out.jsonl"
    res = invoke([a.format(d=tmp_path) for a in args] + ["-o", str(out)])
    assert res.exit_code == 2
    assert res.stderr == message.format(d=tmp_path) + "\n"
    assert not out.exists() and not (tmp_path / "out.jsonl.partial").exists()


def test_bad_user_ontology_is_one_line_with_exit_2(tmp_path):
    onto = tmp_path / "onto"
    onto.mkdir()
    (onto / "regions.yaml").write_text("regions:\n  - id: left apex\n    side: left\n    parent: nowhere\n")
    write_csv(tmp_path / "r.csv", 2)
    res = invoke([str(tmp_path / "r.csv"), "-o", str(tmp_path / "o.jsonl"), "--ontology", str(onto)])
    assert res.exit_code == 2
    assert res.stderr == f"error: ontology: {onto}/regions.yaml: entry 'left apex': unknown parent 'nowhere'\n"


def test_duplicate_ids_and_bad_bytes_are_kept_with_warnings(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(b"id,text\nx,No pneumothorax.\ny,Caf\xe9 granuloma.\nx,Mild cardiomegaly.\n")
    out = tmp_path / "o.jsonl"
    res = invoke([str(p), "-o", str(out), "-q"])
    assert res.exit_code == 0
    recs = records(out)
    assert [r["id"] for r in recs] == ["x", "y", "x"]
    assert recs[1]["warnings"] == ["undecodable bytes replaced with U+FFFD"]
    assert recs[2]["warnings"] == ["duplicate id 'x' (first used by record 1)"]


@pytest.fixture
def failing_on_boom(monkeypatch):
    real = api.doc_to_record

    def flaky(doc, id):
        if "BOOM" in doc.text:
            raise RuntimeError("component exploded")
        return real(doc, id)

    monkeypatch.setattr(api, "doc_to_record", flaky)


def test_pipeline_error_gives_error_record_and_exit_1(tmp_path, failing_on_boom):
    p = tmp_path / "r.csv"
    p.write_text("id,text\na,No effusion.\nb,BOOM here.\nc,Mild cardiomegaly.\n")
    out = tmp_path / "o.jsonl"
    res = invoke([str(p), "-o", str(out)])
    assert res.exit_code == 1
    assert res.stderr.endswith("error: 1 of 3 reports failed; their records carry an 'error' field\n")
    recs = records(out)
    assert [r["id"] for r in recs] == ["a", "b", "c"]
    assert recs[1]["error"] == "RuntimeError: component exploded" and recs[1]["triplets"] == []
    assert "error" not in recs[0] and recs[2]["tags"] == {"cardiomegaly": 1}


def test_strict_stops_at_first_error_and_keeps_the_rest_resumable(tmp_path, failing_on_boom):
    p = tmp_path / "r.csv"
    p.write_text("id,text\na,No effusion.\nb,BOOM here.\nc,Mild cardiomegaly.\n")
    out = tmp_path / "o.jsonl"
    res = invoke([str(p), "-o", str(out), "--strict", "-q"])
    assert res.exit_code == 1
    assert res.stderr == (f"error: report 'b': RuntimeError: component exploded (stopped by --strict; "
                          f"1 records kept in {out}.partial)\n")
    assert not out.exists()
    assert [r["id"] for r in records(Path(f"{out}.partial"))] == ["a"]


def test_output_is_byte_identical_for_1_and_2_workers(tmp_path):
    write_csv(tmp_path / "r.csv", 40)
    outs = []
    for w in (1, 2):
        out = tmp_path / f"o{w}.jsonl"
        res = invoke([str(tmp_path / "r.csv"), "-o", str(out), "--workers", str(w), "--chunk-size", "7", "-q"])
        assert res.exit_code == 0, res.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and outs[0].count(b"\n") == 40


def _console() -> list[str]:
    exe = shutil.which("asg-parse")
    return [exe] if exe else [sys.executable, "-m", "asg_parse.cli"]


def test_console_script_help_and_pipe(tmp_path):
    res = subprocess.run(_console() + ["--help"], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0
    for word in ("show", "ontology", "evaluate", "--workers", "--resume", "--strict", "--text-col", "--ontology"):
        assert word in res.stdout
    write_csv(tmp_path / "r.csv", 3)
    res = subprocess.run(_console() + ["r.csv", "-o", "-"], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert [json.loads(line)["id"] for line in res.stdout.splitlines()] == ["case000", "case001", "case002"]
    assert "Traceback" not in res.stderr and "reports parsed" in res.stderr
    res = subprocess.run(_console() + ["missing.csv", "-o", "x.jsonl"], capture_output=True, text=True, cwd=tmp_path)
    assert (res.returncode, res.stderr) == (2, "error: missing.csv: no such file or directory\n")


def test_a_dead_worker_stops_the_run_with_the_finished_records_kept(tmp_path, monkeypatch):
    real = api.doc_to_record
    monkeypatch.setattr(api, "doc_to_record",
                        lambda doc, id: os._exit(3) if "DIE" in doc.text else real(doc, id))
    p = tmp_path / "r.csv"
    p.write_text("id,text\n" + "".join(f"{i},{'DIE' if i == 30 else 'No effusion.'}\n" for i in range(40)))
    out = tmp_path / "o.jsonl"
    res = invoke([str(p), "-o", str(out), "--workers", "2", "--chunk-size", "10", "-q"])
    assert res.exit_code == 1
    kept = Path(f"{out}.partial").read_text().count("\n")
    assert res.stderr == (f"error: a worker process died (killed, or out of memory?); {kept} records kept in "
                          f"{out}.partial, run again with --resume\n")
    assert kept <= 30 and not out.exists()


@pytest.mark.parametrize("args, message", [
    (["reports.csv"], "error: Missing option '-o' / '--output'. (see 'asg-parse parse --help')"),
    (["reports.csv", "-o", "out.jsonl", "--workers", "0"],
     "error: Invalid value for '-w' / '--workers': Input should be greater than or equal to 1 "
     "(see 'asg-parse parse --help')"),
    (["show", "No effusion.", "--colour"], "error: No such option: --colour (see 'asg-parse show --help')"),
    (["evaluate", "--gold"], "error: Option '--gold' requires an argument."),
])
def test_usage_errors_are_one_line_with_exit_2(capsys, args, message):
    from asg_parse.cli.usage import run

    with pytest.raises(SystemExit) as stop:
        run(app, args, prog_name="asg-parse")
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines() == [message]


def test_train_usage_error_is_one_line(capsys):
    from asg_parse.cli.usage import run
    from asg_train.cli import app as train_app

    with pytest.raises(SystemExit) as stop:
        run(train_app, ["pretrain", "--bogus"], prog_name="asg-train")
    assert stop.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: No such option: --bogus") and "asg-train pretrain --help" in err[0]


def test_console_loads_spacy_without_its_command_line(tmp_path):
    """The start-up stub keeps spaCy's own CLI (weasel, requests) out of an asg-parse process; parsing works."""
    code = ("import sys; from asg_parse.cli.app import _skip_spacy_cli; _skip_spacy_cli(); import asg_parse; "
            "rec = asg_parse.parse('Small left pleural effusion.'); "
            "print(rec.triplets[0].region, 'weasel' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["left", "costophrenic", "angle", "False"]


def test_quiet_parse_imports_neither_the_evaluation_commands_nor_rich(tmp_path):
    """They load when asked for (`asg-parse evaluate`, the progress bar, the summary), not on every parse."""
    write_csv(tmp_path / "r.csv", 2)
    code = ("import sys; from asg_parse import cli; sys.argv = ['asg-parse', 'r.csv', '-o', 'o.jsonl', '-q']\n"
            "try:\n    cli.main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print([m for m in ('asg_parse.cli.evaluate', 'asg_parse.cli.benchmark', 'asg_parse.evaluation.openi',"
            " 'rich') if m in sys.modules])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["[]"]
    assert (tmp_path / "o.jsonl").read_text().count("\n") == 2


def test_commands_other_than_parse_run_with_the_garbage_collector(tmp_path):
    """main() turns the collector off for a parse's start-up; every other command turns it back on."""
    import gc

    gc.disable()
    try:
        res = CliRunner().invoke(app, ["ontology", "--check", str(ROOT / "anatomy_ontology" / "data")])
        assert res.exit_code == 0 and res.output.startswith("ok") and gc.isenabled()
    finally:
        gc.enable()


def test_module_run_keeps_the_output_and_status_of_main(tmp_path):
    """`python -m asg_parse.cli` (what benchmarks/parse_throughput.py times): the output is complete (file or
    stdout) and the exit status is the command's, with worker processes too."""
    ids = write_csv(tmp_path / "r.csv", 5)
    cmd = [sys.executable, "-m", "asg_parse.cli"]
    res = subprocess.run(cmd + ["r.csv", "-o", "o.jsonl", "--workers", "2", "--chunk-size", "2"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0 and "reports parsed" in res.stderr, res.stderr
    assert [json.loads(line)["id"] for line in (tmp_path / "o.jsonl").read_text().splitlines()] == ids
    res = subprocess.run(cmd + ["r.csv", "-o", "-", "-q"], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0 and [json.loads(line)["id"] for line in res.stdout.splitlines()] == ids
    res = subprocess.run(cmd + ["missing.csv", "-o", "x.jsonl"], capture_output=True, text=True, cwd=tmp_path)
    assert (res.returncode, res.stderr) == (2, "error: missing.csv: no such file or directory\n")


def test_readme_example_reports(tmp_path):
    """The README's first command: the example CSV (findings + impression columns) gives one record per row, with
    the findings the reports state."""
    out = tmp_path / "triplets.jsonl"
    res = CliRunner().invoke(app, [str(ROOT / "examples" / "reports.csv"), "-o", str(out), "--workers", "1", "-q"])
    assert res.exit_code == 0, res.output
    recs = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert list(recs) == ["ex-01", "ex-02", "ex-03", "ex-04"]
    assert all(t["existence"] == "absent" for t in recs["ex-01"]["triplets"])
    effusion = {(t["region"], t["existence"]) for t in recs["ex-02"]["triplets"] if t["finding"] == "pleural effusion"}
    assert ("left costophrenic angle", "present") in effusion
    assert any(t["finding"] == "pneumonia" and t["existence"] == "uncertain" for t in recs["ex-02"]["triplets"])
