"""The downstream commands through the asg-train CLI: synth writes its files, bad input gives one-line errors."""
import csv
from pathlib import Path

from typer.testing import CliRunner

from asg_train.cli import app

runner = CliRunner()


def test_synth_command_writes_dataset(tmp_path: Path) -> None:
    res = runner.invoke(app, ["synth", "--n", "3", "--out", str(tmp_path / "ph"), "--size", "64", "--seed", "4"])
    assert res.exit_code == 0, res.output
    assert "wrote 3 phantoms" in res.output
    for name in ("images.csv", "boxes.csv", "reports.csv", "labels.csv", "findings.csv"):
        assert (tmp_path / "ph" / name).is_file()
    with open(tmp_path / "ph" / "images.csv", newline="") as fh:
        assert [r["id"] for r in csv.DictReader(fh)] == ["ph4-00000", "ph4-00001", "ph4-00002"]


def test_bad_inputs_give_one_line_errors(tmp_path: Path) -> None:
    res = runner.invoke(app, ["synth", "--n", "0", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "error: --n must be at least 1" in res.output and "Traceback" not in res.output
    (tmp_path / "taken").write_text("a file", encoding="utf-8")
    res = runner.invoke(app, ["synth", "--n", "2", "--out", str(tmp_path / "taken")])
    assert res.exit_code == 2 and "taken: exists and is not a folder" in res.output
    res = runner.invoke(app, ["splits", "--out", str(tmp_path / "s")])
    assert res.exit_code == 2 and "give at least one dataset folder" in res.output
    res = runner.invoke(app, ["splits", "--out", str(tmp_path / "s"), "--rsna", str(tmp_path)])
    assert res.exit_code == 2 and "no RSNA labels file found" in res.output
    bad = tmp_path / "bad.csv"
    bad.write_text("file,a\nx.png,1\n")
    res = runner.invoke(app, ["probe", "--checkpoint", "random", "--train", str(bad), "--val", str(bad),
                              "--test", str(bad)])
    assert res.exit_code == 2 and "line 1: header must be `path,<label>...`" in res.output
    res = runner.invoke(app, ["probe", "--checkpoint", "random", "--train", str(bad), "--val", str(bad),
                              "--test", str(bad), "--fractions", "0.1,2"])
    assert res.exit_code == 2 and "--fractions: 2.0 is not in (0, 1]" in res.output
    for command in (["probe", "--checkpoint", "random", "--train", str(bad), "--val", str(bad), "--test", str(bad)],
                    ["zeroshot", "--checkpoint", "random", "--test", str(bad), "--prompts", str(bad)]):
        res = runner.invoke(app, command + ["--json", str(tmp_path)])  # checked before the (long) run
        assert res.exit_code == 2 and "is a folder; give a file name" in res.output, command[0]
