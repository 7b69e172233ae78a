"""Hash-keyed pre-training cache: memory-mapped uint8 images (longest side resized, centred padding), boxes, texts;
the token ids and region->token masks live beside them, keyed by the tokenizer (tokens.py)."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from asg_parse.files import utf8_text

from .inputs import DICOM_SUFFIXES, MIN_BOX_AREA_PX, Inputs, InputError, load_inputs, read_dicom, text_rules

log = logging.getLogger("asg_train")
CACHE_VERSION = 2


def _file_fingerprint(path: Optional[Path]) -> list:
    if path is None:
        return [None]
    path = Path(path)
    if path.is_dir():
        return sorted([p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in path.glob("*.json"))
    if not path.exists():
        return [str(path), None]
    data = path.read_bytes()
    return [hashlib.sha256(data).hexdigest()]


def cache_key(triplets: Path, images: Path, boxes: Optional[Path], image_size: int, ontology: Optional[Path],
              sections: Optional[list[str]] = None) -> str:
    """Hash of the input files' contents (images: manifest + each file's size and mtime) and the cache config
    (image side, training-text sections and rules, box clipping minimum)."""
    h = hashlib.sha256()
    parts = [CACHE_VERSION, image_size, _file_fingerprint(triplets), _file_fingerprint(images),
             _file_fingerprint(boxes), str(ontology) if ontology else None, sections, text_rules(), MIN_BOX_AREA_PX]
    if Path(images).is_file():
        for row in csv.DictReader(io.StringIO(utf8_text(images, InputError), newline="")):
            p = Path(images).parent / (row.get("path") or "")
            st = p.stat() if p.is_file() else None
            parts.append([row.get("path"), st.st_size if st else None, st.st_mtime_ns if st else None])
    if ontology is not None:
        parts.append(_file_fingerprint(Path(ontology)))
    h.update(json.dumps(parts, default=str).encode())
    return h.hexdigest()[:16]


def load_pixels(path: Path) -> "np.ndarray":
    """A grayscale uint8 [H, W] array from PNG/JPEG (8 or 16 bit) or DICOM (MONOCHROME1 inverted)."""
    from PIL import Image

    if path.suffix.lower() in DICOM_SUFFIXES:
        ds = read_dicom(path)
        arr = ds.pixel_array.astype(np.float32)
        if arr.ndim == 3:
            arr = arr[..., 0] if arr.shape[-1] in (3, 4) else arr[0]
        if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
            arr = arr.max() - arr
    else:
        with Image.open(path) as im:
            if im.mode in ("I;16", "I;16B", "I", "F"):
                arr = np.asarray(im, dtype=np.float32)
            else:
                return np.asarray(im.convert("L"), dtype=np.uint8)
    lo, hi = float(arr.min()), float(arr.max())
    return ((arr - lo) / max(hi - lo, 1e-6) * 255.0 + 0.5).astype(np.uint8)


def letterbox(arr: "np.ndarray", size: int) -> tuple["np.ndarray", float, float, float]:
    """Resize the longest side to `size`, pad to a centred square; returns (image, scale, offset x, offset y)."""
    from PIL import Image

    h, w = arr.shape
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    im = Image.fromarray(arr).resize((nw, nh), Image.BILINEAR)
    out = np.zeros((size, size), dtype=np.uint8)
    ox, oy = (size - nw) // 2, (size - nh) // 2
    out[oy:oy + nh, ox:ox + nw] = np.asarray(im)
    return out, scale, float(ox), float(oy)


@dataclass
class Cache:
    """An opened cache directory (read-only views)."""

    path: Path
    images: np.ndarray  # memmap [N, S, S] uint8
    boxes: np.ndarray  # [N, R, 4] float32 in cache pixels (NaN: no box)
    image_report: np.ndarray  # [N] int32
    report_ids: list[str]
    texts: list[str]
    spans: list[np.ndarray]  # per report [S, 3] (region, start, end)
    tags: np.ndarray  # [N_reports, T] int8 (1, 0, -1 uncertain, -2 not mentioned)
    regions: list[str]
    tag_names: list[str]
    box_source: str

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    @classmethod
    def open(cls, path: Path) -> "Cache":
        path = Path(path)
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        n, s = meta["n_images"], meta["image_size"]
        # copy-on-write: views are writable for torch.from_numpy, and nothing is ever written back to the file
        images = np.memmap(path / "images.u8", dtype=np.uint8, mode="c", shape=(n, s, s)) if n else np.zeros((0, s, s), np.uint8)
        texts, spans, ids = [], [], []
        with (path / "reports.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                ids.append(rec["id"])
                texts.append(rec["text"])
                spans.append(np.asarray(rec["spans"], dtype=np.int32).reshape(-1, 3))
        return cls(path, images, np.load(path / "boxes.npy"), np.load(path / "image_report.npy"), ids, texts, spans,
                   np.load(path / "tags.npy"), meta["regions"], meta["tags"], meta["box_source"])


def _write_cache(inputs: Inputs, dest: Path, image_size: int, workers: int) -> None:
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    n, r = len(inputs.images), len(inputs.regions)
    images = np.memmap(tmp / "images.u8", dtype=np.uint8, mode="w+", shape=(max(n, 1), image_size, image_size))
    boxes = np.full((n, r, 4), np.nan, dtype=np.float32)

    def one(i: int) -> None:
        item = inputs.images[i]
        try:
            arr = load_pixels(item.path)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"{item.path}: cannot decode image: {exc}") from None
        out, scale, ox, oy = letterbox(arr, image_size)
        images[i] = out
        if inputs.box_source == "atlas":
            boxes[i] = item.boxes * image_size
        else:
            boxes[i] = item.boxes * scale + np.array([ox, oy, ox, oy], dtype=np.float32)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(one, range(n)))
    images.flush()
    del images
    np.save(tmp / "boxes.npy", boxes)
    np.save(tmp / "image_report.npy", np.array([it.report for it in inputs.images], dtype=np.int32))
    np.save(tmp / "tags.npy", np.stack([rep.tags for rep in inputs.reports]) if inputs.reports
            else np.zeros((0, len(inputs.tags)), np.int8))
    with (tmp / "reports.jsonl").open("w", encoding="utf-8") as fh:
        for rep in inputs.reports:
            fh.write(json.dumps({"id": rep.id, "text": rep.text, "spans": rep.spans.tolist()}) + "\n")
    with (tmp / "images.csv").open("w", encoding="utf-8") as fh:
        fh.write("index,id,path\n")
        for i, it in enumerate(inputs.images):
            fh.write(f"{i},{json.dumps(it.id)},{json.dumps(str(it.path))}\n")
    meta = {"version": CACHE_VERSION, "n_images": n, "n_reports": len(inputs.reports), "image_size": image_size,
            "regions": inputs.regions, "tags": inputs.tags, "box_source": inputs.box_source,
            "box_counts": dict(inputs.box_counts)}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    inputs.write_skipped(tmp / "skipped.csv")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def prepare(triplets: Path, images: Path, boxes: Optional[Path], cache_dir: Path, image_size: int,
            ontology: Optional[Path] = None, workers: int = 4, echo=print, sections: Optional[list[str]] = None) -> Path:
    """Build (or reuse) the cache for these inputs; returns the keyed cache folder. Writes cache_dir/skipped.csv.

    image_size is the cached side (the training crop is taken from it); sections default to text.yaml's."""
    cache_dir = Path(cache_dir)
    key = cache_key(Path(triplets), Path(images), Path(boxes) if boxes else None, image_size, ontology, sections)
    dest = cache_dir / key
    if (dest / "meta.json").is_file():
        echo(f"reusing cache {dest}")
        shutil.copyfile(dest / "skipped.csv", cache_dir / "skipped.csv")
        return dest
    onto = None
    if ontology is not None:
        from anatomy_ontology import load_ontology

        onto = load_ontology(ontology)
    inputs = load_inputs(Path(triplets), Path(images), Path(boxes) if boxes else None, onto, sections)
    echo(inputs.summary())
    if inputs.skipped:
        echo(f"skipped items are listed in {cache_dir / 'skipped.csv'}")
    if not inputs.images:
        inputs.write_skipped(cache_dir / "skipped.csv")
        raise InputError(f"{images}: no usable image-report pairs (see {cache_dir / 'skipped.csv'})")
    _write_cache(inputs, dest, image_size, workers)
    shutil.copyfile(dest / "skipped.csv", cache_dir / "skipped.csv")
    echo(f"cache written to {dest}")
    return dest
