"""Report inputs of asg-parse (CSV/TSV, JSONL, a .txt tree, one .txt, stdin) and the atomic JSONL writer."""
from __future__ import annotations

import csv
import io
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Optional, Sequence

ID_COLUMNS = ("id", "study_id", "study", "uid", "dicom_id")
TEXT_COLUMNS = ("report", "text")
SECTION_COLUMNS = ("findings", "impression")
FALLBACK_COLUMN = "last_paragraph"  # MIMIC-CXR sectioned CSV: the text when findings and impression are empty
LAYOUTS = ("csv", "tsv", "jsonl", "dir", "txt", "text")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "txt"}
BAD_BYTES_WARNING = "undecodable bytes replaced with U+FFFD"
EMPTY_ID_WARNING = "empty id; the record number was used instead"

# One input report: (id, text, warnings found while reading it).
Item = tuple[str, str, tuple[str, ...]]


class InputError(ValueError):
    """A problem with the input or output that stops the run before parsing; the message is one line."""


@dataclass
class Inputs:
    """The reports of one input, in input order."""

    layout: str
    source: str
    items: list[Item] = field(default_factory=list)
    columns: tuple[str, ...] = ()  # id column first, then the text columns (tables only)


# --------------------------------------------------------------------------- decoding
def _decode(data: bytes) -> tuple[str, bool]:
    """UTF-8 text (BOM dropped); undecodable bytes are kept as surrogates, flagged by the second value."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", "surrogateescape"), True


def _clean(value: str) -> tuple[str, bool]:
    """Replace surrogate-escaped bytes by U+FFFD; True when something was replaced."""
    try:
        value.encode("utf-8")
        return value, False
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), True


def decode_report(data: bytes) -> tuple[str, bool]:
    """Bytes of one report as text, undecodable bytes replaced by U+FFFD (flagged by the second value)."""
    text, bad = _decode(data)
    return _clean(text) if bad else (text, False)


# --------------------------------------------------------------------------- layout
def _header_names(line: str, delimiter: str) -> list[str]:
    try:
        return [c.strip().lower() for c in next(csv.reader([line], delimiter=delimiter))]
    except (csv.Error, StopIteration):
        return []


def _looks_like_table(line: str, delimiter: str) -> bool:
    names = set(_header_names(line, delimiter))
    return len(names) > 1 and bool(names & set(ID_COLUMNS + TEXT_COLUMNS + SECTION_COLUMNS))


def sniff_layout(text: str) -> Optional[str]:
    """Guess csv/tsv/jsonl from content, or None."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return "jsonl"
    first = stripped.split("\n", 1)[0]
    if "\t" in first and _looks_like_table(first, "\t"):
        return "tsv"
    if "," in first and _looks_like_table(first, ","):
        return "csv"
    return None


def detect_layout(path: str) -> str:
    """The layout of `path` (one of LAYOUTS; `-` is stdin); raises InputError for a missing or unknown input."""
    if path == "-":
        return "stdin"
    p = Path(path)
    if p.is_dir():
        return "dir"
    if not p.exists():
        raise InputError(f"{path}: no such file or directory")
    if not p.is_file():
        raise InputError(f"{path}: not a regular file")
    layout = _EXTENSIONS.get(p.suffix.lower())
    if layout is not None:
        return layout
    try:
        with p.open("rb") as fh:
            head, _ = _decode(fh.read(65536))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    guessed = sniff_layout(head)
    if guessed is None:
        raise InputError(f"{path}: cannot tell the layout; expected a .csv, .tsv, .jsonl or .txt file, "
                         "or a directory of .txt files")
    return guessed


# --------------------------------------------------------------------------- column choice
def _find(names: Sequence[str], wanted: str) -> Optional[str]:
    if wanted in names:
        return wanted
    low = wanted.lower()
    for n in names:
        if n.strip().lower() == low:
            return n
    return None


def choose_columns(names: Sequence[str], source: str, id_col: Optional[str],
                   text_cols: Optional[Sequence[str]]) -> tuple[Optional[str], list[str], bool]:
    """(id column or None, text columns, whether the MIMIC `last_paragraph` fallback applies)."""
    listed = ", ".join(names) if names else "none"
    if id_col:
        found = _find(names, id_col)
        if found is None:
            raise InputError(f"{source}: no column '{id_col}' (columns: {listed})")
        id_name: Optional[str] = found
    else:
        id_name = next((f for f in (_find(names, c) for c in ID_COLUMNS) if f is not None), None)
    if text_cols:
        texts = []
        for col in text_cols:
            found = _find(names, col)
            if found is None:
                raise InputError(f"{source}: no column '{col}' (columns: {listed})")
            texts.append(found)
        return id_name, texts, False
    for col in TEXT_COLUMNS:
        found = _find(names, col)
        if found is not None:
            return id_name, [found], False
    sections = [f for f in (_find(names, c) for c in SECTION_COLUMNS) if f is not None]
    if sections:
        return id_name, sections, _find(names, FALLBACK_COLUMN) is not None
    raise InputError(f"{source}: no report text column; expected 'report', 'text' or 'findings'/'impression' "
                     f"(columns: {listed}); choose one with --text-col")


def _compose(values: Sequence[str], names: Sequence[str], fallback: str) -> str:
    """One column: its text. Several: 'NAME: text' lines for the non-empty ones (the OpenI benchmark form)."""
    if len(values) == 1:
        return values[0]
    parts = [f"{n.strip().upper()}: {v.strip()}" for n, v in zip(names, values) if v and v.strip()]
    if not parts and fallback.strip():
        return fallback
    return "\n".join(parts)


# --------------------------------------------------------------------------- readers
class _Collector:
    """Builds items: cleans undecodable bytes, fills empty ids, warns about duplicate ids."""

    def __init__(self, bad_bytes: bool):
        self.bad_bytes = bad_bytes
        self.items: list[Item] = []
        self.first: dict[str, int] = {}

    def add(self, rid: str, text: str) -> None:
        warnings: list[str] = []
        if self.bad_bytes:
            rid, bad_id = _clean(rid)
            text, bad_text = _clean(text)
            if bad_id or bad_text:
                warnings.append(BAD_BYTES_WARNING)
        number = len(self.items) + 1
        if not rid.strip():
            rid = str(number)
            warnings.append(EMPTY_ID_WARNING)
        first = self.first.setdefault(rid, number)
        if first != number:
            warnings.append(f"duplicate id '{rid}' (first used by record {first})")
        self.items.append((rid, text, tuple(warnings)))


def _read_table(text: str, bad: bool, source: str, delimiter: str, id_col: Optional[str],
                text_cols: Optional[Sequence[str]]) -> Inputs:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    kind = "TSV" if delimiter == "\t" else "CSV"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{source}: empty file, no header line") from None
    except csv.Error as exc:
        raise InputError(f"{source}: line 1: malformed {kind} header ({exc})") from None
    if bad:
        header = [_clean(h)[0] for h in header]
    id_name, text_names, fallback = choose_columns(header, source, id_col, text_cols)
    index = {name: i for i, name in enumerate(header)}
    id_i = index[id_name] if id_name is not None else None
    text_i = [index[n] for n in text_names]
    fb_i = index[_find(header, FALLBACK_COLUMN)] if fallback else None  # type: ignore[index]
    width = len(header)
    out = _Collector(bad)
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(f"{source}: line {line}: malformed {kind} ({exc})") from None
        if not row:
            continue  # a blank line is no report
        if len(row) != width:
            raise InputError(f"{source}: line {line}: malformed {kind}, expected {width} fields, found {len(row)}")
        rid = row[id_i] if id_i is not None else str(len(out.items) + 1)
        body = _compose([row[i] for i in text_i], text_names, row[fb_i] if fb_i is not None else "")
        out.add(rid.strip(), body)
    cols = tuple(([id_name] if id_name else []) + text_names)
    return Inputs("tsv" if delimiter == "\t" else "csv", source, out.items, cols)


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)


def _read_jsonl(text: str, bad: bool, source: str, id_col: Optional[str],
                text_cols: Optional[Sequence[str]]) -> Inputs:
    out = _Collector(bad)
    chosen: Optional[tuple[Optional[str], list[str], bool]] = None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}: line {number}: malformed JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise InputError(f"{source}: line {number}: expected a JSON object, found {type(obj).__name__}")
        if chosen is None:
            chosen = choose_columns(list(obj), f"{source}: line {number}", id_col, text_cols)
        id_name, text_names, fallback = chosen
        if id_name is not None:
            if id_name not in obj:
                raise InputError(f"{source}: line {number}: no key '{id_name}' (keys: {', '.join(obj) or 'none'})")
            rid = _as_text(obj[id_name]).strip()
        else:
            rid = str(len(out.items) + 1)
        values = [_as_text(obj.get(n)) for n in text_names]
        body = _compose(values, text_names, _as_text(obj.get(FALLBACK_COLUMN)) if fallback else "")
        out.add(rid, body)
    cols = tuple(([chosen[0]] if chosen and chosen[0] else []) + (chosen[1] if chosen else []))
    return Inputs("jsonl", source, out.items, cols)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _read_dir(root: Path) -> Inputs:
    files = sorted((p for p in root.rglob("*.txt") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())
    if not files:
        raise InputError(f"{root}: no .txt files in this directory or below")
    out = _Collector(False)
    for p in files:
        text, bad = _decode(_read_bytes(p))
        out.bad_bytes = bad
        out.add(p.stem, text)
    return Inputs("dir", str(root), out.items)


def read_inputs(path: str, id_col: Optional[str] = None, text_cols: Optional[Sequence[str]] = None,
                stdin: Optional[IO[bytes]] = None, layout: Optional[str] = None) -> Inputs:
    """Read every report of `path` (a file, a directory, or `-` for stdin) in input order; `layout`: its
    `detect_layout`, when the caller has it."""
    layout = layout or detect_layout(path)
    if layout == "dir":
        return _read_dir(Path(path))
    if layout == "stdin":
        stream = stdin if stdin is not None else sys.stdin.buffer
        text, bad = _decode(stream.read())
        source = "<stdin>"
        layout = sniff_layout(text) or "text"
    else:
        text, bad = _decode(_read_bytes(Path(path)))
        source = path
    if layout in ("csv", "tsv"):
        return _read_table(text, bad, source, "\t" if layout == "tsv" else ",", id_col, text_cols)
    if layout == "jsonl":
        return _read_jsonl(text, bad, source, id_col, text_cols)
    out = _Collector(bad)
    out.add("stdin" if layout == "text" else Path(path).stem, text)
    return Inputs(layout, source, out.items)


# --------------------------------------------------------------------------- output
def partial_path(out: Path) -> Path:
    """Where an unfinished run writes its records (renamed to `out` when the run completes)."""
    return out.with_name(out.name + ".partial")


def read_done_ids(path: Path) -> list[str]:
    """Ids of the complete records in a previous run's output; a torn last line is cut off the file."""
    ids: list[str] = []
    keep = 0
    with path.open("rb+") as fh:
        data = fh.read()
        pos = 0
        while True:
            end = data.find(b"\n", pos)
            if end < 0:
                break
            line = data[pos:end]
            try:
                rid = json.loads(line)["id"]
            except (ValueError, KeyError, TypeError):
                raise InputError(f"{path}: line {len(ids) + 1}: not an asg-parse record; "
                                 "cannot resume (remove the file to start over)") from None
            ids.append(str(rid))
            pos = keep = end + 1
        if keep < len(data):
            fh.truncate(keep)
    return ids


class JsonlWriter:
    """Writes records to `OUT.partial` and renames it to OUT on commit; `-` writes to stdout."""

    def __init__(self, out: str, resume: bool = False):
        self.to_stdout = out == "-"
        self.done: list[str] = []
        if self.to_stdout:
            if resume:
                raise InputError("--resume needs an output file, not stdout")
            self.path = self.tmp = None
            self.fh: IO[str] = sys.stdout
            return
        self.path = Path(out)
        parent = self.path.parent
        if not parent.is_dir():
            raise InputError(f"{out}: output directory {parent} does not exist")
        if self.path.is_dir():
            raise InputError(f"{out}: is a directory")
        self.tmp = partial_path(self.path)
        if resume:
            if not self.tmp.exists() and self.path.exists():
                self.tmp.write_bytes(self.path.read_bytes())
            if self.tmp.exists():
                self.done = read_done_ids(self.tmp)
        try:
            self.fh = self.tmp.open("a" if resume else "w", encoding="utf-8", newline="\n")
        except OSError as exc:
            raise InputError(f"{self.tmp}: cannot write ({exc.strerror})") from None

    def write(self, blob: str) -> None:
        """Append JSON lines (each ending with a newline)."""
        self.fh.write(blob)

    def flush(self) -> None:
        self.fh.flush()

    def commit(self) -> None:
        """Finish: stdout is flushed; a file is synced and renamed into place."""
        self.fh.flush()
        if self.to_stdout:
            return
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self.tmp, self.path)  # type: ignore[arg-type]

    def keep_partial(self) -> None:
        """Stop without finishing: the records so far stay in OUT.partial for --resume."""
        try:
            self.fh.flush()
        finally:
            if not self.to_stdout:
                self.fh.close()
