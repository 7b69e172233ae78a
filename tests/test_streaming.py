"""Streaming input: the runner reads a bounded stretch ahead, duplicate ids are found in compact memory, a .txt tree
is walked in path order, the total is estimated as the input is read, and bad input found late keeps the records."""
import itertools
import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from asg_parse.cli import runner
from asg_parse.cli.app import app
from asg_parse.cli.feed import Feed
from asg_parse.cli.ids import IdIndex
from asg_parse.cli.io import _txt_files, open_reports, read_inputs

from test_cli_parse import REPORTS, write_csv


@pytest.fixture(autouse=True)
def _pipelines_once(cli_pipeline):
    """Build each default pipeline once per session; a user ontology still loads its own."""


def test_id_index_gives_the_first_record_of_every_id_across_blocks():
    rng = random.Random(7)
    ids = [f"MRN{rng.randrange(3000)}" for _ in range(12000)] + ["", "é", "MRN1"]
    index, got, start = IdIndex(), [], 1
    for size in itertools.cycle([1, 700, 33, 2048]):
        block = ids[start - 1:start - 1 + size]
        if not block:
            break
        got += index.firsts(block, start)
        start += len(block)
    first: dict[str, int] = {}
    assert got == [first.setdefault(rid, k) for k, rid in enumerate(ids, start=1)]
    assert len(index) == len(first) and index.nbytes == 12 * len(first)


def test_runner_reads_only_a_bounded_stretch_of_the_input_ahead(asg_nlp):
    runner.set_pipeline(asg_nlp)
    consumed = itertools.count()

    def reports():  # an archive far larger than what the run may hold
        for k in range(1_000_000):
            next(consumed)
            yield f"r{k}", REPORTS[k % len(REPORTS)], ()

    results = runner.run_chunks(reports(), workers=2, chunk_size=20)
    first = next(results)
    assert [line[:12] for line in first.lines[:2]] == ['{"id":"r0","', '{"id":"r1","']
    read = next(consumed)
    results.close()  # stops the pool
    assert 20 <= read <= 20 * (8 * 2 + 2)  # the chunks held (8 per worker), plus the next one and the lookahead


def test_txt_tree_is_walked_in_the_order_of_its_sorted_paths(tmp_path):
    root = tmp_path / "files"
    for rel in ["a/z.txt", "a.b/y.txt", "a.txt", "ab.txt", "a/b/c.txt", "a-b/x.txt", "Z.txt", "a/notes.md"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("No effusion.", encoding="utf-8")
    expected = sorted((p for p in root.rglob("*.txt")), key=lambda p: p.relative_to(root).as_posix())
    assert list(_txt_files(root)) == expected
    assert [i for i, _, _ in read_inputs(str(root)).items] == [p.stem for p in expected]


def test_feed_estimates_the_total_from_the_bytes_read(tmp_path, monkeypatch):
    monkeypatch.setattr("asg_parse.cli.feed.BLOCK", 500)
    src = tmp_path / "r.csv"
    write_csv(src, 6000)
    feed = Feed(open_reports(str(src)), shard=(2, 3), background=False)
    items = iter(feed)
    assert feed.estimate() is None  # nothing read yet
    next(items)
    assert 1000 <= feed.estimate() <= 3000  # 2000 records of shard 2/3, estimated after 500 read
    assert sum(1 for _ in items) + 1 == 2000 and feed.estimate() == 2000 and feed.records == 6000


def test_bad_line_late_in_the_input_keeps_the_records_before_it_for_resume(tmp_path, monkeypatch):
    monkeypatch.setattr("asg_parse.cli.feed.BLOCK", 10)
    src = tmp_path / "r.csv"
    ids = write_csv(src, 60)
    good = src.read_text(encoding="utf-8")
    src.write_text(good + 'late,"never closed\n', encoding="utf-8")
    out = tmp_path / "o.jsonl"
    res = CliRunner().invoke(app, [str(src), "-o", str(out), "--workers", "1", "--chunk-size", "10", "-q"])
    partial = Path(f"{out}.partial")
    kept = partial.read_text(encoding="utf-8").count("\n")
    assert res.exit_code == 2 and 0 < kept <= 60
    bad_line = good.count("\n") + 1  # (reports span lines)
    assert res.stderr == (f"error: {src}: line {bad_line}: malformed CSV (unexpected end of data); {kept} records kept in "
                          f"{partial}, run again with --resume once it is fixed\n")
    src.write_text(good, encoding="utf-8")
    assert CliRunner().invoke(app, [str(src), "-o", str(out), "--resume", "-q"]).exit_code == 0
    clean = tmp_path / "clean.jsonl"
    assert CliRunner().invoke(app, [str(src), "-o", str(clean), "-q"]).exit_code == 0
    assert out.read_bytes() == clean.read_bytes() and out.read_text().count("\n") == len(ids)


def test_jsonl_on_stdin_is_streamed_in_input_order(tmp_path):
    lines = "".join(json.dumps({"id": f"s{i}", "text": REPORTS[i % 3]}) + "\n" for i in range(40))
    res = CliRunner().invoke(app, ["-", "-o", "-", "-q", "--workers", "2", "--chunk-size", "6"], input=lines)
    assert res.exit_code == 0, res.output
    assert [line.split('"')[3] for line in res.stdout.splitlines()] == [f"s{i}" for i in range(40)]


def test_column_errors_come_before_spacy_loads(tmp_path):
    """The header is checked when the input is opened: a wrong column fails at once, without loading spaCy."""
    import subprocess
    import sys

    write_csv(tmp_path / "r.csv", 3)
    code = ("import sys; from asg_parse import cli; sys.argv = ['asg-parse', 'r.csv', '-o', 'o.jsonl', '--text-col', "
            "'body']\ntry:\n    cli.main()\nexcept SystemExit as exc:\n    print(exc.code, 'spacy' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert res.stdout.split() == ["2", "False"]
    assert res.stderr == "error: r.csv: no column 'body' (columns: id, report)\n"
    assert not (tmp_path / "o.jsonl.partial").exists()
