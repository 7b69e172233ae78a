"""Gold-vs-prediction metrics for parsed reports, and the gold/prediction loaders (JSONL, OpenI standoff)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from pydantic import ValidationError

from .schema import ParsedReport


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


def load_records(path: Union[str, Path], strict: bool = True,
                 extra_fields: tuple[str, ...] = ("text",)) -> tuple[Optional[dict[str, dict[str, Any]]], list[Problem]]:
    """Read a JSONL of ParsedReport records keyed by `id` (or `uid`).

    strict: each record must validate against the ParsedReport schema (`extra_fields` such as the gold `text` are
    allowed and kept). Not strict: only id + triplets[finding, existence, region] are required (other tools' output).
    Bad lines are skipped and returned as Problems; the dict is None only when the file cannot be read at all.
    """
    p = Path(path)
    problems: list[Problem] = []
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(str(p), 0, f"cannot read file: {getattr(exc, 'strerror', None) or exc}")]
    records: dict[str, dict[str, Any]] = {}
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(str(p), no, f"invalid JSON: {exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(str(p), no, "a line must hold one JSON object"))
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
