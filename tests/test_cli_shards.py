"""--shard I/N and `asg-parse merge`: shards merge back to the bytes of one unsharded run, every record exactly once;
a killed shard resumes; missing, doubled and cut-off shards are one-line errors."""
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from asg_parse.cli import runner
from asg_parse.cli.app import app

from test_cli_parse import REPORTS, _console


@pytest.fixture(autouse=True)
def _pipelines_once(cli_pipeline):
    """Build each default pipeline once per session; a user ontology still loads its own."""


def invoke(*args: str):
    return CliRunner().invoke(app, [*args, "-q"])


def write_archive(path: Path, n: int) -> list[str]:
    """A CSV of invented reports with a repeated id and an empty one (their warnings name input record numbers)."""
    ids = [f"acc{i:04d}" for i in range(n)]
    ids[7] = ids[2]  # duplicate: "first used by record 3" in every shard
    ids[11] = ""  # empty: numbered 12
    rows = "".join(f'{rid},"{REPORTS[i % len(REPORTS)]}"\n' for i, rid in enumerate(ids))
    path.write_text("id,report\n" + rows, encoding="utf-8")
    return ids


@pytest.fixture(scope="module")
def archive(tmp_path_factory, asg_nlp):
    """The archive and the output of one unsharded run."""
    tmp = tmp_path_factory.mktemp("archive")
    src = tmp / "archive.csv"
    write_archive(src, 200)
    ref = tmp / "ref.jsonl"
    runner.set_pipeline(asg_nlp)
    assert invoke(str(src), "-o", str(ref), "--workers", "1").exit_code == 0
    return src, ref.read_bytes()


def run_shards(src: Path, tmp: Path, n: int) -> list[Path]:
    outs = []
    for i in range(1, n + 1):
        out = tmp / f"shard-{i}-of-{n}.jsonl"
        res = invoke(str(src), "-o", str(out), "--shard", f"{i}/{n}", "--workers", "1")
        assert res.exit_code == 0, res.output
        outs.append(out)
    return outs


def test_shards_hold_every_nth_record_and_merge_to_the_unsharded_bytes(tmp_path, archive):
    src, ref = archive
    lines = ref.splitlines(keepends=True)
    outs = run_shards(src, tmp_path, 3)
    for i, out in enumerate(outs):
        assert out.read_bytes() == b"".join(lines[i::3])  # input records i+1, i+4, ... byte for byte
        side = json.loads(Path(f"{out}.shard.json").read_text())
        assert (side["shard"], side["shards"], side["records"], side["input_records"]) == (i + 1, 3, len(lines[i::3]),
                                                                                        200)
    dup = json.loads(lines[7])
    assert dup["warnings"] == ["duplicate id 'acc0002' (first used by record 3)"]  # in shard 2, the first in shard 3
    assert json.loads(lines[11])["id"] == "12"
    merged = tmp_path / "merged.jsonl"
    res = invoke("merge", str(merged), *map(str, outs[::-1]))  # any order of the files
    assert res.exit_code == 0, res.output
    assert merged.read_bytes() == ref


def test_merge_names_a_missing_a_doubled_and_a_cut_off_shard(tmp_path, archive):
    src, ref = archive
    outs = run_shards(src, tmp_path, 4)
    merged = tmp_path / "merged.jsonl"

    def error(*files: Path) -> str:
        res = CliRunner().invoke(app, ["merge", str(merged), *map(str, files)])
        assert res.exit_code == 2 and not merged.exists() and not Path(f"{merged}.partial").exists()
        return res.stderr

    assert error(outs[0], outs[1], outs[3]) == (
        "error: shard 3/4 missing: input records 3, 7, 11, 15, 19, ... are in no file given\n")
    assert error(outs[0], outs[1], outs[2], outs[3], outs[1]) == (
        f"error: shard 2/4 given twice: {outs[1]} and {outs[1]} (input records 2, 6, 10, 14, 18, ... would be "
        "duplicated)\n")
    shard2 = outs[1].read_bytes().splitlines(keepends=True)
    outs[1].write_bytes(b"".join(shard2[:20]) + shard2[20][:30])  # killed mid-line, after its sidecar was written
    last = json.loads(shard2[19])["id"]
    assert error(*outs) == (f"error: {outs[1]}: shard 2/4 reaches a cut-off line after 20 of its 50 records after id "
                            f"'{last}': input records 82, ... missing\n")
    other = tmp_path / "other.csv"
    write_archive(other, 201)
    foreign = tmp_path / "foreign.jsonl"
    assert invoke(str(other), "-o", str(foreign), "--shard", "2/4", "--workers", "1").exit_code == 0
    assert error(outs[0], foreign, outs[2], outs[3]) == (
        f"error: {foreign} and {outs[0]} are not shards of one run: 2/4 of 201 input records vs 1/4 of 200\n")
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(ref)
    assert error(plain) == (f"error: {plain}: no sidecar plain.jsonl.shard.json; not the output of a finished "
                            "`asg-parse --shard I/N` run (finish an interrupted one with --resume)\n")


def test_a_killed_shard_resumes_and_merges_to_the_unsharded_bytes(tmp_path, asg_nlp):
    # an archive large enough that the shard is still parsing (hundreds of chunks) when its first records land
    src, ref_path = tmp_path / "big.csv", tmp_path / "ref.jsonl"
    write_archive(src, 4000)
    runner.set_pipeline(asg_nlp)
    assert invoke(str(src), "-o", str(ref_path), "--workers", "1").exit_code == 0
    ref = ref_path.read_bytes()
    outs = run_shards(src, tmp_path, 2)
    out = outs[1]
    out.unlink()
    Path(f"{out}.shard.json").unlink()
    partial = Path(f"{out}.partial")
    proc = subprocess.Popen(_console() + [str(src), "-o", str(out), "--shard", "2/2", "--workers", "1",
                                          "--chunk-size", "5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not (partial.exists() and partial.stat().st_size):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert not out.exists(), "the shard finished before it could be killed"
    kept = partial.read_bytes()
    cut = kept.rfind(b"\n", 0, len(kept) - 1) + 1
    partial.write_bytes(kept[:cut] + kept[cut:cut + 25])  # its last line cut off by the kill
    merged = tmp_path / "merged.jsonl"
    res = CliRunner().invoke(app, ["merge", str(merged), str(outs[0]), str(partial)])
    assert res.exit_code == 2 and "no sidecar" in res.stderr and "--resume" in res.stderr
    res = invoke(str(src), "-o", str(out), "--shard", "2/2", "--resume", "--workers", "2", "--chunk-size", "7")
    assert res.exit_code == 0, res.output
    assert invoke("merge", str(merged), str(outs[0]), str(out)).exit_code == 0
    assert merged.read_bytes() == ref


def test_resume_of_a_shard_refuses_another_shards_output(tmp_path, archive):
    src, ref = archive
    out = tmp_path / "s.jsonl"
    lines = ref.splitlines(keepends=True)
    Path(f"{out}.partial").write_bytes(b"".join(lines[1::3][:4]))  # shard 2/3's first records
    res = CliRunner().invoke(app, [str(src), "-o", str(out), "--shard", "1/3", "--resume"])
    assert res.exit_code == 2
    assert res.stderr == (f"error: {out}.partial: record 1 has id 'acc0001' but input record 1 is 'acc0000'; "
                          "cannot resume (remove the file to start over)\n")


@pytest.mark.parametrize("args, message", [
    (["--shard", "0/3"], "error: --shard: expected I/N with 1 <= I <= N (e.g. 3/8), got '0/3'"),
    (["--shard", "4/3"], "error: --shard: expected I/N with 1 <= I <= N (e.g. 3/8), got '4/3'"),
    (["--shard", "half"], "error: --shard: expected I/N with 1 <= I <= N (e.g. 3/8), got 'half'"),
])
def test_bad_shard_option_is_one_line(tmp_path, archive, args, message):
    src, _ = archive
    res = CliRunner().invoke(app, [str(src), "-o", str(tmp_path / "o.jsonl"), *args])
    assert (res.exit_code, res.stderr) == (2, message + "\n")
    res = CliRunner().invoke(app, [str(src), "-o", "-", "--shard", "1/2"])
    assert res.stderr == "error: --shard needs an output file (its sidecar goes next to it), not stdout\n"
