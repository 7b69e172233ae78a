"""Tiny hand-built pre-training inputs (images, triplets JSONL, manifest, boxes) for tests and the speed benchmark."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

# Invented sentences (region ids, finding tag or None, existence); our own wording.
SENTENCES = [
    ("There is a small left pleural effusion.", ["left costophrenic angle"], "pleural effusion", 1),
    ("No right pleural effusion is seen.", ["right costophrenic angle"], "pleural effusion", 0),
    ("Patchy opacity in the right lower lobe could reflect atelectasis.", ["right lower lung zone"], "atelectasis", -1),
    ("The heart is mildly enlarged.", ["cardiac silhouette"], "cardiomegaly", 1),
    ("Heart size is within normal limits.", ["cardiac silhouette"], "cardiomegaly", 0),
    ("There is no pneumothorax.", ["right lung", "left lung"], "pneumothorax", 0),
    ("A nodule projects over the left upper lung.", ["left upper lung zone"], "nodule", 1),
    ("The lungs are clear.", ["right lung", "left lung"], None, 0),
    ("Mediastinal contours are unremarkable.", ["mediastinum"], None, 0),
    ("A right apical pneumothorax is present.", ["right apical zone"], "pneumothorax", 1),
]


def toy_record(rid: str, picks: list[int]) -> dict:
    """A triplets-JSONL record (asg-parse schema) for the chosen sentences, with consistent offsets."""
    sentences, region_sentences, tags, pos = [], {}, {}, 0
    for si, k in enumerate(picks):
        text, regions, tag, value = SENTENCES[k]
        sentences.append({"text": text, "start": pos, "end": pos + len(text), "section": "findings"})
        pos += len(text) + 1
        for r in regions:
            region_sentences.setdefault(r, []).append(si)
        if tag is not None:
            old = tags.get(tag)
            tags[tag] = 1 if 1 in (old, value) else (-1 if -1 in (old, value) else 0)
    return {"id": rid, "sentences": sentences, "triplets": [], "region_sentences": region_sentences,
            "tags": tags, "warnings": []}


def write_toy_dataset(root: Path, n: int = 8, size: int = 96, seed: int = 0, boxes: bool = True) -> dict[str, Path]:
    """Write images/*.png, triplets.jsonl, images.csv and (optionally) boxes.csv under `root`; returns their paths."""
    from PIL import Image

    from anatomy_ontology import load_ontology

    onto = load_ontology()
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    paths = {"triplets": root / "triplets.jsonl", "images": root / "images.csv", "boxes": root / "boxes.csv"}
    with paths["triplets"].open("w") as tj, paths["images"].open("w", newline="") as ic, \
            paths["boxes"].open("w", newline="") as bc:
        iw, bw = csv.writer(ic), csv.writer(bc)
        iw.writerow(["id", "path"])
        bw.writerow(["path", "region", "x1", "y1", "x2", "y2"])
        for i in range(n):
            rid = f"r{i:03d}"
            picks = sorted(rng.choice(len(SENTENCES), size=3, replace=False).tolist())
            tj.write(json.dumps(toy_record(rid, picks)) + "\n")
            h, w = size, int(size * rng.uniform(0.8, 1.2))
            side = max(h, w)
            ox, oy = (side - w) / 2, (side - h) / 2
            # each described region is drawn with a brightness that depends on its sentence, so images, regions
            # and sentences carry learnable, matching signal
            canvas = rng.normal(60.0, 8.0, (side, side))
            for k in picks:
                for region in SENTENCES[k][1]:
                    x1, y1, x2, y2 = (np.array(onto.atlas[region]) * side).astype(int)
                    canvas[y1:y2, x1:x2] = 0.5 * canvas[y1:y2, x1:x2] + 0.5 * (90 + 16 * k)
            img = np.clip(canvas[int(oy):int(oy) + h, int(ox):int(ox) + w], 0, 255).astype(np.uint8)
            rel = f"images/{rid}.png"
            Image.fromarray(img).save(root / rel)
            iw.writerow([rid, rel])
            for region, (x1, y1, x2, y2) in onto.atlas.items():
                bw.writerow([rel, region, *(round(v, 1) for v in (
                    max(0.0, x1 * side - ox), max(0.0, y1 * side - oy), min(w, x2 * side - ox), min(h, y2 * side - oy)))])
    if not boxes:
        paths["boxes"].unlink()
        del paths["boxes"]
    return paths
