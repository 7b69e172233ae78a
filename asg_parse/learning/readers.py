"""Training inputs, their format detected from the file: our gold JSONL (GUIDELINES), OpenI standoff gold, the
BioScope JSONL (linguistic reading), the NegEx/ConText TSV; and silver labels (rule output on unlabelled reports).
Every problem is a `DataError` whose one-line message names the file, line and field."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any, Optional

from ..files import first_line, json_records, not_an_object, parse_object, utf8_text
from .examples import LabelledReport, Mention

EXISTENCE = ("present", "absent", "uncertain")
FORMATS = ("gold", "standoff", "bioscope", "negex")


class DataError(ValueError):
    """A training input that cannot be read (one-line message)."""


def detect_format(path: Path) -> str:
    """gold | standoff | bioscope | negex, from the file's first line."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        first = first_line(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not first:
        raise DataError(f"{path}: empty file")
    if path.suffix.lower() in (".tsv", ".txt") or "\t" in first:
        if "negation_status" in first:
            return "negex"
        raise DataError(f"{path}:1: a TSV needs the NegEx columns (Condition, sentence, negation_status)")
    obj, problem = parse_object(first)
    if problem:
        raise DataError(f"{path}:1: neither JSONL (gold, standoff, BioScope) nor the NegEx TSV ({problem})")
    if problem := not_an_object(obj):
        raise DataError(f"{path}:1: {problem}")
    if "text_sha1" in obj and "uid" in obj:
        return "standoff"
    if "cues" in obj and "scopes" in obj:
        return "bioscope"
    if "text" in obj and "triplets" in obj:
        return "gold"
    raise DataError(f"{path}:1: unknown JSONL record (gold needs text + triplets; BioScope cues + scopes; "
                    "standoff uid + text_sha1)")


def read_labelled(path: Path, fmt: Optional[str] = None, nlp: Optional[Any] = None,
                  skipped: Optional[list[str]] = None) -> list[LabelledReport]:
    """The labelled reports of one input file (`fmt` detected when None); rows that cannot be used (a NegEx
    condition not found in its sentence) are listed in `skipped`."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "gold":
        return gold_reports(path)
    if fmt == "standoff":
        return standoff_reports(path)
    if fmt == "negex":
        return negex_reports(path, skipped)
    if fmt == "bioscope":
        from ..evaluation.bioscope import BioScopeError
        from .bioscope import read_bioscope

        try:
            return read_bioscope(path, nlp)
        except BioScopeError as exc:
            raise DataError(str(exc)) from None
    raise DataError(f"{path}: unknown format {fmt!r} (one of {', '.join(FORMATS)})")


def _mentions_of(record: dict[str, Any], where: str) -> list[Mention]:
    """The distinct mentions (start, end, finding) of a gold record's triplets, validated."""
    text = record.get("text")
    if not isinstance(text, str):
        raise DataError(f"{where}: field 'text' missing or not a string")
    triplets = record.get("triplets")
    if not isinstance(triplets, list):
        raise DataError(f"{where}: field 'triplets' missing or not a list")
    seen: dict[tuple[int, int, str], str] = {}
    for k, t in enumerate(triplets):
        if not isinstance(t, dict):
            raise DataError(f"{where}: triplets[{k}] is not an object")
        start, end, existence, finding = t.get("start"), t.get("end"), t.get("existence"), t.get("finding")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            raise DataError(f"{where}: triplets[{k}]: fields 'start'/'end' must be offsets into the text")
        if existence not in EXISTENCE:
            raise DataError(f"{where}: triplets[{k}]: field 'existence' must be one of {', '.join(EXISTENCE)}")
        if not isinstance(finding, str):
            raise DataError(f"{where}: triplets[{k}]: field 'finding' missing")
        seen.setdefault((start, end, finding), existence)
    return [Mention(s, e, ex, f) for (s, e, f), ex in seen.items()]


def gold_reports(path: Path) -> list[LabelledReport]:
    """Our gold JSONL (GUIDELINES): one report per line with `text` and `triplets`."""
    out = []
    for no, rec in json_records(path, DataError):
        rid = str(rec.get("id", no))
        out.append(LabelledReport(rid, rec.get("text", ""), _mentions_of(rec, f"{path}:{no}"), group=rid,
                                  source=f"{path}:{no}"))
    return out


def standoff_reports(path: Path) -> list[LabelledReport]:
    """OpenI standoff gold, its texts rebuilt from the OpenI CSV (../shared/data/openi or $ASG_OPENI_CSV)."""
    from ..evaluation.scoring import load_openi_standoff

    records, problems = load_openi_standoff(path)
    if records is None or problems:
        raise DataError(str(problems[0]) if problems else f"{path}: cannot read")
    return [LabelledReport(uid, rec["text"], _mentions_of(rec, f"{path} uid {uid}"), group=uid,
                           source=f"{path} uid {uid}") for uid, rec in records.items()]


def locate(sentence: str, condition: str) -> Optional[tuple[int, int]]:
    """The characters of `condition` in `sentence`: case-insensitive, any whitespace run matching any other."""
    words = condition.split()
    if not words:
        return None
    m = re.search(r"\s+".join(re.escape(w) for w in words), sentence, flags=re.IGNORECASE)
    return (m.start(), m.end()) if m else None


def negex_reports(path: Path, skipped: Optional[list[str]] = None) -> list[LabelledReport]:
    """The NegEx/ConText TSV: one report per sentence, its condition absent (Negated) or present (Affirmed).
    A condition that cannot be located in its sentence is listed in `skipped` (never silently dropped)."""
    rows = list(csv.reader(io.StringIO(utf8_text(path, DataError), newline=""), delimiter="\t"))
    if not rows:
        raise DataError(f"{path}: empty file")
    header = [h.strip().lower().split(" (")[0] for h in rows[0]]  # "negation_status (negated, affirmed, ...)"
    try:
        c_cond, c_sent, c_neg = header.index("condition"), header.index("sentence"), header.index("negation_status")
    except ValueError:
        raise DataError(f"{path}:1: header needs the columns Condition, sentence, negation_status") from None
    out = []
    for no, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(c_cond, c_sent, c_neg):
            raise DataError(f"{path}:{no}: {len(row)} columns, the header has {len(header)}")
        status = row[c_neg].strip().lower()
        if status not in ("affirmed", "negated"):
            raise DataError(f"{path}:{no}: field 'negation_status' must be Affirmed or Negated, not {row[c_neg]!r}")
        span = locate(row[c_sent], row[c_cond])
        if span is None:
            if skipped is not None:
                skipped.append(f"{path}:{no}: condition {row[c_cond]!r} not found in its sentence")
            continue
        out.append(LabelledReport(str(no), row[c_sent], [Mention(*span, "absent" if status == "negated" else "present")],
                                  group=str(no), source=f"{path}:{no}"))
    return out


def silver_reports(path: Path, weight: float, nlp: Optional[Any] = None) -> list[LabelledReport]:
    """Silver labels: the rule pipeline's existence of every finding mention of unlabelled reports (any input the
    parse command reads), each mention weighted `weight`."""
    import asg_parse
    from ..cli.io import InputError, read_inputs
    from ..pipeline.mentions import FINDINGS_KEY

    try:
        items = read_inputs(str(path)).items
    except InputError as exc:
        raise DataError(str(exc)) from None
    nlp = nlp or asg_parse.load()
    out = []
    for rid, text, _ in items:
        doc = nlp(text)
        seen, mentions = set(), []
        for span in doc.spans.get(FINDINGS_KEY, []):
            key = (span.start_char, span.end_char, span.label_)
            if key not in seen:
                seen.add(key)
                mentions.append(Mention(*key[:2], span._.asg_existence or "present", span.label_))
        out.append(LabelledReport(str(rid), text, mentions, group=str(rid), weight=weight, source=f"{path} id {rid}"))
    return out
