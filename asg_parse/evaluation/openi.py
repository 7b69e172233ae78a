"""The OpenI report-level benchmark, implemented literally from ../shared/data/openi/README.md.

Pipeline: read the CSV, build each report's text, apply the skip rules, map MeSH codes to gold categories,
then score any predictions (ParsedReport objects or plain dicts in that schema, keyed by uid). Besides the README's
figures: the region-map recall of the gold categories (region_map.py), for comparison with other sets.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

from anatomy_ontology import load_ontology

from . import SHARED_DATA, data_file
from . import region_map as region_map_eval

DEFAULT_CSV = SHARED_DATA / "openi" / "openi_dev.csv"
CSV_ENV = "ASG_OPENI_CSV"

# ---------------------------------------------------------------- benchmark definition (README tables)
# category -> list of (MeSH heading, qualifier that must be present or None). Matching is case-insensitive.
CATEGORY_CODES: dict[str, list[tuple[str, Optional[str]]]] = {
    "cardiomegaly": [("Cardiomegaly", None), ("Cardiac Shadow", "enlarged")],
    "pleural effusion": [("Pleural Effusion", None)],
    "pneumothorax": [("Pneumothorax", None), ("Hydropneumothorax", None), ("Hemopneumothorax", None)],
    "edema": [("Pulmonary Edema", None)],
    "atelectasis": [("Pulmonary Atelectasis", None)],
    "consolidation": [("Consolidation", None)],
    "pneumonia": [("Pneumonia", None)],
    "opacity": [("Opacity", None), ("Airspace Disease", None), ("Density", None)],
    "nodule": [("Nodule", None)],
    "mass": [("Mass", None)],
    "emphysema": [("Emphysema", None), ("Pulmonary Emphysema", None), ("Bullous Emphysema", None)],
    "fracture": [("Fractures, Bone", None)],
    "calcification": [("Calcinosis", None)],
    "scar": [("Cicatrix", None)],
    "hyperinflate": [("Lung", "hyperdistention")],
    "marking": [("Markings", None)],
    "deformity": [("Deformity", None)],
    "hernia": [("Hernia, Hiatal", None), ("Hernia, Diaphragmatic", None)],
    "pleural thicken": [("Thickening", "pleura")],
    "blunt": [("Costophrenic Angle", "blunted")],
    "infiltration": [("Infiltrate", None)],
    "granuloma": [("Calcified Granuloma", None), ("Granuloma", None), ("Granulomatous Disease", None)],
    "scoliosis": [("Scoliosis", None)],
    "hypoinflation": [("Lung", "hypoinflation")],
    "congestion": [("Pulmonary Congestion", None)],
    "tortuous aorta": [("Aorta", "tortuous"), ("Aorta, Thoracic", "tortuous")],
    "atherosclerosis": [("Atherosclerosis", None)],
    "degenerative change": [("Thoracic Vertebrae", "degenerative"), ("Spine", "degenerative"), ("Osteophyte", None),
                            ("Spondylosis", None), ("Arthritis", None)],
    "support device": [("Implanted Medical Device", None), ("Medical Device", None), ("Catheters, Indwelling", None),
                       ("Tube, Inserted", None), ("Stents", None), ("Pacemaker, Artificial", None),
                       ("Surgical Instruments", None)],
}
CATEGORIES: list[str] = list(CATEGORY_CODES)

# A predicted triplet with one of these finding ids (existence present) predicts the category.
PREDICTING_FINDINGS: dict[str, frozenset[str]] = {c: frozenset({c}) for c in CATEGORIES}
PREDICTING_FINDINGS["support device"] = frozenset(
    {"device", "tube", "line", "pacemaker", "wire", "stent", "hardware", "drainage", "clip", "catheter",
     "support device"})

SKIP_ONLY_CODES = ("no indexing", "technical quality of image unsatisfactory")
MACRO_MIN_SUPPORT = 10

# Region recall: zone qualifier -> accepted regions; "S" is replaced by the coded side(s).
ZONE_REGIONS: dict[str, list[str]] = {
    "upper lobe": ["S upper lung zone", "S apical zone"],
    "lower lobe": ["S lower lung zone", "S costophrenic angle"],
    "base": ["S lower lung zone", "S costophrenic angle"],
    "middle lobe": ["right mid lung zone", "right lower lung zone"],
    "lingula": ["left mid lung zone", "left lower lung zone"],
    "apex": ["S apical zone", "S upper lung zone"],
    "hilum": ["S hilar structures"],
    "retrocardiac": ["left lower lung zone", "cardiac silhouette"],
    "costophrenic angle": ["S costophrenic angle"],
}
EFFUSION_ONE_SIDE = ["S costophrenic angle", "S lung", "S lower lung zone", "S hemidiaphragm"]


def _key(s: str) -> str:
    return " ".join(s.strip().lower().split())


_CODE_INDEX: dict[str, list[tuple[str, Optional[str]]]] = {}
for _cat, _codes in CATEGORY_CODES.items():
    for _heading, _qual in _codes:
        _CODE_INDEX.setdefault(_key(_heading), []).append((_cat, None if _qual is None else _key(_qual)))


@dataclass(frozen=True)
class MeshCode:
    """One parsed MeSH code: `Heading/qualifier/...` (lower-cased, whitespace-normalised)."""

    raw: str
    heading: str
    qualifiers: tuple[str, ...]

    @classmethod
    def parse(cls, raw: str) -> "MeshCode":
        parts = [_key(p) for p in raw.split("/")]
        return cls(raw=raw.strip(), heading=parts[0], qualifiers=tuple(p for p in parts[1:] if p))


def split_codes(mesh: str) -> list[MeshCode]:
    """The `;`-separated codes of a MeSH cell (blank pieces dropped)."""
    return [MeshCode.parse(c) for c in (mesh or "").split(";") if c.strip()]


def code_categories(code: Union[MeshCode, str]) -> list[str]:
    """Gold categories a code maps to: heading matches and the required qualifier, if any, is present."""
    if isinstance(code, str):
        code = MeshCode.parse(code)
    return [cat for cat, qual in _CODE_INDEX.get(code.heading, []) if qual is None or qual in code.qualifiers]


def _expand(templates: Iterable[str], sides: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for t in templates:
        if t.startswith("S "):
            out |= {f"{s} {t[2:]}" for s in sides}
        else:
            out.add(t)
    return out


@dataclass(frozen=True)
class RegionItem:
    """A gold code whose lung-zone/side qualifiers define accepted regions for region recall."""

    uid: str
    code: str
    category: str
    accepted: frozenset[str]
    side: Optional[str]  # the one coded side (left/right), None for bilateral / unsided


def region_item(uid: str, code: MeshCode, category: str) -> Optional[RegionItem]:
    """The region-recall item of one mapped code, or None when the code carries no zone/side rule."""
    quals = set(code.qualifiers)
    has_r, has_l = "right" in quals, "left" in quals
    one_side = "right" if has_r and not has_l else "left" if has_l and not has_r else None
    if "bilateral" in quals:
        one_side = None
    sides = [one_side] if one_side else ["right", "left"]
    zones = [q for q in code.qualifiers if q in ZONE_REGIONS]
    accepted: set[str] = set()
    for z in zones:
        accepted |= _expand(ZONE_REGIONS[z], sides)
    if not zones and one_side:
        if category == "pleural effusion":
            accepted |= _expand(EFFUSION_ONE_SIDE, [one_side])
        if "lung" in quals or code.heading == "lung":
            accepted |= _lung_regions(one_side)
    if not accepted:
        return None
    return RegionItem(uid, code.raw, category, frozenset(accepted), one_side)


_LUNG_CACHE: dict[str, frozenset[str]] = {}
_SIDE_CACHE: dict[str, str] = {}


def _ontology_views() -> None:
    if not _SIDE_CACHE:
        onto = load_ontology()
        for rid, r in onto.regions.items():
            _SIDE_CACHE[rid] = r.side
        for side in ("left", "right"):
            _LUNG_CACHE[side] = frozenset(onto.descendants(f"{side} lung"))


def _lung_regions(side: str) -> frozenset[str]:
    _ontology_views()
    return _LUNG_CACHE[side]


def region_side(region: Optional[str]) -> Optional[str]:
    """left/right for a sided ontology region; None otherwise (including unknown ids)."""
    if region is None:
        return None
    _ontology_views()
    side = _SIDE_CACHE.get(region)
    if side is None:  # unknown id: fall back on its first word
        first = region.split(" ", 1)[0].lower()
        side = first if first in ("left", "right") else "none"
    return side if side in ("left", "right") else None


# ---------------------------------------------------------------- reading the CSV
@dataclass
class OpenIReport:
    """One scored report: its benchmark text and gold."""

    uid: str
    text: str
    codes: list[MeshCode]
    categories: set[str]
    normal: bool
    region_items: list[RegionItem] = field(default_factory=list)

    def codes_for(self, category: str) -> list[str]:
        """The raw MeSH codes of this report that map to `category`."""
        return [c.raw for c in self.codes if category in code_categories(c)]

    @property
    def in_abnormal_eval(self) -> bool:
        """Abnormal-vs-normal F1 only covers `normal` reports and reports with a mapped code."""
        return self.normal or bool(self.categories)


def build_text(findings: Optional[str], impression: Optional[str]) -> str:
    """`FINDINGS: <findings>` and/or `IMPRESSION: <impression>`, joined by newline, only non-empty sections."""
    parts = []
    if findings and findings.strip():
        parts.append("FINDINGS: " + findings)
    if impression and impression.strip():
        parts.append("IMPRESSION: " + impression)
    return "\n".join(parts)


def skip_reason(row: Mapping[str, str]) -> Optional[str]:
    """Why a CSV row is skipped (README skip rules), or None."""
    if not build_text(row.get("findings"), row.get("impression")):
        return "no findings or impression text"
    codes = [c.raw.lower() for c in split_codes(row.get("MeSH", ""))]
    if len(codes) == 1 and codes[0] in SKIP_ONLY_CODES:
        return f"only code is '{split_codes(row.get('MeSH', ''))[0].raw}'"
    return None


def resolve_csv(path: Optional[Union[str, Path]] = None) -> Path:
    """The CSV to use: explicit path, else $ASG_OPENI_CSV, else ../shared/data/openi/openi_dev.csv."""
    return data_file(path, CSV_ENV, DEFAULT_CSV)


class OpenIError(ValueError):
    """The CSV cannot be read as the OpenI benchmark file."""


def read_rows(csv_path: Union[str, Path]) -> list[dict[str, str]]:
    """All CSV rows as dicts; raises OpenIError with a one-line message on a missing file or column."""
    path = Path(csv_path)
    if not path.is_file():
        raise OpenIError(f"{path}: OpenI CSV not found (pass --csv or set ${CSV_ENV})")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"uid", "MeSH", "findings", "impression"} - set(reader.fieldnames or [])
        if missing:
            raise OpenIError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        return [dict(r) for r in reader]


def load_reports(csv_path: Union[str, Path]) -> tuple[list[OpenIReport], dict[str, int]]:
    """Scored reports (skip rules applied) and a count of skipped rows per reason."""
    reports: list[OpenIReport] = []
    skipped: dict[str, int] = {}
    for row in read_rows(csv_path):
        reason = skip_reason(row)
        if reason is not None:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        uid = str(row["uid"]).strip()
        codes = split_codes(row["MeSH"])
        normal = len(codes) == 1 and codes[0].raw.lower() == "normal"
        cats: set[str] = set()
        items: list[RegionItem] = []
        seen: set[tuple[str, str]] = set()
        for code in codes:
            for cat in code_categories(code):
                cats.add(cat)
                if (code.raw.lower(), cat) in seen:
                    continue
                seen.add((code.raw.lower(), cat))
                item = region_item(uid, code, cat)
                if item is not None:
                    items.append(item)
        reports.append(OpenIReport(uid, build_text(row["findings"], row["impression"]), codes, cats, normal, items))
    return reports, skipped


def openi_items(csv_path: Union[str, Path, None] = None) -> list[tuple[str, str]]:
    """(uid, benchmark text) of every scored report, in CSV order: what a parser must parse."""
    return [(r.uid, r.text) for r in load_reports(resolve_csv(csv_path))[0]]


# ---------------------------------------------------------------- predictions
@dataclass(frozen=True)
class PredTriplet:
    finding: str
    existence: str
    region: Optional[str]
    text: str = ""


def pred_triplets(pred: Any) -> list[PredTriplet]:
    """The triplets of a ParsedReport, a schema dict, or None (no prediction)."""
    if pred is None:
        return []
    trips = pred.get("triplets", []) if isinstance(pred, Mapping) else getattr(pred, "triplets", [])
    out = []
    for t in trips or []:
        get = t.get if isinstance(t, Mapping) else (lambda k, d=None, _t=t: getattr(_t, k, d))
        out.append(PredTriplet(str(get("finding", "")), str(get("existence", "")), get("region"),
                               str(get("text", "") or "")))
    return out


def predicted_categories(triplets: Iterable[PredTriplet]) -> dict[str, list[PredTriplet]]:
    """Category -> the present triplets that predict it."""
    out: dict[str, list[PredTriplet]] = {}
    for t in triplets:
        if t.existence != "present":
            continue
        for cat, ids in PREDICTING_FINDINGS.items():
            if t.finding in ids:
                out.setdefault(cat, []).append(t)
    return out


# ---------------------------------------------------------------- scoring
def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall, F1 (0.0 where the denominator is 0)."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


@dataclass
class CategoryScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    fp_uids: list[str] = field(default_factory=list)
    fn_uids: list[str] = field(default_factory=list)

    @property
    def support(self) -> int:
        return self.tp + self.fn

    def as_dict(self) -> dict[str, Any]:
        p, r, f = prf(self.tp, self.fp, self.fn)
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "support": self.support,
                "precision": p, "recall": r, "f1": f}


@dataclass
class OpenIResult:
    """Every figure of the benchmark plus the error lists behind them."""

    n_reports: int
    skipped: dict[str, int]
    missing_predictions: list[str]
    categories: dict[str, CategoryScore]
    micro: dict[str, float]
    macro: dict[str, Any]
    abnormal: dict[str, Any]
    normal_specificity: dict[str, Any]
    region: dict[str, Any]
    region_misses: list[dict[str, Any]] = field(default_factory=list)
    region_map: Optional[region_map_eval.RegionMapRecall] = None
    fp_evidence: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    fn_codes: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def to_dict(self, errors: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n_reports": self.n_reports, "skipped": self.skipped,
            "missing_predictions": len(self.missing_predictions),
            "micro": self.micro, "macro": self.macro, "abnormal_vs_normal": self.abnormal,
            "normal_specificity": self.normal_specificity, "region": self.region,
            "per_category": {c: s.as_dict() for c, s in self.categories.items()},
        }
        if self.region_map is not None:
            out["region_map_recall"] = self.region_map.to_dict(errors)
        if errors:
            out["errors"] = {
                c: {"false_positives": [{"uid": u, "evidence": self.fp_evidence.get((u, c), [])} for u in s.fp_uids],
                    "false_negatives": [{"uid": u, "codes": self.fn_codes.get((u, c), [])} for u in s.fn_uids]}
                for c, s in self.categories.items() if s.fp_uids or s.fn_uids}
            out["region_misses"] = self.region_misses
        return out


def region_map_items(reports: Iterable[OpenIReport]) -> list[region_map_eval.Item]:
    """The region-map recall items: each report's gold categories whose finding has a home (regions.yaml)."""
    homes = load_ontology().home_regions
    return [region_map_eval.Item(r.uid, c, "positive", homes[c]) for r in reports for c in sorted(r.categories)
            if c in homes]


def stating_sentences(pred: Any) -> dict[str, set[int]]:
    """Category -> the sentences of a prediction that state it (a present or uncertain triplet of its findings)."""
    trips = pred.get("triplets", []) if isinstance(pred, Mapping) else getattr(pred, "triplets", [])
    out: dict[str, set[int]] = {}
    for t in trips or []:
        get = t.get if isinstance(t, Mapping) else (lambda k, d=None, _t=t: getattr(_t, k, d))
        if get("existence") == "absent" or get("sentence") is None:
            continue
        for cat, ids in PREDICTING_FINDINGS.items():
            if get("finding") in ids:
                out.setdefault(cat, set()).add(get("sentence"))
    return out


def score_reports(reports: list[OpenIReport], predictions: Mapping[str, Any],
                  skipped: Optional[dict[str, int]] = None) -> OpenIResult:
    """Score predictions (uid -> ParsedReport | dict) against already-loaded gold reports."""
    cats = {c: CategoryScore() for c in CATEGORIES}
    missing: list[str] = []
    ab_tp = ab_fp = ab_fn = ab_n = 0
    norm_n = norm_tn = 0
    items = localized = wrong_side = detected = 0
    misses: list[dict[str, Any]] = []
    fp_evidence: dict[tuple[str, str], list[str]] = {}
    fn_codes: dict[tuple[str, str], list[str]] = {}
    for rep in reports:
        if rep.uid not in predictions:
            missing.append(rep.uid)
        predicted = predicted_categories(pred_triplets(predictions.get(rep.uid)))
        for c, s in cats.items():
            gold, pred = c in rep.categories, c in predicted
            if gold and pred:
                s.tp += 1
            elif pred:
                s.fp += 1
                s.fp_uids.append(rep.uid)
                fp_evidence[(rep.uid, c)] = sorted({t.text for t in predicted[c] if t.text})
            elif gold:
                s.fn += 1
                s.fn_uids.append(rep.uid)
                fn_codes[(rep.uid, c)] = rep.codes_for(c)
        if rep.in_abnormal_eval:
            ab_n += 1
            g, p = bool(rep.categories), bool(predicted)
            ab_tp += g and p
            ab_fp += p and not g
            ab_fn += g and not p
        if rep.normal:
            norm_n += 1
            norm_tn += not predicted
        for item in rep.region_items:
            items += 1
            regions = {t.region for t in predicted.get(item.category, [])}
            detected += bool(regions)
            if regions & item.accepted:
                localized += 1
                continue
            # wrong side: the category is placed on the opposite side only (a both-sides prediction is not)
            other = {"left": "right", "right": "left"}.get(item.side or "")
            sides = {region_side(r) for r in regions}
            ws = bool(other) and other in sides and item.side not in sides
            wrong_side += ws
            misses.append({"uid": item.uid, "code": item.code, "category": item.category,
                           "predicted_regions": sorted(r or "null" for r in regions), "wrong_side": ws,
                           "accepted": sorted(item.accepted)})
    tp, fp, fn = (sum(getattr(s, k) for s in cats.values()) for k in ("tp", "fp", "fn"))
    p, r, f = prf(tp, fp, fn)
    macro_cats = [c for c, s in cats.items() if s.support >= MACRO_MIN_SUPPORT]
    mvals = [prf(cats[c].tp, cats[c].fp, cats[c].fn) for c in macro_cats]
    n = len(mvals) or 1
    abp, abr, abf = prf(ab_tp, ab_fp, ab_fn)
    return OpenIResult(
        n_reports=len(reports), skipped=dict(skipped or {}), missing_predictions=missing, categories=cats,
        micro={"precision": p, "recall": r, "f1": f, "tp": tp, "fp": fp, "fn": fn},
        macro={"precision": sum(v[0] for v in mvals) / n, "recall": sum(v[1] for v in mvals) / n,
               "f1": sum(v[2] for v in mvals) / n, "categories": macro_cats},
        abnormal={"precision": abp, "recall": abr, "f1": abf, "tp": ab_tp, "fp": ab_fp, "fn": ab_fn, "n": ab_n},
        normal_specificity={"value": norm_tn / norm_n if norm_n else None, "tn": norm_tn, "n": norm_n},
        region={"items": items, "localized": localized, "recall": localized / items if items else None,
                "wrong_side": wrong_side, "detected": detected,
                "recall_when_detected": localized / detected if detected else None},
        region_misses=misses,
        region_map=region_map_eval.score(region_map_items(reports), predictions, stating_sentences, ("positive",)),
        fp_evidence=fp_evidence, fn_codes=fn_codes,
    )


def score_openi(csv_path: Union[str, Path, None], predictions: Mapping[str, Any]) -> OpenIResult:
    """Score predictions (uid -> ParsedReport or schema dict) on the OpenI benchmark of `csv_path`."""
    reports, skipped = load_reports(resolve_csv(csv_path))
    return score_reports(reports, predictions, skipped)


def parse_openi(items: list[tuple[str, str]], nlp: Any = None) -> dict[str, Any]:
    """Run our parser (asg_parse.parse_many) over (uid, text) items; uid -> ParsedReport."""
    import asg_parse

    return {rep.id: rep for rep in asg_parse.parse_many(items, nlp=nlp)}
