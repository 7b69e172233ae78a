"""Gold-vs-prediction metrics for parsed reports, and the gold/prediction loaders (JSONL, OpenI standoff)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from pydantic import ValidationError

from ..files import decoded_lines, first_line, not_an_object, parse_object
from ..schema import ParsedReport


@dataclass(frozen=True)
class Problem:
    """One bad input line: file, line number (1-based, 0 for the whole file) and what is wrong."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


def _validation_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err.get("loc", ())) or "record"
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"field '{loc}': {err.get('msg', 'invalid')}{more}"


def _lenient_check(obj: dict[str, Any]) -> Optional[str]:
    trips = obj.get("triplets", [])
    if not isinstance(trips, list):
        return "field 'triplets': must be a list"
    for i, t in enumerate(trips):
        if not isinstance(t, dict):
            return f"field 'triplets.{i}': must be an object"
        if not isinstance(t.get("finding"), str):
            return f"field 'triplets.{i}.finding': missing or not a string"
        if t.get("existence") not in ("present", "absent", "uncertain"):
            return f"field 'triplets.{i}.existence': must be present, absent or uncertain"
        if t.get("region") is not None and not isinstance(t.get("region"), str):
            return f"field 'triplets.{i}.region': must be a string or null"
    return None


def _json_objects(p: Path) -> tuple[Optional[list[tuple[int, Any]]], list[Problem]]:
    """(line number, parsed JSON) for each non-blank line, plus one Problem per invalid line; None if unreadable."""
    objects: list[tuple[int, Any]] = []
    problems: list[Problem] = []
    try:
        with p.open("rb") as fh:
            for no, line, bad in decoded_lines(fh):
                value, problem = (None, "not valid UTF-8") if bad else parse_object(line)
                if problem:
                    problems.append(Problem(str(p), no, problem))
                else:
                    objects.append((no, value))
    except OSError as exc:
        return None, [Problem(str(p), 0, f"cannot read file: {exc.strerror or exc}")]
    return objects, problems


GOLD_EXTRA_FIELDS = ("text", "review")  # a gold record's report text; `asg-parse review`'s provenance object


def load_records(path: Union[str, Path], strict: bool = True, extra_fields: tuple[str, ...] = GOLD_EXTRA_FIELDS
                 ) -> tuple[Optional[dict[str, dict[str, Any]]], list[Problem]]:
    """Read a JSONL of ParsedReport records keyed by `id` (or `uid`).

    strict: each record must validate against the ParsedReport schema (`extra_fields` such as the gold `text` and
    the `review` object of a reviewed gold file are allowed and kept). Not strict: only id + triplets[finding, existence, region] are required (other tools' output).
    Bad lines are skipped and returned as Problems; the dict is None only when the file cannot be read at all.
    """
    p = Path(path)
    objects, problems = _json_objects(p)
    if objects is None:
        return None, problems
    records: dict[str, dict[str, Any]] = {}
    for no, obj in objects:
        if not isinstance(obj, dict):
            problems.append(Problem(str(p), no, not_an_object(obj)))
            continue
        rid = obj.get("id", obj.get("uid"))
        if not isinstance(rid, (str, int)) or isinstance(rid, bool) or str(rid) == "":
            problems.append(Problem(str(p), no, "field 'id': missing or not a string"))
            continue
        rid = str(rid)
        if strict:
            body = {k: v for k, v in obj.items() if k not in extra_fields and k != "uid"}
            body["id"] = rid
            try:
                ParsedReport.model_validate(body)
            except ValidationError as exc:
                problems.append(Problem(str(p), no, f"id {rid}: {_validation_message(exc)}"))
                continue
        else:
            msg = _lenient_check(obj)
            if msg:
                problems.append(Problem(str(p), no, f"id {rid}: {msg}"))
                continue
        if rid in records:
            problems.append(Problem(str(p), no, f"id {rid}: duplicate id (first occurrence kept)"))
            continue
        obj["id"] = rid
        records[rid] = obj
    return records, problems


# ---------------------------------------------------------------- OpenI standoff gold
def _sha1(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def derive_tags(triplets: list[dict[str, Any]], asg_tags: Optional[list[str]] = None) -> dict[str, int]:
    """ASG tag values from triplets: 1 if any mention present, else -1 if any uncertain, else 0."""
    if asg_tags is None:
        from anatomy_ontology import load_ontology

        asg_tags = load_ontology().asg_tags
    wanted = set(asg_tags)
    seen: dict[str, set[str]] = {}
    for t in triplets:
        if t["finding"] in wanted:
            seen.setdefault(t["finding"], set()).add(t["existence"])
    out: dict[str, int] = {}
    for tag in asg_tags:
        ex = seen.get(tag)
        if ex:
            out[tag] = 1 if "present" in ex else -1 if "uncertain" in ex else 0
    return out


def _span(text: str, pair: Any, what: str) -> tuple[int, int]:
    if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(x, int) for x in pair)):
        raise ValueError(f"{what}: must be [start, end]")
    s, e = pair
    if not 0 <= s <= e <= len(text):
        raise ValueError(f"{what}: [{s}, {e}] outside the text (length {len(text)})")
    return s, e


def _standoff_record(obj: dict[str, Any], text: str, asg_tags: list[str]) -> dict[str, Any]:
    imp = text.find("IMPRESSION: ")
    sentences = []
    for i, pair in enumerate(obj.get("sentences", [])):
        s, e = _span(text, pair, f"sentences.{i}")
        section = "impression" if imp >= 0 and s >= imp else "findings"
        sentences.append({"text": text[s:e], "start": s, "end": e, "section": section})
    triplets = []
    for i, t in enumerate(obj.get("triplets", [])):
        if not isinstance(t, dict):
            raise ValueError(f"triplets.{i}: must be an object")
        s, e = _span(text, [t.get("start"), t.get("end")], f"triplets.{i}")
        cue = t.get("cue")
        cue_text = None
        if cue is not None:
            cs, ce = _span(text, cue, f"triplets.{i}.cue")
            cue_text = text[cs:ce]
        triplets.append({"region": t.get("region"), "finding": t.get("finding"), "existence": t.get("existence"),
                         "sentence": t.get("sentence"), "start": s, "end": e, "text": text[s:e], "cue": cue_text})
    rec = {"id": str(obj["uid"]), "sentences": sentences, "triplets": triplets,
           "region_sentences": obj.get("region_sentences", {}), "tags": derive_tags(triplets, asg_tags),
           "warnings": []}
    ParsedReport.model_validate(rec)
    rec["text"] = text
    return rec


def load_openi_standoff(path: Union[str, Path], csv_path: Union[str, Path, None] = None
                        ) -> tuple[Optional[dict[str, dict[str, Any]]], list[Problem]]:
    """Join OpenI standoff annotations to the CSV text: ParsedReport-like gold records (with `text`) by uid.

    Returns (None, [one problem]) when the CSV is absent, so callers can skip with a clear message.
    """
    from . import openi

    p = Path(path)
    csv_file = openi.resolve_csv(csv_path)
    try:
        rows = openi.read_rows(csv_file)
    except openi.OpenIError as exc:
        return None, [Problem(str(p), 0, f"skipped: {exc}")]
    texts = {str(r["uid"]).strip(): openi.build_text(r.get("findings"), r.get("impression")) for r in rows}
    from anatomy_ontology import load_ontology

    asg_tags = load_ontology().asg_tags
    objects, problems = _json_objects(p)
    if objects is None:
        return None, problems
    records: dict[str, dict[str, Any]] = {}
    for no, obj in objects:
        if not isinstance(obj, dict) or not isinstance(obj.get("uid"), (str, int)):
            problems.append(Problem(str(p), no, "field 'uid': missing"))
            continue
        uid = str(obj["uid"])
        text = texts.get(uid)
        if text is None:
            problems.append(Problem(str(p), no, f"uid {uid}: not in {csv_file}"))
            continue
        if obj.get("text_sha1") != _sha1(text):
            problems.append(Problem(str(p), no, f"uid {uid}: text_sha1 does not match the benchmark text"))
            continue
        try:
            rec = _standoff_record(obj, text, asg_tags)
        except ValidationError as exc:
            problems.append(Problem(str(p), no, f"uid {uid}: {_validation_message(exc)}"))
            continue
        except (ValueError, TypeError) as exc:
            problems.append(Problem(str(p), no, f"uid {uid}: {exc}"))
            continue
        if uid in records:
            problems.append(Problem(str(p), no, f"uid {uid}: duplicate uid (first occurrence kept)"))
            continue
        records[uid] = rec
    return records, problems


def is_standoff(path: Union[str, Path]) -> bool:
    """True when the first record of a JSONL looks like OpenI standoff (uid + text_sha1)."""
    try:
        obj, _ = parse_object(first_line(path))
    except OSError:
        return False
    return isinstance(obj, dict) and "text_sha1" in obj and "uid" in obj


# ---------------------------------------------------------------- matching
EXISTENCE = ("present", "absent", "uncertain")
UNMENTIONED = "unmentioned"


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Character spans [start, end) share at least one character."""
    return a[0] < b[1] and b[0] < a[1]


def _overlap_len(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def match_spans(gold: list[tuple[Any, tuple[int, int]]], pred: list[tuple[Any, tuple[int, int]]]
                ) -> list[tuple[int, int]]:
    """One-to-one maximum matching of gold to pred items with equal keys and overlapping spans.

    Items are (key, (start, end)). Returns (gold index, pred index) pairs; among maximum matchings, candidates with
    the larger overlap are tried first (augmenting paths, Kuhn's algorithm).
    """
    cands: list[list[int]] = []
    for gk, gs in gold:
        c = [j for j, (pk, ps) in enumerate(pred) if pk == gk and overlaps(gs, ps)]
        c.sort(key=lambda j: (-_overlap_len(gs, pred[j][1]), j))
        cands.append(c)
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j in cands[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(gold)):
        augment(i, set())
    return sorted((i, j) for j, i in owner.items())


@dataclass(frozen=True)
class Mention:
    finding: str
    existence: str
    start: int
    end: int
    text: str


def mentions(record: dict[str, Any]) -> list[Mention]:
    """Distinct finding mentions of a record: triplets sharing (finding, start, end) are one mention.

    A mention's existence is its first triplet's (the triplets of one mention should agree).
    """
    out: dict[tuple[str, int, int], Mention] = {}
    for t in record.get("triplets", []):
        key = (t["finding"], t["start"], t["end"])
        if key not in out:
            out[key] = Mention(t["finding"], t["existence"], t["start"], t["end"], t.get("text", ""))
    return list(out.values())


# ---------------------------------------------------------------- metrics
@dataclass
class Counts:
    """tp/fp/fn with P/R/F1.

    `pred_tp` (correct predicted items) differs from `tp` (recalled gold items) only where matching is not
    one-to-one (the region->sentence map); precision uses it when set.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    pred_tp: Optional[int] = None

    def add(self, tp: int = 0, fp: int = 0, fn: int = 0, pred_tp: Optional[int] = None) -> None:
        if pred_tp is not None or self.pred_tp is not None:
            self.pred_tp = (self.tp if self.pred_tp is None else self.pred_tp) + (tp if pred_tp is None else pred_tp)
        self.tp += tp
        self.fp += fp
        self.fn += fn

    def as_dict(self) -> dict[str, Any]:
        ptp = self.tp if self.pred_tp is None else self.pred_tp
        p = ptp / (ptp + self.fp) if ptp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        out = {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": p, "recall": r, "f1": f}
        if self.pred_tp is not None:
            out["pred_tp"] = self.pred_tp
        return out


@dataclass
class ReportDiff:
    """Per-report errors, used to rank the worst reports for --errors."""

    id: str
    triplet_fp: list[dict[str, Any]]
    triplet_fn: list[dict[str, Any]]
    existence_mismatch: list[tuple[Mention, Mention]]
    region_map_fp: list[tuple[str, int]]
    region_map_fn: list[tuple[str, int]]

    @property
    def n_errors(self) -> int:
        return (len(self.triplet_fp) + len(self.triplet_fn) + len(self.existence_mismatch)
                + len(self.region_map_fp) + len(self.region_map_fn))


@dataclass
class EvalResult:
    """All figures of a gold-vs-pred comparison."""

    n_reports: int
    missing_in_pred: list[str]
    missing_in_gold: list[str]
    mention: Counts
    mention_existence: Counts
    triplet: Counts
    confusion: dict[str, dict[str, int]]
    region_map: dict[str, Counts]
    region_map_total: Counts
    per_finding: dict[str, dict[str, Counts]]
    tags: dict[str, Any]
    diffs: list[ReportDiff]

    @property
    def existence_accuracy(self) -> Optional[float]:
        total = sum(sum(row.values()) for row in self.confusion.values())
        return sum(self.confusion[e][e] for e in EXISTENCE) / total if total else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_reports": self.n_reports, "missing_in_pred": self.missing_in_pred,
            "missing_in_gold": self.missing_in_gold,
            "mention": self.mention.as_dict(), "mention_existence": self.mention_existence.as_dict(),
            "triplet": self.triplet.as_dict(), "existence_confusion": self.confusion,
            "existence_accuracy": self.existence_accuracy,
            "region_map": {"overall": self.region_map_total.as_dict(),
                           "per_region": {r: c.as_dict() for r, c in sorted(self.region_map.items())}},
            "per_finding": {f: {k: c.as_dict() for k, c in d.items()} for f, d in sorted(self.per_finding.items())},
            "tags": self.tags,
        }


def _sent_spans(record: dict[str, Any]) -> list[tuple[int, int]]:
    return [(int(s["start"]), int(s["end"])) for s in record.get("sentences", [])]


def region_map_items(gold: dict[str, Any], pred: dict[str, Any]
                     ) -> tuple[dict[str, Counts], list[tuple[str, int]], list[tuple[str, int]]]:
    """Region->sentence map comparison with sentences aligned by character overlap.

    A gold pair (region, gold sentence g) is recalled when pred maps the region to a sentence overlapping g; a pred
    pair (region, pred sentence p) is correct when gold maps the region to a sentence overlapping p.
    Returns per-region counts, the wrong pred pairs and the missed gold pairs.
    """
    gs, ps = _sent_spans(gold), _sent_spans(pred)

    def span(spans: list[tuple[int, int]], i: int) -> Optional[tuple[int, int]]:
        return spans[i] if 0 <= i < len(spans) else None

    counts: dict[str, Counts] = {}
    wrong: list[tuple[str, int]] = []
    missed: list[tuple[str, int]] = []
    gmap = {r: sorted(set(v)) for r, v in (gold.get("region_sentences") or {}).items()}
    pmap = {r: sorted(set(v)) for r, v in (pred.get("region_sentences") or {}).items()}
    for region in set(gmap) | set(pmap):
        c = counts.setdefault(region, Counts(pred_tp=0))
        g_spans = [span(gs, i) for i in gmap.get(region, [])]
        p_spans = [span(ps, i) for i in pmap.get(region, [])]
        for i, g in zip(gmap.get(region, []), g_spans):
            if g is not None and any(p is not None and overlaps(g, p) for p in p_spans):
                c.tp += 1
            else:
                c.fn += 1
                missed.append((region, i))
        for j, p in zip(pmap.get(region, []), p_spans):
            if p is not None and any(g is not None and overlaps(g, p) for g in g_spans):
                c.pred_tp = (c.pred_tp or 0) + 1
            else:
                c.fp += 1
                wrong.append((region, j))
    return counts, wrong, missed


def tag_vector(record: dict[str, Any], asg_tags: list[str]) -> list[Any]:
    """The 40-tag vector of a record: 1, 0, -1, or 'unmentioned'."""
    tags = record.get("tags") or {}
    return [tags.get(t, UNMENTIONED) for t in asg_tags]


def evaluate_records(gold: dict[str, dict[str, Any]], pred: dict[str, dict[str, Any]],
                     asg_tags: Optional[list[str]] = None) -> EvalResult:
    """Compare predictions with gold on the reports present on both sides (ids missing on one side are listed)."""
    if asg_tags is None:
        from anatomy_ontology import load_ontology

        asg_tags = load_ontology().asg_tags
    ids = [i for i in gold if i in pred]
    mention, mention_ex, triplet, rmap_total = Counts(), Counts(), Counts(), Counts(pred_tp=0)
    confusion = {g: {p: 0 for p in EXISTENCE} for g in EXISTENCE}
    region_map: dict[str, Counts] = {}
    per_finding: dict[str, dict[str, Counts]] = {}
    tag_equal = tag_total = tag_mentioned_equal = tag_mentioned_total = 0
    per_tag: dict[str, Counts] = {}
    diffs: list[ReportDiff] = []

    def pf(finding: str) -> dict[str, Counts]:
        return per_finding.setdefault(finding, {"mention": Counts(), "mention_existence": Counts(),
                                                "triplet": Counts()})

    for rid in ids:
        g, p = gold[rid], pred[rid]
        gm, pm = mentions(g), mentions(p)
        pairs = match_spans([(m.finding, (m.start, m.end)) for m in gm], [(m.finding, (m.start, m.end)) for m in pm])
        mg, mp = {i for i, _ in pairs}, {j for _, j in pairs}
        mismatch = []
        for i, j in pairs:
            a, b = gm[i], pm[j]
            mention.add(tp=1)
            pf(a.finding)["mention"].add(tp=1)
            if a.existence in confusion and b.existence in confusion[a.existence]:
                confusion[a.existence][b.existence] += 1
            if a.existence == b.existence:
                mention_ex.add(tp=1)
                pf(a.finding)["mention_existence"].add(tp=1)
            else:
                mention_ex.add(fp=1, fn=1)
                pf(a.finding)["mention_existence"].add(fp=1, fn=1)
                mismatch.append((a, b))
        # unmatched mentions: a miss (gold side) or a false alarm (predicted side), with and without existence
        for side, ms, matched in (("fn", gm, mg), ("fp", pm, mp)):
            for k, m in enumerate(ms):
                if k not in matched:
                    for c in (mention, mention_ex, pf(m.finding)["mention"], pf(m.finding)["mention_existence"]):
                        c.add(**{side: 1})
        gt, pt = g.get("triplets", []), p.get("triplets", [])
        tpairs = match_spans([((t["region"], t["finding"], t["existence"]), (t["start"], t["end"])) for t in gt],
                             [((t["region"], t["finding"], t["existence"]), (t["start"], t["end"])) for t in pt])
        tg, tp_ = {i for i, _ in tpairs}, {j for _, j in tpairs}
        triplet.add(tp=len(tpairs), fn=len(gt) - len(tg), fp=len(pt) - len(tp_))
        for i, t in enumerate(gt):
            pf(t["finding"])["triplet"].add(**({"tp": 1} if i in tg else {"fn": 1}))
        for j, t in enumerate(pt):
            if j not in tp_:
                pf(t["finding"])["triplet"].add(fp=1)
        rcounts, rwrong, rmissed = region_map_items(g, p)
        for region, c in rcounts.items():
            region_map.setdefault(region, Counts(pred_tp=0)).add(c.tp, c.fp, c.fn, c.pred_tp)
            rmap_total.add(c.tp, c.fp, c.fn, c.pred_tp)
        gv, pv = tag_vector(g, asg_tags), tag_vector(p, asg_tags)
        for tag, a, b in zip(asg_tags, gv, pv):
            tag_total += 1
            tag_equal += a == b
            if a != UNMENTIONED or b != UNMENTIONED:
                tag_mentioned_total += 1
                tag_mentioned_equal += a == b
            c = per_tag.setdefault(tag, Counts())
            if a == b:
                c.tp += 1
            else:
                c.fn += 1
        diffs.append(ReportDiff(rid, [t for j, t in enumerate(pt) if j not in tp_],
                                [t for i, t in enumerate(gt) if i not in tg], mismatch, rwrong, rmissed))
    tags = {"accuracy": tag_equal / tag_total if tag_total else None, "equal": tag_equal, "total": tag_total,
            "accuracy_mentioned": tag_mentioned_equal / tag_mentioned_total if tag_mentioned_total else None,
            "mentioned_total": tag_mentioned_total,
            "per_tag_accuracy": {t: c.tp / (c.tp + c.fn) for t, c in per_tag.items() if c.tp + c.fn}}
    return EvalResult(len(ids), [i for i in gold if i not in pred], [i for i in pred if i not in gold],
                      mention, mention_ex, triplet, confusion, region_map, rmap_total, per_finding, tags, diffs)
