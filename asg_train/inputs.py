"""Read and validate the pre-training inputs: triplets JSONL, images manifest CSV, region boxes (CSV or scene graphs)."""
from __future__ import annotations

import csv
import io
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from pydantic import ValidationError

from asg_parse.files import decoded_lines, utf8_text
from asg_parse.schema import ParsedReport

log = logging.getLogger("asg_train")

DICOM_SUFFIXES = {".dcm", ".dicom"}
# A box that sticks out of the image (Chest ImaGenome has negative and beyond-size coordinates) is clipped to the
# image and kept, unless what is left inside covers less than this many original pixels (8 x 8): then it is
# dropped. Boxes inside the image are kept whatever their size.
MIN_BOX_AREA_PX = 64.0
TEXT_RULES = Path(__file__).parent / "data" / "text.yaml"


def text_rules() -> dict:
    """The training-text rules of asg_train/data/text.yaml: {"sections": [...], "drop_sentences": [...]}."""
    import yaml

    return yaml.safe_load(TEXT_RULES.read_text(encoding="utf-8"))


class InputError(ValueError):
    """A fatal input problem (missing file, missing column), with a one-line message naming the file."""


@dataclass
class Skip:
    """One skipped input item, written as a row of skipped.csv."""

    kind: str  # report | image | box | region | tag | line
    source: str  # file:line
    id: str
    detail: str
    reason: str


@dataclass
class Report:
    """A report: text rebuilt from the parsed sentences (original offsets kept), region spans and tag values."""

    id: str
    text: str
    spans: np.ndarray  # [S, 3] int32 rows (region index, char start, char end)
    tags: np.ndarray  # [T] int8: 1 present, 0 absent, -1 uncertain, -2 not mentioned


@dataclass
class ImageItem:
    """An image of a report; boxes in original pixels, NaN where the region has no box."""

    report: int
    id: str
    path: Path
    width: int
    height: int
    boxes: np.ndarray  # [R, 4] float32 x1,y1,x2,y2 in original pixels (NaN: none); atlas boxes are normalised


@dataclass
class Inputs:
    """Validated inputs plus everything that was skipped and why."""

    reports: list[Report]
    images: list[ImageItem]
    regions: list[str]
    tags: list[str]
    box_source: str  # "csv" | "scene-graph" | "atlas"
    skipped: list[Skip] = field(default_factory=list)
    box_counts: Counter = field(default_factory=Counter)  # kept, clipped (kept after clipping), dropped

    def summary(self) -> str:
        """A short human summary with counts per skip reason and of clipped/dropped boxes."""
        lines = [f"{len(self.reports)} reports, {len(self.images)} images, boxes from {self.box_source}"]
        if self.box_source != "atlas":
            c = self.box_counts
            lines.append(f"  boxes: {c['kept']} kept ({c['clipped']} clipped to the image), {c['dropped']} dropped "
                         f"(clipped area under {MIN_BOX_AREA_PX:g} px)")
        counts = Counter((s.kind, s.reason) for s in self.skipped)
        for (kind, reason), n in sorted(counts.items()):
            plural = ("es" if kind.endswith("x") else "s") if n > 1 else ""
            lines.append(f"  skipped {n} {kind}{plural}: {reason}")
        return "\n".join(lines)

    def write_skipped(self, path: Path) -> None:
        """Write DIR/skipped.csv (header only when nothing was skipped)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["kind", "source", "id", "detail", "reason"])
            for s in self.skipped:
                w.writerow([s.kind, s.source, s.id, s.detail, s.reason])


def _training_text(rep: ParsedReport, sections: set[str], drop: set[str]) -> Optional[tuple[str, dict[int, int]]]:
    """The kept sentences (in `sections`, not boilerplate) joined by single spaces, and {sentence index: offset of
    that sentence in the joined text}; None if the parser's offsets do not match its sentence texts."""
    parts, where, pos = [], {}, 0
    for i, s in enumerate(rep.sentences):
        if s.start < 0 or s.end - s.start != len(s.text):
            return None
        if s.section not in sections or s.text.strip().rstrip(".:;").strip().lower() in drop:
            continue
        where[i] = pos
        parts.append(s.text)
        pos += len(s.text) + 1
    return " ".join(parts), where


def read_triplets(path: Path, regions: list[str], tags: list[str], skipped: list[Skip],
                  sections: Optional[list[str]] = None) -> dict[str, Report]:
    """Read asg-parse JSONL into Reports keyed by id; bad lines and entries are recorded in `skipped`.

    The text of a report is its sentences of `sections` (default: text.yaml's FINDINGS and IMPRESSION), without
    boilerplate sentences; region spans point into that text, and regions described only elsewhere get none."""
    rules = text_rules()
    keep = set(sections if sections is not None else rules["sections"])
    drop = {d.lower() for d in rules.get("drop_sentences") or []}
    if not path.is_file():
        raise InputError(f"{path}: triplets file not found")
    r_index = {r: i for i, r in enumerate(regions)}
    t_index = {t: i for i, t in enumerate(tags)}
    out: dict[str, Report] = {}
    with path.open("rb") as fh:
        for lineno, line, bad in decoded_lines(fh):
            src = f"{path.name}:{lineno}"
            if bad:
                skipped.append(Skip("line", src, "", "line", "not valid UTF-8"))
                continue
            try:
                rep = ParsedReport.model_validate_json(line)
            except ValidationError as exc:
                err = exc.errors()[0]
                fld = ".".join(str(p) for p in err["loc"]) or "line"
                skipped.append(Skip("line", src, "", fld, f"invalid record: field '{fld}': {err['msg']}"))
                continue
            if rep.error:
                skipped.append(Skip("report", src, rep.id, rep.error[:200], "parser error"))
                continue
            if rep.id in out:
                skipped.append(Skip("report", src, rep.id, "", "duplicate report id"))
                continue
            built = _training_text(rep, keep, drop)
            if built is None:
                skipped.append(Skip("report", src, rep.id, "", "sentence offsets do not match sentence text"))
                continue
            text, where = built
            if not text:
                skipped.append(Skip("report", src, rep.id, "", f"no sentences in {'/'.join(sorted(keep))}"))
                continue
            rows = []
            for region, sent_ids in rep.region_sentences.items():
                if region not in r_index:
                    skipped.append(Skip("region", src, rep.id, region, "unknown region"))
                    continue
                for si in sent_ids:
                    if not 0 <= si < len(rep.sentences):
                        skipped.append(Skip("region", src, rep.id, f"{region}#{si}", "sentence index out of range"))
                        continue
                    if si in where:
                        rows.append((r_index[region], where[si], where[si] + len(rep.sentences[si].text)))
            vec = np.full(len(tags), -2, dtype=np.int8)
            for tag, value in rep.tags.items():
                if tag not in t_index:
                    skipped.append(Skip("tag", src, rep.id, tag, "unknown tag"))
                    continue
                vec[t_index[tag]] = value
            spans = np.array(sorted(set(rows)), dtype=np.int32).reshape(-1, 3)
            out[rep.id] = Report(rep.id, text, spans, vec)
    return out


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header; DICOM through pydicom."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        ds = read_dicom(path, header_only=True)
        return int(ds.Columns), int(ds.Rows)
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def read_dicom(path: Path, header_only: bool = False):
    """Read a DICOM file with pydicom (optional dependency, imported lazily)."""
    try:
        import pydicom
    except ImportError:
        raise InputError(f"{path}: DICOM input needs pydicom: pip install 'asg[dicom]'") from None
    return pydicom.dcmread(str(path), stop_before_pixels=header_only)


def _read_csv(path: Path, required: list[str], what: str) -> list[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise InputError(f"{path}: {what} file not found")
    reader = csv.DictReader(io.StringIO(utf8_text(path, InputError), newline=""))
    cols = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in required if c not in cols]
    if missing:
        raise InputError(f"{path}: {what} CSV needs column(s) {', '.join(missing)} (has: {', '.join(cols) or 'none'})")
    return [(i, {(k or "").strip(): (v or "").strip() for k, v in row.items()}) for i, row in enumerate(reader, 2)]


def read_images(path: Path, skipped: list[Skip]) -> list[tuple[str, str, Path, str]]:
    """Manifest rows as (report id, path as written, resolved path, source); missing files are skipped."""
    rows = []
    seen: set[Path] = set()
    for lineno, row in _read_csv(path, ["id", "path"], "images manifest"):
        src = f"{path.name}:{lineno}"
        if not row["id"] or not row["path"]:
            skipped.append(Skip("image", src, row["id"], row["path"], "empty id or path"))
            continue
        full = (path.parent / row["path"]).resolve()
        if full in seen:
            skipped.append(Skip("image", src, row["id"], row["path"], "duplicate image path"))
            continue
        seen.add(full)
        if not full.is_file():
            skipped.append(Skip("image", src, row["id"], row["path"], "image file not found"))
            continue
        rows.append((row["id"], row["path"], full, src))
    return rows


def _raw_boxes(path: Path, regions: set[str], skipped: list[Skip]) -> tuple[dict[str, list], str]:
    """Boxes keyed by image key (manifest path for CSV, image id for scene graphs): [(region, box, source)]."""
    out: dict[str, list] = {}
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise InputError(f"{path}: no scene-graph *.json files in the boxes directory")
        for f in files:
            try:
                sg = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                skipped.append(Skip("box", f.name, "", "", f"unreadable scene graph: {exc}"))
                continue
            key = str(sg.get("image_id") or f.stem.replace("_SceneGraph", ""))
            for j, obj in enumerate(sg.get("objects", [])):
                name = str(obj.get("bbox_name", ""))
                src = f"{f.name}:objects[{j}]"
                if name not in regions:
                    skipped.append(Skip("box", src, key, name, "unknown region"))
                    continue
                try:
                    box = [float(obj[f"original_{c}"]) for c in ("x1", "y1", "x2", "y2")]
                except (KeyError, TypeError, ValueError):
                    skipped.append(Skip("box", src, key, name, "missing or non-numeric original_x1..y2"))
                    continue
                out.setdefault(key, []).append((name, box, src))
        return out, "scene-graph"
    for lineno, row in _read_csv(path, ["path", "region", "x1", "y1", "x2", "y2"], "boxes"):
        src = f"{path.name}:{lineno}"
        if row["region"] not in regions:
            skipped.append(Skip("box", src, row["path"], row["region"], "unknown region"))
            continue
        try:
            box = [float(row[c]) for c in ("x1", "y1", "x2", "y2")]
        except ValueError:
            skipped.append(Skip("box", src, row["path"], row["region"], "non-numeric coordinate"))
            continue
        out.setdefault(row["path"], []).append((row["region"], box, src))
    return out, "csv"


def clip_box(box: list[float], width: int, height: int) -> tuple[Optional[list[float]], bool]:
    """(box clipped to the image, whether clipping changed it); None when clipping leaves a degenerate box or one
    covering less than MIN_BOX_AREA_PX original pixels."""
    x1, y1, x2, y2 = box
    c = [min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width), min(max(y2, 0.0), height)]
    changed = c != [float(v) for v in box]
    if c[2] <= c[0] or c[3] <= c[1] or (changed and (c[2] - c[0]) * (c[3] - c[1]) < MIN_BOX_AREA_PX):
        return None, True
    return c, changed


def load_inputs(triplets: Path, images: Path, boxes: Optional[Path], ontology=None,
                sections: Optional[list[str]] = None) -> Inputs:
    """Read, cross-check and validate every input up front; return the usable items and the skip list."""
    from anatomy_ontology import load_ontology

    onto = ontology if ontology is not None else load_ontology()
    unknown = [s for s in sections or () if s not in onto.sections]
    if unknown:  # else every report would be skipped for want of sentences
        raise InputError(f"text_sections: unknown section(s) {', '.join(map(repr, unknown))} (known: "
                         f"{', '.join(onto.sections)})")
    regions, tags = list(onto.region_order), list(onto.asg_tags)
    r_index = {r: i for i, r in enumerate(regions)}
    skipped: list[Skip] = []
    reports = read_triplets(Path(triplets), regions, tags, skipped, sections)
    box_counts: Counter = Counter()
    manifest = read_images(Path(images), skipped)
    raw_boxes, box_source = ({}, "atlas") if boxes is None else _raw_boxes(Path(boxes), set(regions), skipped)

    report_list = list(reports.values())
    rep_pos = {r.id: i for i, r in enumerate(report_list)}
    used_reports: set[str] = set()
    items: list[ImageItem] = []
    used_box_keys: set[str] = set()
    for rid, written, full, src in manifest:
        if rid not in reports:
            skipped.append(Skip("image", src, rid, written, "image without report"))
            continue
        try:
            w, h = _image_size(full)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - any decoder failure is a skip with its message
            skipped.append(Skip("image", src, rid, written, f"unreadable image: {type(exc).__name__}"))
            continue
        bx = np.full((len(regions), 4), np.nan, dtype=np.float32)
        if boxes is None:
            for region, box in onto.atlas.items():
                bx[r_index[region]] = box
        else:
            key = next((k for k in (written, str(full), full.name, full.stem) if k in raw_boxes), None)
            if key is None:
                skipped.append(Skip("image", src, rid, written, "image has no boxes (its regions are unused)"))
            else:
                used_box_keys.add(key)
                for region, box, bsrc in raw_boxes[key]:
                    if not (box[2] > box[0] and box[3] > box[1]):
                        box_counts["dropped"] += 1
                        skipped.append(Skip("box", bsrc, rid, f"{region} {box}", "empty box (x2 <= x1 or y2 <= y1)"))
                        continue
                    clipped, changed = clip_box(box, w, h)
                    if clipped is None:
                        box_counts["dropped"] += 1
                        skipped.append(Skip("box", bsrc, rid, f"{region} {box} in {w}x{h}", "box outside image"))
                        continue
                    box_counts["kept"] += 1
                    box_counts["clipped"] += int(changed)
                    bx[r_index[region]] = clipped
        used_reports.add(rid)
        items.append(ImageItem(rep_pos[rid], rid, full, w, h, bx))
    for key in sorted(set(raw_boxes) - used_box_keys):
        skipped.append(Skip("box", raw_boxes[key][0][2], key, f"{len(raw_boxes[key])} boxes", "boxes for an image not in the manifest"))
    for rep in report_list:
        if rep.id not in used_reports:
            skipped.append(Skip("report", triplets.name, rep.id, "", "report without images"))
    # keep only reports with images, re-index
    keep = [r for r in report_list if r.id in used_reports]
    new_pos = {r.id: i for i, r in enumerate(keep)}
    for it in items:
        it.report = new_pos[it.id]
    if boxes is None:
        log.warning("no --boxes given: using the approximate anatomy atlas prior (a frontal-film average) for every image")
    return Inputs(keep, items, regions, tags, box_source, skipped, box_counts)
