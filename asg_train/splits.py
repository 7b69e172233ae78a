"""The paper's downstream splits (CheXpert, RSNA Pneumonia, SIIM, COVIDx, NIH ChestX-ray14) from the downloads.

Expected input layouts (the dataset folder given to each option; file names are tried in the order listed in
`asg_train/data/datasets.yaml`):

- CheXpert (`--chexpert`, e.g. `CheXpert-v1.0-small/`): `train.csv` and `valid.csv` with the official columns
  `Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,...,Pleural Effusion,...`. `Path` is relative to the folder above
  the dataset folder (it starts with the dataset folder's name) or to the dataset folder itself. Labels 1/0/-1/blank.
- RSNA Pneumonia (`--rsna`): `stage_2_train_labels.csv` (`patientId,x,y,width,height,Target`, one row per box;
  an image is positive when any row has Target 1) and `stage_2_train_images/<patientId>.dcm`.
- SIIM-ACR Pneumothorax (`--siim`): `train-rle.csv` (`ImageId,EncodedPixels`; `-1` means no pneumothorax) and the
  images anywhere below the folder as `<ImageId>.dcm` (or .png/.jpg), found by a recursive search.
- COVIDx (`--covidx`): `train.txt` and `val.txt` (or `test.txt`), space separated `patient_id filename label
  [source]`, images in `train/` and `val/` (or `test/`), or anywhere below the folder.
- NIH ChestX-ray14 (`--nih`): `Data_Entry_2017_v2020.csv` (`Image Index,Finding Labels,...`, labels joined by
  `|`, `No Finding` for none), `train_val_list.txt`, `test_list.txt`, images below the folder (`images/` or the
  `images_001/images/...` parts), found by a recursive search.

Rules (paper protocol): CheXpert: the official validation set is the test set and 5,000 training images form the
validation set (frontal views only, five competition classes). RSNA and SIIM: 70/15/15 at random. COVIDx and NIH:
the official validation (COVIDx) / test (NIH) list is the test set and about 10% of the training list is
validation, drawn as whole patients (COVIDx: the patient_id column; NIH: `Patient ID`, else the image name's
prefix), so that no patient is on both sides.
Every dataset also gets `train_1pct.csv` and `train_10pct.csv` (fixed seed). Output per dataset in `OUT/<name>/`:
`train.csv`, `val.csv`, `test.csv` and the subsets as `path,label...` (multi-label 0/1 columns) or `path,label`
(COVIDx, class names), image paths relative to the CSV.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import yaml

from asg_parse.files import folder_problem, utf8_text

from .probe import subset_indices

CONFIG = Path(__file__).parent / "data" / "datasets.yaml"
IMAGE_SUFFIXES = (".dcm", ".png", ".jpg", ".jpeg")


class SplitError(ValueError):
    """A missing or malformed download file, with a one-line message naming the file/line/field."""


@dataclass
class Split:
    """One dataset's splits: rows of (absolute image path, label values) and the label header."""

    name: str
    header: list[str]
    train: list[tuple[Path, list[str]]]
    val: list[tuple[Path, list[str]]]
    test: list[tuple[Path, list[str]]]
    notes: list[str] = field(default_factory=list)


@lru_cache(maxsize=2)
def load_config(path: Optional[str] = None) -> dict[str, Any]:
    """The dataset rules (datasets.yaml)."""
    return yaml.safe_load(Path(path or CONFIG).read_text(encoding="utf-8"))


def _find(root: Path, names: Sequence[str], what: str) -> Path:
    for n in names:
        if (root / n).exists():
            return root / n
    raise SplitError(f"{root}: no {what} file found (looked for {', '.join(names)})")


def _text(path: Path) -> str:
    """A dataset file's text; SplitError (file and line) when it cannot be read or is not UTF-8."""
    try:
        return utf8_text(path, SplitError)
    except OSError as exc:
        raise SplitError(f"{path}: cannot read: {exc.strerror}") from None


def _read_csv(path: Path, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(_text(path), newline=""))
    fields = [f.strip() for f in (reader.fieldnames or [])]
    missing = [c for c in required if c not in fields]
    if missing:
        raise SplitError(f"{path}: line 1: missing column(s) {', '.join(missing)} (has {', '.join(fields)})")
    return [(i + 2, {(k or "").strip(): (v or "").strip() for k, v in row.items()}) for i, row in enumerate(reader)]


def _read_list(path: Path) -> list[str]:
    return [ln.strip() for ln in _text(path).splitlines() if ln.strip()]


class _Images:
    """Finds images by file name (or stem) anywhere below a folder; falls back to a default folder."""

    def __init__(self, root: Path, default_dirs: Sequence[str]):
        self.root = root
        self.default = next((root / d for d in default_dirs if (root / d).is_dir()), root / default_dirs[0])
        self._index: Optional[dict[str, Path]] = None
        self.missing = 0

    def _build(self) -> dict[str, Path]:
        index: dict[str, Path] = {}
        for dirpath, _, files in os.walk(self.root):
            for f in files:
                if f.lower().endswith(IMAGE_SUFFIXES):
                    p = Path(dirpath) / f
                    index.setdefault(f, p)
                    index.setdefault(Path(f).stem, p)
        return index

    def get(self, name: str, suffix: str = "", fallback: Optional[Path] = None) -> Path:
        """The image's path; when it is not found, `fallback` (default: the default folder) and a count."""
        if self._index is None:
            self._index = self._build()
        hit = self._index.get(name + suffix) or self._index.get(name)
        if hit is None:
            self.missing += 1
            return (fallback or self.default) / (name + suffix)
        return hit


def _split_fixed(n: int, proportions: Sequence[float], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random train/val/test indices with the given proportions (test gets the rounding remainder)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(n * proportions[0]))
    n_val = int(round(n * proportions[1]))
    return np.sort(perm[:n_train]), np.sort(perm[n_train:n_train + n_val]), np.sort(perm[n_train + n_val:])


def _holdout(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, held-out k) indices at random."""
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[k:]), np.sort(perm[:k])


def _holdout_patients(patients: Sequence[str], fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, held-out) indices with whole patients held out, in a seeded random patient order, until about
    `fraction` of the images are held out: no patient has images on both sides."""
    names = sorted(set(patients))
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    count: dict[str, int] = {}
    for p in patients:
        count[p] = count.get(p, 0) + 1
    target, held_patients, held = int(round(len(patients) * fraction)), set(), 0
    for p in order:
        if held >= target:
            break
        held_patients.add(p)
        held += count[p]
    is_held = np.array([p in held_patients for p in patients], dtype=bool)
    return np.nonzero(~is_held)[0], np.nonzero(is_held)[0]


# ----------------------------------------------------------------------------------------------- datasets
def chexpert(root: Path, cfg: dict[str, Any], seed: int) -> Split:
    c = cfg["chexpert"]
    classes: dict[str, int] = c["classes"]
    train_csv, valid_csv = _find(root, c["train"], "CheXpert train"), _find(root, c["valid"], "CheXpert valid")

    def rows(path: Path) -> list[tuple[Path, list[str]]]:
        out = []
        for line, r in _read_csv(path, ["Path", *classes]):
            if c.get("frontal_only", True) and r.get("Frontal/Lateral", "Frontal") != "Frontal":
                continue
            labels = []
            for cls, uncertain in classes.items():
                raw = r[cls]
                try:
                    v = float(raw) if raw else 0.0
                except ValueError:
                    raise SplitError(f"{path}: line {line}: field '{cls}': expected 1, 0, -1 or blank, got {raw!r}") \
                        from None
                if v not in (1.0, 0.0, -1.0):
                    raise SplitError(f"{path}: line {line}: field '{cls}': expected 1, 0, -1 or blank, got {raw!r}")
                labels.append(str(int(uncertain if v == -1.0 else v)))
            p = Path(r["Path"])
            img = root.parent / p if p.parts and p.parts[0] == root.name else root / p
            out.append((img, labels))
        return out

    train_rows = rows(train_csv)
    k = int(c["val_size"])
    if len(train_rows) <= k:
        raise SplitError(f"{train_csv}: {len(train_rows)} frontal training images, need more than the {k} "
                         f"held out for validation")
    rest, held = _holdout(len(train_rows), k, seed)
    return Split("chexpert", list(classes), [train_rows[i] for i in rest], [train_rows[i] for i in held],
                 rows(valid_csv))


def rsna(root: Path, cfg: dict[str, Any], seed: int) -> Split:
    c = cfg["rsna"]
    path = _find(root, c["labels"], "RSNA labels")
    label: dict[str, int] = {}
    for line, r in _read_csv(path, ["patientId", "Target"]):
        if r["Target"] not in ("0", "1"):
            raise SplitError(f"{path}: line {line}: field 'Target': expected 0 or 1, got {r['Target']!r}")
        label[r["patientId"]] = max(label.get(r["patientId"], 0), int(r["Target"]))
    img_dir = next((root / d for d in c["images"] if (root / d).is_dir()), root / c["images"][0])
    ids = list(label)
    items = [(img_dir / f"{pid}{c['suffix']}", [str(label[pid])]) for pid in ids]
    tr, va, te = _split_fixed(len(items), c["proportions"], seed)
    return Split("rsna", [c["class"]], [items[i] for i in tr], [items[i] for i in va], [items[i] for i in te])


def siim(root: Path, cfg: dict[str, Any], seed: int) -> Split:
    c = cfg["siim"]
    path = _find(root, c["labels"], "SIIM labels")
    label: dict[str, int] = {}
    for line, r in _read_csv(path, ["ImageId", "EncodedPixels"]):
        enc = r["EncodedPixels"]
        if not enc:
            raise SplitError(f"{path}: line {line}: field 'EncodedPixels': empty (use -1 for no pneumothorax)")
        label[r["ImageId"]] = max(label.get(r["ImageId"], 0), int(enc != "-1"))
    images = _Images(root, c["images"])
    items = [(images.get(iid, c["suffix"]), [str(y)]) for iid, y in label.items()]
    tr, va, te = _split_fixed(len(items), c["proportions"], seed)
    notes = [f"{images.missing} SIIM images not found below {root}; their paths use {images.default}"] \
        if images.missing else []
    return Split("siim", [c["class"]], [items[i] for i in tr], [items[i] for i in va], [items[i] for i in te],
                 notes)


def _covidx_rows(path: Path, images: _Images, folder: str) -> list[tuple[Path, list[str], str]]:
    """(image, [label], patient id) per line."""
    out = []
    for line, text in enumerate(_text(path).splitlines(), start=1):
        if not text.strip():
            continue
        parts = text.split()
        if len(parts) < 3:
            raise SplitError(f"{path}: line {line}: expected `patient_id filename label [source]`, got {text!r}")
        fname, label = parts[1], parts[2]
        out.append((images.get(fname, fallback=images.root / folder), [label], parts[0]))
    return out


def covidx(root: Path, cfg: dict[str, Any], seed: int) -> Split:
    c = cfg["covidx"]
    train_txt, test_txt = _find(root, c["train"], "COVIDx train list"), _find(root, c["test"], "COVIDx test list")
    images = _Images(root, c["train_images"])
    test_folder = next((d for d in c["test_images"] if test_txt.stem.startswith(d)), c["test_images"][-1])
    train_rows = _covidx_rows(train_txt, images, c["train_images"][0])
    test_rows = [(p, y) for p, y, _ in _covidx_rows(test_txt, images, test_folder)]
    rest, held = _holdout_patients([pid for _, _, pid in train_rows], c["val_fraction"], seed)
    notes = [f"test set: {test_txt.name}", "val: whole patients held out of the training list"]
    if images.missing:
        notes.append(f"{images.missing} COVIDx images not found below {root}")
    return Split("covidx", ["label"], [train_rows[i][:2] for i in rest], [train_rows[i][:2] for i in held], test_rows,
                 notes)


def nih(root: Path, cfg: dict[str, Any], seed: int) -> Split:
    c = cfg["nih"]
    classes: list[str] = c["classes"]
    entries = _find(root, c["entries"], "NIH data entry")
    train_list = _read_list(_find(root, c["train"], "NIH train_val list"))
    test_list = _read_list(_find(root, c["test"], "NIH test list"))
    labels: dict[str, list[str]] = {}
    patient: dict[str, str] = {}
    known = set(classes) | {"No Finding"}
    for line, r in _read_csv(entries, ["Image Index", "Finding Labels"]):
        # the patient: the Patient ID column, else the image name's prefix (00000001_000.png -> 00000001)
        patient[r["Image Index"]] = (r.get("Patient ID") or "").strip() or r["Image Index"].split("_")[0]
        found = [x.strip() for x in r["Finding Labels"].split("|") if x.strip()]
        bad = [x for x in found if x not in known]
        if bad:
            raise SplitError(f"{entries}: line {line}: field 'Finding Labels': unknown label(s) {', '.join(bad)}")
        labels[r["Image Index"]] = [str(int(cls in found)) for cls in classes]
    images = _Images(root, c["images"])

    def rows(names: list[str], what: str) -> list[tuple[Path, list[str]]]:
        missing = [n for n in names if n not in labels]
        if missing:
            raise SplitError(f"{what}: {len(missing)} image(s) not in {entries.name}, e.g. {missing[0]}")
        return [(images.get(n), labels[n]) for n in names]

    train_rows = rows(train_list, "NIH train_val list")
    rest, held = _holdout_patients([patient[n] for n in train_list], c["val_fraction"], seed)
    notes = ["val: whole patients held out of train_val_list"]
    notes += [f"{images.missing} NIH images not found below {root}"] if images.missing else []
    return Split("nih", classes, [train_rows[i] for i in rest], [train_rows[i] for i in held],
                 rows(test_list, "NIH test list"), notes)


DATASETS: dict[str, Callable[[Path, dict[str, Any], int], Split]] = {
    "chexpert": chexpert, "rsna": rsna, "siim": siim, "covidx": covidx, "nih": nih}


# ----------------------------------------------------------------------------------------------- writing
def _write(path: Path, header: list[str], rows: list[tuple[Path, list[str]]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.parent.resolve()
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["path", *header])
        for img, labels in rows:
            try:
                rel = os.path.relpath(Path(img).resolve(), base)
            except ValueError:  # another drive on Windows
                rel = str(Path(img).resolve())
            w.writerow([rel, *labels])


def write_split(split: Split, out: Path, fractions: Sequence[float], seed: int) -> dict[str, int]:
    """Write train/val/test and the fixed-seed training subsets; returns the row counts per file."""
    d = out / split.name
    counts = {}
    for name, rows in (("train", split.train), ("val", split.val), ("test", split.test)):
        _write(d / f"{name}.csv", split.header, rows)
        counts[name] = len(rows)
    for frac in fractions:
        idx = subset_indices(len(split.train), frac, seed)
        name = f"train_{frac * 100:g}pct"
        _write(d / f"{name}.csv", split.header, [split.train[i] for i in idx])
        counts[name] = len(idx)
    return counts


def make_splits(roots: dict[str, Path], out: Path, seed: Optional[int] = None,
                config: Optional[str] = None) -> dict[str, dict[str, Any]]:
    """Build and write the splits of every dataset given; returns {dataset: {"counts", "notes"}}."""
    if problem := folder_problem(out):
        raise SplitError(f"--out {problem}")
    cfg = load_config(config)
    seed = int(cfg.get("seed", 0)) if seed is None else seed
    report: dict[str, dict[str, Any]] = {}
    for name, root in roots.items():
        if name not in DATASETS:
            raise SplitError(f"unknown dataset '{name}' (known: {', '.join(DATASETS)})")
        root = Path(root)
        if not root.is_dir():
            raise SplitError(f"--{name}: {root} is not a folder")
        split = DATASETS[name](root, cfg, seed)
        report[name] = {"counts": write_split(split, Path(out), cfg.get("fractions", [0.01, 0.1]), seed),
                        "notes": split.notes}
    return report
