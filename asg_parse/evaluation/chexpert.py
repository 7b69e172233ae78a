"""The Stanford CheXpert-labels benchmark (the data folder's README): report-level labels of the 14 observations,
from our parser under the `chexpert` convention (or from any tool's label CSV or records), against a radiologist's.

Per observation, report level, as the CheXpert paper scores its labeler:
- mention F1: gold non-blank vs predicted non-blank;
- negation F1: gold 0 vs predicted 0;
- uncertain F1: gold -1 vs predicted -1;
- positive F1: gold 1 vs predicted 1 ("No Finding" has positive F1 only).
Macro averages run over the 13 observations other than No Finding that have at least one gold case of that kind;
"positive F1 over 11" is the course material's figure for the 11 observations it scores (all but No Finding, Enlarged
Cardiomediastinum and Support Devices): the mean over them of each one's F1 of 1 vs not 1 (its `calculate_f1`
"Average" of sklearn's per-column `f1_score`), leaving out an observation with no positive in gold nor prediction,
where F1 is undefined (sklearn's 0); the same decisions pooled into one micro-averaged F1 come beside it. With the
parser's records, the region-map recall of the positive and uncertain observations is scored too (region_map.py).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

from ..files import first_line, utf8_text
from . import SHARED_DATA, data_file
from . import region_map as region_map_eval

DATA_ENV = "ASG_CHEXPERT_REPORTS"
DEFAULT_DATA = SHARED_DATA / "chexpert_reports" / "chexpert_reports_dev.csv"
ID_COLUMN, TEXT_COLUMN = "SimpleTestReportID", "Report Impression"
NO_FINDING = "No Finding"
ALIASES = {"Airspace Opacity": "Lung Opacity"}  # the file's name -> the labeler's current name
COURSE_EXCLUDED = (NO_FINDING, "Enlarged Cardiomediastinum", "Support Devices")
CONVENTION = "chexpert"
LABEL_SET = "chexpert"
KINDS = ("mention", "negation", "uncertain", "positive")
Label = Optional[float]  # 1.0 / 0.0 / -1.0, None for blank


class ChexpertError(ValueError):
    """The file cannot be read as the benchmark's CSV (the message names the file and row)."""


def resolve_data(path: Optional[Union[str, Path]] = None) -> Path:
    """The data file: explicit path, else $ASG_CHEXPERT_REPORTS, else ../shared/data/chexpert_reports/chexpert_reports_dev.csv."""
    return data_file(path, DATA_ENV, DEFAULT_DATA)


def parse_label(value: Optional[str], where: str) -> Label:
    """A label cell: blank -> None, else 1.0 / 0.0 / -1.0 (ChexpertError naming `where` otherwise)."""
    v = (value or "").strip()
    if not v:
        return None
    try:
        x = float(v)
    except ValueError:
        raise ChexpertError(f"{where}: label {v!r} is not 1, 0, -1 or blank") from None
    if x not in (1.0, 0.0, -1.0):
        raise ChexpertError(f"{where}: label {v!r} is not 1, 0, -1 or blank")
    return x


@dataclass
class Report:
    """One benchmark report: id, impression text and its gold labels (observation -> label)."""

    id: str
    text: str
    labels: dict[str, Label]


def _canonical(name: str) -> str:
    name = name.strip()
    return ALIASES.get(name, name)


def read_label_csv(path: Union[str, Path], observations: list[str], id_column: Optional[str] = None,
                   text_column: Optional[str] = None) -> list[tuple[Optional[str], Optional[str], dict[str, Label]]]:
    """(id, text, labels) of each row of a CheXpert-layout CSV; ids and texts are None where the file has no such
    column. ChexpertError for a missing file or observation column, or a bad cell (naming file, row and column)."""
    p = Path(path)
    if not p.is_file():
        raise ChexpertError(f"{p}: file not found")
    reader = csv.DictReader(io.StringIO(utf8_text(p, ChexpertError), newline=""))
    fields = {_canonical(f): f for f in (reader.fieldnames or [])}
    missing = [o for o in observations if o not in fields]
    if missing:
        raise ChexpertError(f"{p}: missing column(s) {', '.join(missing)}")
    out = []
    for no, row in enumerate(reader, 2):
        labels = {o: parse_label(row.get(fields[o]), f"{p}: row {no}, column {fields[o]!r}") for o in observations}
        rid = row.get(id_column) if id_column and id_column in row else None
        text = row.get(text_column) if text_column and text_column in row else None
        out.append((None if rid is None else _report_id(rid), text, labels))
    return out


def _header(p: Path) -> list[str]:
    """The column names of a CSV, from its first line only (`read_label_csv` checks the whole file)."""
    if not p.is_file():
        raise ChexpertError(f"{p}: file not found")
    return next(csv.reader([first_line(p)]), [])


def _report_id(raw: str) -> str:
    """A report id as written ("12.0" in the file's float column is report 12)."""
    raw = raw.strip()
    try:
        f = float(raw)
        return str(int(f)) if f.is_integer() else raw
    except ValueError:
        return raw


def load_reports(path: Union[str, Path, None], observations: list[str]) -> list[Report]:
    """The benchmark reports of the data CSV (id, impression, gold labels)."""
    p = resolve_data(path)
    if not p.is_file():
        raise ChexpertError(f"{p}: CheXpert reports CSV not found (pass --data or set ${DATA_ENV})")
    head = _header(p)
    for col in (ID_COLUMN, TEXT_COLUMN):
        if col not in head:
            raise ChexpertError(f"{p}: missing column {col}")
    rows = read_label_csv(p, observations, ID_COLUMN, TEXT_COLUMN)
    return [Report(rid or str(k), text or "", labels) for k, (rid, text, labels) in enumerate(rows)]


def f1_of(gold: Iterable[bool], pred: Iterable[bool]) -> dict[str, float]:
    """Precision, recall, F1 and counts of a binary decision."""
    tp = fp = fn = 0
    for g, p in zip(gold, pred):
        if g and p:
            tp += 1
        elif p:
            fp += 1
        elif g:
            fn += 1
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": prec, "recall": rec, "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
            "tp": tp, "fp": fp, "fn": fn, "support": tp + fn}


_TESTS = {
    "mention": lambda x: x is not None,
    "negation": lambda x: x == 0.0,
    "uncertain": lambda x: x == -1.0,
    "positive": lambda x: x == 1.0,
}


@dataclass
class ChexpertResult:
    """Per observation and kind, the F1 figures; macro averages; positive F1 over the course's 11 observations."""

    n_reports: int
    observations: list[str]
    per: dict[str, dict[str, dict[str, float]]]  # observation -> kind -> figures
    pairs: dict[str, list[tuple[str, Label, Label]]] = field(default_factory=dict)  # observation -> (id, gold, pred)
    missing_predictions: list[str] = field(default_factory=list)
    region_map: Optional[region_map_eval.RegionMapRecall] = None  # with records: the region-map recall

    def macro(self, kind: str) -> dict[str, Any]:
        """The mean F1 of `kind` over the observations other than No Finding with at least one gold case."""
        used = [o for o in self.observations if o != NO_FINDING and self.per[o][kind]["support"] > 0]
        value = sum(self.per[o][kind]["f1"] for o in used) / len(used) if used else 0.0
        return {"f1": value, "observations": used}

    def course_positive(self) -> dict[str, Any]:
        """Positive F1 (1 vs 0 / -1 / blank) over the 11 course observations: `f1` the mean of the per-observation
        F1s, as the course material averages them (over the observations with a positive in gold or prediction);
        `pooled` the same decisions as one micro-averaged F1."""
        gold: list[bool] = []
        pred: list[bool] = []
        per: dict[str, float] = {}
        for o in self.observations:
            if o in COURSE_EXCLUDED:
                continue
            one = f1_of((g == 1.0 for _, g, _ in self.pairs[o]), (p == 1.0 for _, _, p in self.pairs[o]))
            if one["tp"] + one["fp"] + one["fn"]:  # F1 is defined
                per[o] = one["f1"]
            for _, g, p in self.pairs[o]:
                gold.append(g == 1.0)
                pred.append(p == 1.0)
        return {"f1": sum(per.values()) / len(per) if per else 0.0, "per_observation": per,
                "pooled": f1_of(gold, pred)}

    def errors(self, observation: str) -> list[tuple[str, Label, Label]]:
        return [(rid, g, p) for rid, g, p in self.pairs[observation] if g != p]

    def to_dict(self, errors: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {"reports": self.n_reports, "per_observation": self.per,
                             "macro": {k: self.macro(k) for k in KINDS},
                             "course_positive_11": self.course_positive(),
                             "missing_predictions": self.missing_predictions}
        if self.region_map is not None:
            d["region_map_recall"] = self.region_map.to_dict(errors)
        if errors:
            d["errors"] = {o: self.errors(o) for o in self.observations}
        return d


def score(reports: list[Report], predictions: Mapping[str, dict[str, Label]], observations: list[str],
          records: Optional[Mapping[str, Any]] = None, labeler: Any = None,
          homes: Optional[Mapping[str, frozenset[str]]] = None) -> ChexpertResult:
    """Score predicted labels (report id -> observation -> label; a missing report counts as all blank); with the
    `records` the labels came from, their `labeler` (labels.ReportLabeler) and the observations' `homes`
    (region_map.observation_homes), the region-map recall too."""
    per: dict[str, dict[str, dict[str, float]]] = {}
    pairs: dict[str, list[tuple[str, Label, Label]]] = {}
    for o in observations:
        rows = [(r.id, r.labels.get(o), predictions.get(r.id, {}).get(o)) for r in reports]
        pairs[o] = rows
        kinds = ("positive",) if o == NO_FINDING else KINDS
        per[o] = {k: f1_of([_TESTS[k](g) for _, g, _ in rows], [_TESTS[k](p) for _, _, p in rows]) for k in kinds}
    missing = [r.id for r in reports if r.id not in predictions]
    rmap = None
    if records is not None and labeler is not None and homes is not None:
        items = region_map_eval.label_items(((r.id, r.labels) for r in reports), homes)
        rmap = region_map_eval.score(items, records, labeler.stating_sentences)
    return ChexpertResult(len(reports), observations, per, pairs, missing, rmap)


def labels_from_records(records: Mapping[str, Any], labeler: Any) -> dict[str, dict[str, Label]]:
    """Report id -> observation -> label, from parse records (dicts or ParsedReport) by a ReportLabeler."""
    return {str(rid): labeler.values(rec) for rid, rec in records.items()}


def labels_from_csv(path: Union[str, Path], reports: list[Report], observations: list[str]
                    ) -> dict[str, dict[str, Label]]:
    """Report id -> labels from a label CSV: matched by an id column (`SimpleTestReportID` or `id`) when it has
    one, else row by row in the data's order (the CheXpert labeler writes no id)."""
    head = _header(Path(path))
    id_col = next((c for c in (ID_COLUMN, "id") if c in head), None)
    rows = read_label_csv(path, observations, id_col)
    if id_col is None and len(rows) != len(reports):
        raise ChexpertError(f"{path}: {len(rows)} rows but the data has {len(reports)} reports, and no id column "
                            f"({ID_COLUMN} or id) to match them by")
    if id_col is None:
        return {r.id: labels for r, (_, _, labels) in zip(reports, rows)}
    return {rid: labels for rid, _, labels in rows if rid is not None}


def parse_reports(reports: list[Report], convention: Optional[str] = CONVENTION, nlp: Any = None
                  ) -> dict[str, dict[str, Any]]:
    """Run our parser on each impression (a report without headers) under `convention`; id -> record dict."""
    import asg_parse

    nlp = nlp or asg_parse.load(spans=False, convention=convention)
    return {rec["id"]: rec for rec in asg_parse.parse_records([(r.id, r.text) for r in reports], nlp=nlp)}
