"""Synthetic frontal chest phantoms with findings, atlas boxes and template reports (`asg-train synth`).

Every phantom is drawn in a canonical frame whose coordinates (u right on the image, v down, both in 0..1) are the
ones of the ontology atlas; a small random pose (rotation, scale, shift) maps that frame onto the image, and the
region boxes are moved with it. Findings are drawn into the regions the report names, so a model can only learn
them from the images if the report's words reach it through the parser. Everything is a function of
(seed, image index): generating n images gives the first n of any larger run with the same seed.
"""
from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import numpy as np
import yaml

from asg_parse.files import folder_problem

TEMPLATES = Path(__file__).parent / "data" / "templates.yaml"
ZONES = ("upper", "mid", "lower")
SIDES = ("right", "left")  # patient side; the patient's right is on the image left
SIZES = ("small", "moderate", "large")


# ----------------------------------------------------------------------------------------------- data classes
@dataclass(frozen=True)
class Finding:
    """One drawn finding: its ontology id, where it is, and its drawing parameters."""

    kind: str
    side: Optional[str] = None
    zone: Optional[str] = None
    size: str = "moderate"
    params: tuple[float, ...] = ()
    count: int = 1

    def region(self) -> str:
        """The ontology region the finding is drawn in."""
        if self.kind == "cardiomegaly":
            return "cardiac silhouette"
        if self.kind == "tube":
            return "trachea"
        if self.kind == "pleural effusion":
            return f"{self.side} costophrenic angle"
        if self.kind == "pneumothorax":
            return f"{self.side} lung"
        if self.kind == "atelectasis":
            return f"{self.side} lower lung zone"
        return f"{self.side} {self.zone} lung zone"


@dataclass(frozen=True)
class Case:
    """Everything needed to render one phantom and write its report."""

    index: int
    pose: tuple[float, float, float, float]  # rotation (rad), scale, shift x, shift y (fractions of the image)
    heart_ctr: float  # cardiothoracic ratio drawn
    tissue: float  # soft-tissue brightness
    lung: float  # lung brightness
    contrast: float
    noise: float
    noise_seed: int
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    def without_findings(self) -> "Case":
        """The same patient, pose and noise with no finding drawn (heart at normal size)."""
        return replace(self, findings=(), heart_ctr=min(self.heart_ctr, 0.47))

    def labels(self, classes: list[str]) -> list[int]:
        kinds = {f.kind for f in self.findings}
        return [int(c in kinds) for c in classes]


@lru_cache(maxsize=4)
def load_templates(path: Optional[str] = None) -> dict[str, Any]:
    """The report templates (YAML), validated for the keys the generator uses."""
    p = Path(path) if path else TEMPLATES
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{p}: cannot read templates: {exc}") from None
    for key in ("zones", "findings", "normal", "hedges", "layouts", "headers", "indications",
                "impression_normal", "numbers", "sizes"):
        if key not in data:
            raise ValueError(f"{p}: missing top-level key '{key}'")
    for fid, entry in data["findings"].items():
        for key in ("prevalence", "present", "absent"):
            if key not in entry:
                raise ValueError(f"{p}: finding '{fid}': missing '{key}'")
        if fid not in DRAWERS:
            raise ValueError(f"{p}: finding '{fid}': no drawing rule (known: {', '.join(DRAWERS)})")
    return data


def classes(templates: Optional[dict[str, Any]] = None) -> list[str]:
    """The phantom finding classes (labels.csv columns), in template-file order."""
    return list((templates or load_templates())["findings"])


# ----------------------------------------------------------------------------------------------- sampling
def sample_case(seed: int, index: int, templates: Optional[dict[str, Any]] = None) -> Case:
    """Draw one phantom's anatomy, pose and findings from (seed, index)."""
    t = templates or load_templates()
    rng = np.random.default_rng([seed, index])
    pose = (float(rng.uniform(-0.06, 0.06)), float(rng.uniform(0.93, 1.05)),
            float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.03, 0.03)))
    findings: list[Finding] = []
    for kind, entry in t["findings"].items():
        if rng.random() >= float(entry["prevalence"]):
            continue
        side = SIDES[int(rng.integers(2))]
        size = SIZES[int(rng.integers(3))]
        if kind in ("opacity", "consolidation", "nodule"):
            zone = ZONES[int(rng.integers(3))]
        elif kind == "atelectasis":
            zone = "lower"
        else:
            zone = None
        count = int(rng.integers(1, 4)) if kind == "nodule" else 1
        params = tuple(float(x) for x in rng.uniform(0.0, 1.0, size=8))
        findings.append(Finding(kind, side if kind not in ("cardiomegaly", "tube") else None, zone, size,
                                params, count))
    cardio = next((f for f in findings if f.kind == "cardiomegaly"), None)
    if cardio is not None:
        ctr = {"small": 0.53, "moderate": 0.56, "large": 0.60}[cardio.size] + float(rng.uniform(-0.01, 0.01))
    else:
        ctr = float(rng.uniform(0.40, 0.48))
    return Case(index=index, pose=pose, heart_ctr=ctr, tissue=float(rng.uniform(0.45, 0.55)),
                lung=float(rng.uniform(0.16, 0.26)), contrast=float(rng.uniform(0.85, 1.15)),
                noise=float(rng.uniform(0.02, 0.04)), noise_seed=int(rng.integers(2**31)),
                findings=tuple(findings))


# ----------------------------------------------------------------------------------------------- geometry
def _pose_matrix(pose: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Canonical -> image affine map p' = A p + b (coordinates in 0..1)."""
    theta, scale, tx, ty = pose
    c, s = math.cos(theta), math.sin(theta)
    a = scale * np.array([[c, -s], [s, c]])
    center = np.array([0.5, 0.5])
    b = center - a @ center + np.array([tx, ty])
    return a, b


def case_boxes(case: Case, atlas: dict[str, tuple[float, float, float, float]], size: int
               ) -> dict[str, tuple[float, float, float, float]]:
    """Each atlas region's box moved with the phantom's pose, in pixels, clipped to the image."""
    a, b = _pose_matrix(case.pose)
    boxes = dict(atlas)
    if "cardiac silhouette" in boxes:  # the drawn heart, so cardiomegaly widens its box as on a real film
        hx, hy, rx, ry = _heart(case)
        boxes["cardiac silhouette"] = (hx - rx, hy - ry, hx + rx, hy + ry)
    out = {}
    for region, (x1, y1, x2, y2) in boxes.items():
        corners = np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]]) @ a.T + b
        lo = np.clip(corners.min(axis=0) * size, 0, size - 1)
        hi = np.clip(corners.max(axis=0) * size, 1, size)
        out[region] = (round(float(lo[0]), 1), round(float(lo[1]), 1), round(float(hi[0]), 1),
                       round(float(hi[1]), 1))
    return out


def _heart(case: Case) -> tuple[float, float, float, float]:
    """Heart ellipse centre and radii in the canonical frame (the chest is ~0.8 wide)."""
    rx = case.heart_ctr * 0.8 / 2
    return 0.52 + (rx - 0.18) * 0.5, 0.63, rx, 0.13


def _smooth(x: np.ndarray, edge: float) -> np.ndarray:
    """Soft step: 1 where x < 0, 0 where x > 0, over a band of width `edge`."""
    return 1.0 / (1.0 + np.exp(np.clip(x / edge, -30, 30)))


def _seg_dist(u: np.ndarray, v: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Distance from each grid point to a polyline."""
    d = np.full(u.shape, np.inf)
    for (x1, y1), (x2, y2) in zip(pts[:-1], pts[1:]):
        dx, dy = x2 - x1, y2 - y1
        t = np.clip(((u - x1) * dx + (v - y1) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
        d = np.minimum(d, np.hypot(u - (x1 + t * dx), v - (y1 + t * dy)))
    return d


def _field(rng: np.random.Generator, size: int, scale: int) -> np.ndarray:
    """A smooth random field in about [-1, 1] (bilinear upsampling of coarse noise)."""
    coarse = rng.standard_normal((scale + 1, scale + 1))
    x = np.linspace(0, scale, size)
    i = np.minimum(x.astype(int), scale - 1)
    f = x - i
    rows = coarse[i] * (1 - f)[:, None] + coarse[i + 1] * f[:, None]
    return rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]


class _Canvas:
    """The canonical coordinate grid of one phantom plus its lung masks."""

    def __init__(self, case: Case, atlas: dict[str, tuple[float, float, float, float]], size: int):
        a, b = _pose_matrix(case.pose)
        ys, xs = np.mgrid[0:size, 0:size]
        img = np.stack([(xs + 0.5) / size, (ys + 0.5) / size], axis=-1) - b
        can = img @ np.linalg.inv(a).T
        self.u, self.v = can[..., 0], can[..., 1]
        self.size, self.atlas, self.case = size, atlas, case
        self.edge = 1.0 / size
        self.lung_level: dict[str, np.ndarray] = {}
        self.hemi_level: dict[str, np.ndarray] = {}
        hx, hy, hrx, hry = _heart(case)
        self.heart = _smooth(((self.u - hx) / hrx) ** 2 + ((self.v - hy) / hry) ** 2 - 1, 0.05)
        self.lung_mask: dict[str, np.ndarray] = {}
        for side in SIDES:
            x1, y1, x2, y2 = atlas[f"{side} lung"]
            cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
            # narrower towards the apex: the half-width shrinks with height
            taper = 0.75 + 0.25 * np.clip((self.v - y1) / (y2 - y1) * 2, 0, 1)
            level = (np.abs(self.u - cx) / (rx * taper)) ** 2.4 + (np.abs(self.v - cy) / ry) ** 2.4
            self.hemi_level[side] = level
            dome = self.dome(side)
            level = np.maximum(level, 1 + (self.v - dome) * 8)  # below the diaphragm is not lung
            self.lung_level[side] = level
            self.lung_mask[side] = _smooth(level - 1, 0.08) * (1 - 0.6 * self.heart)  # the heart hides lung

    def dome(self, side: str) -> np.ndarray:
        """The hemidiaphragm's upper edge (v) across u: highest mid-lung, lowest at the costophrenic angle."""
        x1, _, x2, y2 = self.atlas[f"{side} lung"]
        cx, rx = (x1 + x2) / 2, (x2 - x1) / 2
        return y2 - 0.09 + 0.07 * np.clip((self.u - cx) / rx, -1.2, 1.2) ** 2

    def zone_box(self, side: str, zone: str) -> tuple[float, float, float, float]:
        return self.atlas[f"{side} {zone} lung zone"]


# ----------------------------------------------------------------------------------------------- drawing
def _draw_opacity(cv: _Canvas, img: np.ndarray, f: Finding, rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = cv.zone_box(f.side, f.zone)
    p = f.params
    cx, cy = x1 + (0.3 + 0.4 * p[0]) * (x2 - x1), y1 + (0.3 + 0.4 * p[1]) * (y2 - y1)
    sig = 0.055 + 0.025 * p[2]
    blob = np.exp(-((cv.u - cx) ** 2 + (cv.v - cy) ** 2) / (2 * sig ** 2))
    img += (0.19 + 0.05 * p[3]) * blob * cv.lung_mask[f.side] * (1 + 0.3 * _field(rng, cv.size, 10))


def _draw_consolidation(cv: _Canvas, img: np.ndarray, f: Finding, rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = cv.zone_box(f.side, f.zone)
    p = f.params
    cx, cy = x1 + (0.35 + 0.3 * p[0]) * (x2 - x1), y1 + (0.35 + 0.3 * p[1]) * (y2 - y1)
    r = {"small": 0.055, "moderate": 0.075, "large": 0.095}[f.size]
    rx, ry = r * (1 + 0.3 * p[2]), r * (0.8 + 0.2 * p[3])
    d = np.sqrt(((cv.u - cx) / rx) ** 2 + ((cv.v - cy) / ry) ** 2) + 0.15 * _field(rng, cv.size, 12)
    img += (0.26 + 0.06 * p[4]) * _smooth(d - 1, 0.06) * cv.lung_mask[f.side]


def _draw_atelectasis(cv: _Canvas, img: np.ndarray, f: Finding, rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = cv.zone_box(f.side, "lower")
    p = f.params
    cx, cy = x1 + (0.35 + 0.3 * p[0]) * (x2 - x1), y1 + (0.2 + 0.35 * p[1]) * (y2 - y1)
    ang = (p[2] - 0.5) * 0.4
    du, dv = cv.u - cx, cv.v - cy
    a = du * math.cos(ang) + dv * math.sin(ang)
    b = -du * math.sin(ang) + dv * math.cos(ang)
    rx, ry = 0.10 + 0.04 * p[3], 0.022 + 0.008 * p[4]
    d = np.sqrt((a / rx) ** 2 + (b / ry) ** 2)
    img += (0.28 + 0.06 * p[5]) * _smooth(d - 1, 0.15) * cv.lung_mask[f.side]


def _draw_effusion(cv: _Canvas, img: np.ndarray, f: Finding, rng: np.random.Generator) -> None:
    x1, _, x2, y2 = cv.atlas[f"{f.side} lung"]
    lateral = (x1 - cv.u) / (x2 - x1) if f.side == "right" else (cv.u - x2) / (x2 - x1)  # 0 at the wall, -1 medial
    level = y2 - {"small": 0.09, "moderate": 0.13, "large": 0.18}[f.size] - 0.02 * f.params[0]
    meniscus = level - 0.07 * np.clip(1 + lateral, 0, 1) ** 3  # fluid climbs the lateral wall
    fluid = _smooth(meniscus - cv.v, 0.006) * _smooth(cv.hemi_level[f.side] - 1, 0.1) * (1 - cv.heart)
    fill = cv.case.tissue + 0.06 + 0.03 * f.params[1]
    img *= 1 - fluid
    img += fill * fluid


def _draw_pneumothorax(cv: _Canvas, img: np.ndarray, f: Finding, rng: np.random.Generator) -> None:
    depth = {"small": 0.20, "moderate": 0.32, "large": 0.45}[f.size] + 0.05 * f.params[0]
    level = cv.lung_level[f.side]
    x1, y1, x2, y2 = cv.atlas[f"{f.side} lung"]
    upper = _smooth(cv.v - (y1 + 0.55 * (y2 - y1)), 0.02)  # apical and lateral upper lung only
    lateral = (cv.u < (x1 + x2) / 2) if f.side == "right" else (cv.u > (x1 + x2) / 2)
    region = (level > 1 - depth) * (level < 1) * upper * (lateral | (cv.v < y1 + 0.12))
    line = np.exp(-((level - (1 - depth)) / 0.05) ** 2) * (level < 1) * upper * (lateral | (cv.v < y1 + 0.12))
    img -= 0.14 * region
    img += 0.26 * line


def _draw_nodule(cv: _Canvas, img: np.ndarray, f: Finding, rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = cv.zone_box(f.side, f.zone)
    for k in range(f.count):
        p0, p1, p2 = f.params[(3 * k) % 8], f.params[(3 * k + 1) % 8], f.params[(3 * k + 2) % 8]
        cx, cy = x1 + (0.2 + 0.6 * p0) * (x2 - x1), y1 + (0.2 + 0.6 * p1) * (y2 - y1)
        r = 0.026 + 0.008 * p2
        d = np.hypot(cv.u - cx, cv.v - cy) / r
        img += 0.34 * _smooth(d - 1, 0.2) * cv.lung_mask[f.side]


def _draw_tube(cv: _Canvas, img: np.ndarray, f: Finding, rng: np.random.Generator) -> None:
    """An endotracheal tube down the trachea (two radiopaque walls, tip marker) and an enteric tube."""
    tip = 0.22 + 0.06 * f.params[0]
    x = 0.5 + 0.01 * (f.params[1] - 0.5)
    d = _seg_dist(cv.u, cv.v, np.array([[x + 0.01 * (f.params[2] - 0.5), -0.05], [x, tip]]))
    img += 0.22 * _smooth(d - 0.010, 0.002) - 0.1 * _smooth(d - 0.004, 0.001)
    img += 0.2 * _smooth(np.hypot(cv.u - x, cv.v - tip) - 0.012, 0.002)
    bend = 0.02 + 0.03 * f.params[3]
    enteric = np.array([[0.47, -0.05], [0.47 - bend, 0.3], [0.49, 0.62], [0.56 + bend, 0.8], [0.62, 0.86]])
    img += 0.16 * _smooth(_seg_dist(cv.u, cv.v, enteric) - 0.006, 0.002)


def _cm_above_carina(f: Finding) -> int:
    return int(round(3 + 4 * (1 - f.params[0])))  # a higher tip (small params[0]) sits farther from the carina


DRAWERS = {
    "pleural effusion": _draw_effusion,
    "opacity": _draw_opacity,
    "consolidation": _draw_consolidation,
    "atelectasis": _draw_atelectasis,
    "cardiomegaly": None,  # drawn as the heart size itself
    "pneumothorax": _draw_pneumothorax,
    "nodule": _draw_nodule,
    "tube": _draw_tube,
}


def render(case: Case, atlas: dict[str, tuple[float, float, float, float]], size: int = 128) -> np.ndarray:
    """The phantom as a uint8 [size, size] image."""
    cv = _Canvas(case, atlas, size)
    u, v = cv.u, cv.v
    rng = np.random.default_rng(case.noise_seed)
    body = _smooth(((u - 0.5) / 0.47) ** 2 + ((v - 0.58) / 0.62) ** 2 - 1, 0.03)
    img = 0.06 + (case.tissue - 0.06) * body
    # shoulders / neck soft tissue above the lungs is a little brighter
    img += 0.05 * _smooth(v - 0.12, 0.02) * body
    for side in SIDES:  # aerated lungs with a faint mottled texture
        img -= (case.tissue - case.lung) * cv.lung_mask[side] * (1 + 0.08 * _field(rng, size, 16))
    for side in SIDES:  # ribs: posterior arcs over each hemithorax
        x1, y1, x2, y2 = atlas[f"{side} lung"]
        cx, w = (x1 + x2) / 2, (x2 - x1)
        for k in range(9):
            v0 = y1 - 0.02 + k * 0.075
            arc = v0 + 0.07 * ((u - cx) / w * 2) ** 2 - 0.03 * ((u - cx) / w * 2) * (1 if side == "left" else -1)
            img += 0.05 * np.exp(-((v - arc) / 0.011) ** 2) * _smooth(np.abs(u - cx) - w * 0.6, 0.01)
    med = _smooth(np.abs(u - 0.5) - 0.075, 0.01) * _smooth(v - 0.70, 0.02) * _smooth(0.08 - v, 0.02)
    img = np.maximum(img, (case.tissue + 0.08) * med + img * (1 - med))
    heart = cv.heart
    img = img * (1 - heart) + (case.tissue + 0.12) * heart
    for side in SIDES:  # diaphragm and upper abdomen below each dome
        below = _smooth(cv.dome(side) - v, 0.004) * body
        x1, _, x2, _ = atlas[f"{side} lung"]
        half = _smooth(u - 0.5, 0.004) if side == "right" else _smooth(0.5 - u, 0.004)
        img = img * (1 - below * half) + (case.tissue + 0.1) * below * half
    trachea = _smooth(np.abs(u - 0.5) - 0.018, 0.004) * _smooth(v - 0.33, 0.01)
    img -= 0.15 * trachea
    spine = _smooth(np.abs(u - 0.5) - 0.035, 0.004)
    discs = 0.5 + 0.5 * np.cos(2 * np.pi * v / 0.045)
    img += spine * (0.06 + 0.05 * discs)
    for sgn in (-1, 1):  # clavicles from the sternal notch out to the shoulders
        pts = np.array([[0.5 + sgn * 0.04, 0.16], [0.5 + sgn * 0.2, 0.12], [0.5 + sgn * 0.38, 0.09]])
        img += 0.22 * _smooth(_seg_dist(u, v, pts) - 0.012, 0.003)
    for f in sorted(case.findings, key=lambda f: f.kind == "pleural effusion"):  # fluid covers the rest
        draw = DRAWERS.get(f.kind)
        if draw is not None:
            draw(cv, img, f, np.random.default_rng([case.noise_seed, hash_kind(f.kind)]))
    img = (img - 0.3) * case.contrast + 0.3
    img += case.noise * rng.standard_normal(img.shape)
    # a light 3x3 blur, as the film's point spread
    pad = np.pad(img, 1, mode="edge")
    img = sum(pad[i:i + size, j:j + size] for i in range(3) for j in range(3)) / 9.0
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def hash_kind(kind: str) -> int:
    """A stable small integer for a finding id (Python's hash() is salted per process)."""
    return sum((i + 1) * ord(c) for i, c in enumerate(kind)) % 100003


# ----------------------------------------------------------------------------------------------- reports
def _fill(text: str, f: Finding, rng: random.Random, t: dict[str, Any]) -> str:
    zone = rng.choice(t["zones"][f.zone][f.side]) if f.zone and f.side else ""
    values = {"side": f.side or "", "Side": (f.side or "").capitalize(), "zone": zone, "size": f.size,
              "Size": f.size.capitalize(), "count": t["numbers"][min(f.count, len(t["numbers"])) - 1],
              "cm": _cm_above_carina(f) if f.kind == "tube" else ""}
    values["Count"] = str(values["count"]).capitalize()
    return text.format(**values)


def _present_sentence(f: Finding, rng: random.Random, t: dict[str, Any]) -> str:
    options = t["findings"][f.kind]["present"]
    if f.kind == "nodule":  # a count word only when several nodules are drawn, and only then
        options = [o for o in options if ("{Count}" in o or "{count}" in o) == (f.count > 1)] or options
    return _fill(rng.choice(options), f, rng, t)


def write_report(case: Case, seed: int, templates: Optional[dict[str, Any]] = None) -> str:
    """The phantom's report: sections, present findings, some negations, normal statements and hedges."""
    t = templates or load_templates()
    rng = random.Random(seed * 1_000_003 + case.index)
    drawn = {f.kind for f in case.findings}
    layout = rng.choice(t["layouts"])
    findings_lines = [_present_sentence(f, rng, t) for f in case.findings]
    absent = [k for k in t["findings"] if k not in drawn]
    for kind in absent:
        if rng.random() < 0.45:
            findings_lines.append(rng.choice(t["findings"][kind]["absent"]))
    for entry in t["normal"]:
        if not drawn & set(entry["unless"]) and rng.random() < 0.35:
            findings_lines.append(entry["text"])
    for entry in t["hedges"]:
        if (not entry["when"] or drawn & set(entry["when"])) and rng.random() < 0.25:
            findings_lines.append(entry["text"])
    rng.shuffle(findings_lines)
    parts = []
    if layout.get("indication"):
        parts.append(f"{rng.choice(t['headers']['indication'])}: {rng.choice(t['indications'])}")
    if layout.get("findings") or not case.findings:
        body = " ".join(findings_lines) or rng.choice(t["impression_normal"])
        parts.append(f"{rng.choice(t['headers']['findings'])}: {body}")
    if layout.get("impression") or not layout.get("findings"):
        if case.findings:
            items = [_present_sentence(f, rng, t) for f in case.findings]
        else:
            items = [rng.choice(t["impression_normal"])]
        header = rng.choice(t["headers"]["impression"])
        if layout.get("numbered"):
            parts.append(f"{header}:\n" + "\n".join(f"{i + 1}. {s}" for i, s in enumerate(items)))
        else:
            parts.append(f"{header}: " + " ".join(items))
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------------- dataset
def generate(n: int, out: Path, size: int = 128, seed: int = 0, prefix: Optional[str] = None,
             templates_path: Optional[str] = None) -> dict[str, int]:
    """Write n phantoms to `out` (images/, images.csv, boxes.csv, reports.csv, labels.csv, findings.csv)."""
    from PIL import Image

    from anatomy_ontology import load_ontology

    if n < 1:
        raise ValueError(f"--n must be at least 1 (got {n})")
    if size < 32:
        raise ValueError(f"--size must be at least 32 pixels (got {size})")
    t = load_templates(templates_path)
    atlas = load_ontology().atlas
    for needed in [f"{s} {z} lung zone" for s in SIDES for z in ZONES] + [f"{s} lung" for s in SIDES]:
        if needed not in atlas:
            raise ValueError(f"atlas.yaml: the phantom needs a box for '{needed}'")
    names = classes(t)
    prefix = f"ph{seed}-" if prefix is None else prefix
    out = Path(out)
    if problem := folder_problem(out):
        raise ValueError(f"--out {problem}")
    (out / "images").mkdir(parents=True, exist_ok=True)
    counts = {c: 0 for c in names}
    with open(out / "images.csv", "w", newline="") as fi, open(out / "boxes.csv", "w", newline="") as fb, \
            open(out / "reports.csv", "w", newline="") as fr, open(out / "labels.csv", "w", newline="") as fl, \
            open(out / "findings.csv", "w", newline="") as ff:
        wi, wb, wr, wl, wf = (csv.writer(x, lineterminator="\n") for x in (fi, fb, fr, fl, ff))
        wi.writerow(["id", "path"])
        wb.writerow(["path", "region", "x1", "y1", "x2", "y2"])
        wr.writerow(["id", "report"])
        wl.writerow(["path", *names])
        wf.writerow(["path", "finding", "region", "size"])
        for i in range(n):
            case = sample_case(seed, i, t)
            rid = f"{prefix}{i:05d}"
            rel = f"images/{rid}.png"
            Image.fromarray(render(case, atlas, size), mode="L").save(out / rel, optimize=False)
            wi.writerow([rid, rel])
            for region, box in case_boxes(case, atlas, size).items():
                wb.writerow([rel, region, *box])
            wr.writerow([rid, write_report(case, seed, t)])
            labels = case.labels(names)
            wl.writerow([rel, *labels])
            for f in case.findings:
                wf.writerow([rel, f.kind, f.region(), f.size])
            for c, y in zip(names, labels):
                counts[c] += y
    return counts
