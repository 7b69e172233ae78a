"""--resume after an interrupted asg-parse run: no duplicates, no gaps, input order, same bytes as one clean run."""
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from asg_parse.cli import runner
from asg_parse.cli.app import app

from test_cli_parse import _console, write_csv


@pytest.fixture(autouse=True)
def _pipelines_once(cli_pipeline):
    """Build each default pipeline once per session; a user ontology still loads its own."""


def run(*args: str):
    return CliRunner().invoke(app, [*args, "-q"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory, asg_nlp):
    """A CSV of invented reports and the output of one uninterrupted run."""
    tmp = tmp_path_factory.mktemp("reference")
    src = tmp / "r.csv"
    ids = write_csv(src, 3000)
    ref = tmp / "reference.jsonl"
    runner.set_pipeline(asg_nlp)
    assert run(str(src), "-o", str(ref), "--workers", "1").exit_code == 0
    return src, ids, ref.read_bytes()


def _start_and_stop(src: Path, out: Path, sig: int, workers: int) -> subprocess.CompletedProcess:
    """Start the console command, wait for its first records, then send `sig`."""
    partial = Path(f"{out}.partial")
    proc = subprocess.Popen(_console() + [str(src), "-o", str(out), "--workers", str(workers), "--chunk-size", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if partial.exists() and partial.stat().st_size > 0:
            break
        time.sleep(0.02)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert not out.exists(), "the run finished before it could be interrupted"
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_resume_after_kill_has_no_duplicates_and_no_gaps(tmp_path, reference):
    src, ids, ref = reference
    out = tmp_path / "out.jsonl"
    killed = _start_and_stop(src, out, signal.SIGKILL, workers=1)
    assert killed.returncode == -signal.SIGKILL
    kept = Path(f"{out}.partial").read_bytes()
    assert 0 < kept.count(b"\n") < len(ids)
    res = run(str(src), "-o", str(out), "--resume", "--workers", "2", "--chunk-size", "64")
    assert res.exit_code == 0, res.output
    got = out.read_bytes()
    assert [json.loads(line)["id"] for line in got.splitlines()] == ids
    assert got == ref
    assert not Path(f"{out}.partial").exists()


def test_sigterm_keeps_the_partial_file_and_says_how_to_resume(tmp_path, reference):
    src, ids, ref = reference
    out = tmp_path / "out.jsonl"
    stopped = _start_and_stop(src, out, signal.SIGTERM, workers=2)
    assert stopped.returncode == 130
    n = Path(f"{out}.partial").read_bytes().count(b"\n")
    assert stopped.stderr.strip().splitlines()[-1] == (
        f"interrupted: {n} records kept in {out}.partial; run again with --resume to finish")
    assert "Traceback" not in stopped.stderr
    assert run(str(src), "-o", str(out), "--resume").exit_code == 0
    assert out.read_bytes() == ref


def test_resume_from_a_torn_partial_file(tmp_path, reference):
    src, ids, ref = reference
    out = tmp_path / "out.jsonl"
    lines = ref.splitlines(keepends=True)
    Path(f"{out}.partial").write_bytes(b"".join(lines[:1234]) + lines[1234][:50])  # died mid-record
    res = run(str(src), "-o", str(out), "--resume")
    assert res.exit_code == 0, res.output
    assert out.read_bytes() == ref


def test_resume_of_a_finished_run_changes_nothing_and_extends_a_grown_input(tmp_path, reference):
    src, ids, ref = reference
    out = tmp_path / "out.jsonl"
    out.write_bytes(ref)
    assert run(str(src), "-o", str(out), "--resume").exit_code == 0
    assert out.read_bytes() == ref
    bigger = tmp_path / "bigger.csv"
    write_csv(bigger, 3010)
    assert run(str(bigger), "-o", str(out), "--resume").exit_code == 0
    got = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert got == [f"case{i:03d}" for i in range(3010)]


def test_resume_refuses_a_partial_file_of_another_input(tmp_path, reference):
    src, ids, ref = reference
    out = tmp_path / "out.jsonl"
    Path(f"{out}.partial").write_text('{"id":"case000"}\n{"id":"other"}\n')
    res = CliRunner().invoke(app, [str(src), "-o", str(out), "--resume"])
    assert res.exit_code == 2
    assert res.stderr == (f"error: {out}.partial: record 2 has id 'other' but input record 2 is 'case001'; "
                          "cannot resume (remove the file to start over)\n")
    res = CliRunner().invoke(app, [str(src), "-o", "-", "--resume"])
    assert (res.exit_code, res.stderr) == (2, "error: --resume needs an output file, not stdout\n")


def test_without_resume_a_stale_partial_file_is_replaced(tmp_path, reference):
    src, ids, ref = reference
    out = tmp_path / "out.jsonl"
    Path(f"{out}.partial").write_text('{"id":"stale"}\n')
    assert run(str(src), "-o", str(out)).exit_code == 0
    assert out.read_bytes() == ref

