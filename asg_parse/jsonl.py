"""JSON Lines input: the objects of a JSONL file with their line numbers; a bad line is one error naming file and line."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Union


def json_records(path: Union[str, Path], error: type[Exception] = ValueError) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line of a JSONL file; a line that is not one JSON object raises
    `error` naming the file and line."""
    with Path(path).open(encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(f"{path}: line {no}: invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise error(f"{path}: line {no}: a line must hold one JSON object")
            yield no, obj
