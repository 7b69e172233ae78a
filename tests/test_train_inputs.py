"""Input validation (summary, counts, skipped.csv), the hash-keyed cache and its reuse, and CLI error lines."""
import csv
import json
import logging

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from asg_train.cache import Cache, prepare
from asg_train.cli import app
from asg_train.inputs import load_inputs
from asg_train.toy import toy_record, write_toy_dataset


@pytest.fixture()
def bad_inputs(tmp_path):
    paths = write_toy_dataset(tmp_path, n=4, size=80)
    with paths["triplets"].open("a") as fh:  # a report nobody imaged, and one naming an unknown region
        fh.write(json.dumps(toy_record("lonely", [0, 3])) + "\n")
        rec = toy_record("r_extra", [1])
        rec["region_sentences"]["left elbow"] = [0]
        fh.write(json.dumps(rec) + "\n")
        fh.write("{not json\n")
    Image.fromarray(np.zeros((50, 40), np.uint8)).save(tmp_path / "images" / "orphan.png")
    Image.fromarray(np.zeros((50, 40), np.uint8)).save(tmp_path / "images" / "extra.png")
    with paths["images"].open("a", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["no_such_report", "images/orphan.png"])
        w.writerow(["r_extra", "images/extra.png"])
        w.writerow(["r000", "images/missing.png"])
    with paths["boxes"].open("a", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["images/extra.png", "left lung", 10, 10, 30, 45])
        w.writerow(["images/extra.png", "right lung", 5, 5, 90, 45])  # image is 40 wide
        w.writerow(["images/extra.png", "left big toe", 1, 1, 5, 5])
    return paths


def test_validation_reports_every_problem_and_writes_skipped_csv(bad_inputs, tmp_path):
    inputs = load_inputs(bad_inputs["triplets"], bad_inputs["images"], bad_inputs["boxes"])
    assert len(inputs.images) == 5 and len(inputs.reports) == 5
    reasons = {(s.kind, s.reason) for s in inputs.skipped}
    assert ("report", "report without images") in reasons
    assert ("image", "image without report") in reasons
    assert ("image", "image file not found") in reasons
    assert ("box", "box outside image") in reasons
    assert ("box", "unknown region") in reasons
    assert ("region", "unknown region") in reasons
    assert any(k == "line" and "invalid record" in r for k, r in reasons)
    summary = inputs.summary()
    assert "5 reports, 5 images, boxes from csv" in summary
    assert "skipped 1 report: report without images" in summary
    assert "skipped 1 box: box outside image" in summary
    # the box outside the image is dropped, the good one is kept
    extra = next(i for i in inputs.images if i.id == "r_extra")
    regions = inputs.regions
    assert np.isnan(extra.boxes[regions.index("right lung")]).all()
    assert extra.boxes[regions.index("left lung")].tolist() == [10, 10, 30, 45]

    cache = prepare(bad_inputs["triplets"], bad_inputs["images"], bad_inputs["boxes"], tmp_path / "c", 32,
                    echo=lambda m: None)
    rows = list(csv.DictReader((tmp_path / "c" / "skipped.csv").open()))
    assert len(rows) == len(inputs.skipped)
    by_reason = {r["reason"]: r for r in rows}
    assert by_reason["box outside image"]["detail"].startswith("right lung [5.0, 5.0, 90.0, 45.0] in 40x50")
    assert by_reason["image without report"]["id"] == "no_such_report"
    assert by_reason["report without images"]["id"] == "lonely"
    assert Cache.open(cache).images.shape == (5, 32, 32)


def test_cache_is_reused_and_rekeyed(tmp_path):
    paths = write_toy_dataset(tmp_path, n=3, size=60)
    msgs = []
    a = prepare(paths["triplets"], paths["images"], paths["boxes"], tmp_path / "c", 32, echo=msgs.append)
    b = prepare(paths["triplets"], paths["images"], paths["boxes"], tmp_path / "c", 32, echo=msgs.append)
    assert a == b and msgs[-1].startswith("reusing cache")
    c = prepare(paths["triplets"], paths["images"], paths["boxes"], tmp_path / "c", 48, echo=msgs.append)
    assert c != a
    cache = Cache.open(a)
    # letterboxed: boxes rescaled into the padded square; text rebuilt at the parser's offsets
    assert np.nanmax(cache.boxes) <= 32 + 1e-4 and np.nanmin(cache.boxes) >= 0
    rec = json.loads(paths["triplets"].read_text().splitlines()[0])
    s = rec["sentences"][1]
    assert cache.texts[0][s["start"]:s["end"]] == s["text"]
    assert set(cache.spans[0][:, 1].tolist()) <= {x["start"] for x in rec["sentences"]}


def test_atlas_prior_is_used_and_warned(tmp_path, caplog):
    paths = write_toy_dataset(tmp_path, n=2, size=60, boxes=False)
    with caplog.at_level(logging.WARNING, logger="asg_train"):
        inputs = load_inputs(paths["triplets"], paths["images"], None)
    assert inputs.box_source == "atlas"
    assert "atlas" in caplog.text
    assert not np.isnan(inputs.images[0].boxes).any()


def test_scene_graph_boxes(tmp_path):
    paths = write_toy_dataset(tmp_path, n=2, size=60)
    sg = tmp_path / "sg"
    sg.mkdir()
    objs = [{"bbox_name": "left lung", "original_x1": 30, "original_y1": 5, "original_x2": 45, "original_y2": 50},
            {"bbox_name": "nowhere", "original_x1": 0, "original_y1": 0, "original_x2": 1, "original_y2": 1}]
    (sg / "r000_SceneGraph.json").write_text(json.dumps({"image_id": "r000", "objects": objs}))
    inputs = load_inputs(paths["triplets"], paths["images"], sg)
    assert inputs.box_source == "scene-graph"
    first = next(i for i in inputs.images if i.id == "r000")
    assert first.boxes[inputs.regions.index("left lung")].tolist() == [30, 5, 45, 50]
    reasons = [s.reason for s in inputs.skipped]
    assert "unknown region" in reasons and "image has no boxes (its regions are unused)" in reasons


def test_cli_gives_one_line_errors(tmp_path):
    paths = write_toy_dataset(tmp_path, n=2, size=60)
    bad = tmp_path / "bad.csv"
    bad.write_text("report,file\nr000,images/r000.png\n")
    res = CliRunner().invoke(app, ["prepare", "--triplets", str(paths["triplets"]), "--images", str(bad),
                                   "--cache", str(tmp_path / "c")])
    assert res.exit_code == 2
    assert "images manifest CSV needs column(s) id, path" in res.output
    assert "Traceback" not in res.output
    res = CliRunner().invoke(app, ["prepare", "--triplets", str(tmp_path / "nope.jsonl"), "--images",
                                   str(paths["images"]), "--cache", str(tmp_path / "c")])
    assert res.exit_code == 2 and "triplets file not found" in res.output
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("batch_sise: 3\n")
    res = CliRunner().invoke(app, ["pretrain", "--config", str(cfg)])
    assert res.exit_code == 2 and "batch_sise" in res.output
