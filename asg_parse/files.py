"""Files read one way everywhere: JSON Lines (bytes to lines, a byte-order mark and bad bytes handled, lines to
objects) and whole UTF-8 text files, every problem one message naming file and line; and the check of an output
folder."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

BOM = b"\xef\xbb\xbf"


def decoded_lines(lines: Iterable[bytes]) -> Iterator[tuple[int, str, bool]]:
    """(line number, text, whether the line held bytes that are not UTF-8) of each non-blank line; a byte-order mark
    before the first line is dropped, bytes that do not decode are kept as surrogate escapes."""
    for number, data in enumerate(lines, start=1):
        if number == 1 and data.startswith(BOM):
            data = data[len(BOM):]
        try:
            text, bad = data.decode("utf-8"), False
        except UnicodeDecodeError:
            text, bad = data.decode("utf-8", "surrogateescape"), True
        if text.strip():
            yield number, text.rstrip("\r\n"), bad


def parse_object(line: str) -> tuple[Optional[Any], Optional[str]]:
    """(the line's JSON value, None), or (None, what is wrong) when the line is not JSON at all."""
    try:
        return json.loads(line), None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at column {exc.colno})"


def not_an_object(value: Any) -> Optional[str]:
    """What is wrong with a line's JSON value that is not an object, or None."""
    return None if isinstance(value, dict) else f"a line must hold one JSON object, not {type(value).__name__}"


def json_records(path: Union[str, Path], error: type[Exception] = ValueError) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line of a JSONL file; a line that is not one JSON object in UTF-8
    raises `error` naming the file and line."""
    with Path(path).open("rb") as fh:
        for no, line, bad in decoded_lines(fh):
            if bad:
                raise error(f"{path}: line {no}: not valid UTF-8")
            obj, problem = parse_object(line)
            problem = problem or not_an_object(obj)
            if problem:
                raise error(f"{path}: line {no}: {problem}")
            yield no, obj


def first_line(path: Union[str, Path]) -> str:
    """The first non-blank line of a file, decoded as `decoded_lines` does ('' when there is none); OSError passes."""
    with Path(path).open("rb") as fh:
        for _, text, _ in decoded_lines(fh):
            return text
    return ""


def utf8_text(path: Union[str, Path], error: type[Exception] = ValueError) -> str:
    """The text of a UTF-8 file (a byte-order mark dropped); a byte that is not UTF-8 raises `error` naming the file
    and its line."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(f"{path}: line {line}: not valid UTF-8") from None


def folder_problem(path: Union[str, Path]) -> Optional[str]:
    """Why `path` cannot be an output folder (a file is there), or None."""
    return f"{path}: exists and is not a folder" if Path(path).exists() and not Path(path).is_dir() else None
