"""Input validation (summary, counts, skipped.csv), the hash-keyed cache and its reuse, and CLI error lines."""
import csv
import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from asg_train.cache import Cache, prepare
from asg_train.cli import app
from asg_train.inputs import InputError, load_inputs
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
    with paths["triplets"].open("ab") as fh:  # a line that is not UTF-8: flagged, the rest still read
        fh.write(json.dumps(toy_record("r_latin1", [0])).encode()[:-1] + b', "note": "\xe9"}\n')
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
        w.writerow(["images/extra.png", "right lung", 5, 5, 90, 45])  # image is 40 wide: clipped, kept
        w.writerow(["images/extra.png", "mediastinum", 37, 5, 90, 9])  # 3 x 4 px left inside: dropped
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
    assert ("line", "not valid UTF-8") in reasons
    summary = inputs.summary()
    assert "5 reports, 5 images, boxes from csv" in summary
    assert "skipped 1 report: report without images" in summary
    assert "skipped 1 box: box outside image" in summary
    assert "boxes: " in summary and "1 dropped" in summary
    # the overhanging box is clipped and kept, the sliver is dropped, the good one is kept as it is
    extra = next(i for i in inputs.images if i.id == "r_extra")
    regions = inputs.regions
    assert extra.boxes[regions.index("right lung")].tolist() == [5, 5, 40, 45]
    assert np.isnan(extra.boxes[regions.index("mediastinum")]).all()
    assert extra.boxes[regions.index("left lung")].tolist() == [10, 10, 30, 45]

    cache = prepare(bad_inputs["triplets"], bad_inputs["images"], bad_inputs["boxes"], tmp_path / "c", 32,
                    echo=lambda m: None)
    rows = list(csv.DictReader((tmp_path / "c" / "skipped.csv").open()))
    assert len(rows) == len(inputs.skipped)
    by_reason = {r["reason"]: r for r in rows}
    assert by_reason["box outside image"]["detail"].startswith("mediastinum [37.0, 5.0, 90.0, 9.0] in 40x50")
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


def test_scene_graph_boxes_outside_a_non_square_image_are_clipped_and_counted(tmp_path):
    from asg_train.inputs import MIN_BOX_AREA_PX

    paths = write_toy_dataset(tmp_path, n=2, size=60)
    Image.fromarray(np.full((50, 90), 120, np.uint8)).save(tmp_path / "images" / "r000.png")  # 90 wide, 50 high
    sg = tmp_path / "sg"
    sg.mkdir()

    def obj(name, x1, y1, x2, y2):
        return {"bbox_name": name, "original_x1": x1, "original_y1": y1, "original_x2": x2, "original_y2": y2}

    objs = [obj("right clavicle", -25, 2, 30, 12),  # x1 < 0 (a real Chest ImaGenome pattern): clipped, kept
            obj("left clavicle", 60, -4, 104, 12),  # beyond the width and above the top: clipped, kept
            obj("left lung", 50, 10, 80, 45),  # inside: untouched
            obj("right lung", 85, 20, 140, 60),  # 5 x 30 px left inside = 150 px: kept
            obj("trachea", 88, 20, 120, 40),  # 2 x 20 = 40 px left inside, under the minimum: dropped
            obj("spine", 100, 0, 130, 50)]  # entirely outside: dropped
    (sg / "r000_SceneGraph.json").write_text(json.dumps({"image_id": "r000", "objects": objs}))
    inputs = load_inputs(paths["triplets"], paths["images"], sg)
    r = inputs.regions
    boxes = next(i for i in inputs.images if i.id == "r000").boxes
    assert boxes[r.index("right clavicle")].tolist() == [0, 2, 30, 12]
    assert boxes[r.index("left clavicle")].tolist() == [60, 0, 90, 12]
    assert boxes[r.index("left lung")].tolist() == [50, 10, 80, 45]
    assert boxes[r.index("right lung")].tolist() == [85, 20, 90, 50]
    assert np.isnan(boxes[r.index("trachea")]).all() and np.isnan(boxes[r.index("spine")]).all()
    assert 2 * 20 < MIN_BOX_AREA_PX < 5 * 30
    assert dict(inputs.box_counts) == {"kept": 4, "clipped": 3, "dropped": 2}
    assert "boxes: 4 kept (3 clipped to the image), 2 dropped" in inputs.summary()
    # in the cache the clipped boxes are letterboxed like the image: scale 45/90, (45 - 25) / 2 = 10 px padding on top
    msgs = []
    cache = Cache.open(prepare(paths["triplets"], paths["images"], sg, tmp_path / "c", 45, echo=msgs.append))
    k = cache.report_ids.index("r000")
    img = int(np.nonzero(cache.image_report == k)[0][0])
    assert cache.boxes[img, r.index("right clavicle")].tolist() == pytest.approx([0, 11, 15, 16])
    assert any("2 dropped" in m for m in msgs)


def test_training_text_is_findings_and_impression_only(tmp_path):
    paths = write_toy_dataset(tmp_path, n=2, size=60)
    parts = [("examination", "CHEST PA AND LATERAL."), ("indication", "Cough and fever."),
             ("findings", "There is a small left pleural effusion."), ("findings", "The heart is mildly enlarged."),
             ("impression", "Left effusion."), ("impression", "FINAL REPORT")]
    sentences, pos = [], 0
    for section, text in parts:
        pos += 10  # headers between sentences
        sentences.append({"text": text, "start": pos, "end": pos + len(text), "section": section})
        pos += len(text)
    rec = {"id": "r000", "sentences": sentences, "triplets": [],
           "region_sentences": {"left costophrenic angle": [2, 4], "cardiac silhouette": [3], "trachea": [1]},
           "tags": {"pleural effusion": 1}, "warnings": []}
    lines = paths["triplets"].read_text().splitlines()
    lines[0] = json.dumps(rec)
    paths["triplets"].write_text("\n".join(lines) + "\n")
    inputs = load_inputs(paths["triplets"], paths["images"], paths["boxes"])
    rep = next(r for r in inputs.reports if r.id == "r000")
    assert rep.text == "There is a small left pleural effusion. The heart is mildly enlarged. Left effusion."
    spans = {(inputs.regions[g], rep.text[a:b]) for g, a, b in rep.spans.tolist()}
    assert spans == {("left costophrenic angle", "There is a small left pleural effusion."),
                     ("left costophrenic angle", "Left effusion."),
                     ("cardiac silhouette", "The heart is mildly enlarged.")}  # the trachea's INDICATION is out
    every = load_inputs(paths["triplets"], paths["images"], paths["boxes"],
                        sections=["examination", "indication", "findings", "impression"])
    assert next(r for r in every.reports if r.id == "r000").text.startswith("CHEST PA AND LATERAL. Cough")
    with pytest.raises(InputError, match=r"text_sections: unknown section\(s\) 'FINDINGS' \(known: findings"):
        load_inputs(paths["triplets"], paths["images"], paths["boxes"], sections=["FINDINGS"])


def test_token_table_is_keyed_by_tokenizer_and_truncates(tmp_path):
    from asg_train.dataset import Collator, PretrainDataset
    from asg_train.encoders import train_wordpiece
    from asg_train.tokens import tokenize_cache

    paths = write_toy_dataset(tmp_path, n=4, size=60)
    cache = Cache.open(prepare(paths["triplets"], paths["images"], paths["boxes"], tmp_path / "c", 32,
                               echo=lambda m: None))
    small, large = train_wordpiece(cache.texts, 60), train_wordpiece(cache.texts, 400)
    a = tokenize_cache(cache, small, 112, echo=lambda m: None)
    b = tokenize_cache(cache, large, 112, echo=lambda m: None)
    c = tokenize_cache(cache, large, 8, echo=lambda m: None)
    assert len({a.path, b.path, c.path}) == 3 and tokenize_cache(cache, large, 112).path == b.path
    enc = large(cache.texts[1])
    assert b.ids[1, :b.lengths[1]].tolist() == enc["input_ids"]
    assert c.lengths.max() == 8 and c.ids[1, :8].tolist() == large(cache.texts[1], truncation=True, max_length=8)["input_ids"]
    # the collate reads the table: every token of a region's sentence carries that region's bit
    batch = Collator(b)([PretrainDataset(cache)[i] for i in range(4)])
    g, start, end = cache.spans[1][0].tolist()
    offsets = large(cache.texts[1], return_offsets_mapping=True)["offset_mapping"]
    inside = [t for t, (s0, e0) in enumerate(offsets) if e0 > s0 and s0 < end and e0 > start]
    row = int((batch["report"] == 1).nonzero()[0, 0])
    assert sorted(batch["region_tokens"][row, g].nonzero()[:, 0].tolist()) == inside
    rt = batch["region_tokens"]  # same_text: regions described by exactly the same tokens (both lungs, say)
    assert torch.equal(batch["same_text"], (rt.unsqueeze(2) == rt.unsqueeze(1)).all(-1))
    assert (batch["same_text"].sum((1, 2)) > 29).all()  # the toy reports give some regions shared sentences


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
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(b"id,path\nr000,images/r\xe9000.png\n")  # a manifest saved in Latin-1
    res = CliRunner().invoke(app, ["prepare", "--triplets", str(paths["triplets"]), "--images", str(latin1),
                                   "--cache", str(tmp_path / "c")])
    assert res.exit_code == 2 and "latin1.csv: line 2: not valid UTF-8" in " ".join(res.output.split())
    for option, value, message in (("--batch-size", "0", "'batch_size': Input should be greater than or equal to 1"),
                                   ("--warmup-fraction", "1.5", "'warmup_fraction': Input should be less than 1"),
                                   ("--lr", "-1e-4", "'lr': Input should be greater than 0")):
        res = CliRunner().invoke(app, ["pretrain", "--triplets", str(paths["triplets"]), "--images",
                                       str(paths["images"]), "--out", str(tmp_path / "r"), option, value])
        assert res.exit_code == 2 and message in " ".join(res.output.split()), (option, res.output)
    taken = tmp_path / "taken.txt"
    taken.write_text("a file", encoding="utf-8")
    for args in (["prepare", "--triplets", str(paths["triplets"]), "--images", str(paths["images"]), "--cache",
                  str(taken)],
                 ["pretrain", "--triplets", str(paths["triplets"]), "--images", str(paths["images"]), "--out",
                  str(taken)],
                 ["splits", "--out", str(taken), "--covidx", str(tmp_path)]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2 and "taken.txt: exists and is not a folder" in " ".join(res.output.split()), \
            (args[0], res.output)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("batch_sise: 3\n")
    res = CliRunner().invoke(app, ["pretrain", "--config", str(cfg)])
    assert res.exit_code == 2 and "batch_sise" in res.output


def test_asg_train_imports_only_the_schema_and_file_readers_of_asg_parse():
    import subprocess
    import sys

    code = ("import sys; import asg_train.cli, asg_train.train, asg_train.export, asg_train.probe, asg_train.zeroshot, "
            "asg_train.splits, asg_train.synth; "
            "print(sorted(m for m in sys.modules if m.startswith('asg_parse')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(out) == ["asg_parse", "asg_parse.files", "asg_parse.schema"]
