"""Report inputs of asg-parse (CSV/TSV, JSONL, a .txt tree, one .txt, stdin), read as a stream of (id, text) items.

Opening an input (`open_reports`) runs every check that needs no full read (the file, its layout, the header or
first JSON object and its columns); the reports are then read lazily, in blocks, so memory does not grow with the
input. Duplicate ids are found by `ids.IdIndex` (12 bytes per distinct id)."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from itertools import chain, islice
from typing import IO, Any, Callable, Iterator, Optional, Sequence

from ..files import decoded_lines, not_an_object, parse_object

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
    """The reports of one input, in input order, all in memory (`read_inputs`)."""

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


# --------------------------------------------------------------------------- raw rows
# A raw row: (id or None for "number it", text, whether its values may hold surrogate-escaped bytes)
Row = tuple[Optional[str], str, bool]


def _table_rows(lines: Iterator[str], source: str, delimiter: str, id_col: Optional[str],
                text_cols: Optional[Sequence[str]]) -> tuple[tuple[str, ...], Iterator[Row]]:
    """The columns of a CSV/TSV (its header is read and checked now) and its rows, read lazily."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    kind = "TSV" if delimiter == "\t" else "CSV"
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{source}: empty file, no header line") from None
    except csv.Error as exc:
        raise InputError(f"{source}: line 1: malformed {kind} header ({exc})") from None
    header = [_clean(h)[0] for h in header]
    id_name, text_names, fallback = choose_columns(header, source, id_col, text_cols)
    index = {name: i for i, name in enumerate(header)}
    id_i = index[id_name] if id_name is not None else None
    text_i = [index[n] for n in text_names]
    fb_i = index[_find(header, FALLBACK_COLUMN)] if fallback else None  # type: ignore[index]
    width = len(header)

    def rows() -> Iterator[Row]:
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InputError(f"{source}: line {line}: malformed {kind} ({exc})") from None
            if not row:
                continue  # a blank line is no report
            if len(row) != width:
                raise InputError(f"{source}: line {line}: malformed {kind}, expected {width} fields, found {len(row)}")
            body = _compose([row[i] for i in text_i], text_names, row[fb_i] if fb_i is not None else "")
            yield (row[id_i].strip() if id_i is not None else None), body, True

    return tuple(([id_name] if id_name else []) + text_names), rows()


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)


def _json_objects(lines: Iterator[bytes], source: str) -> Iterator[tuple[int, dict, bool]]:
    """(line number, object, whether the line had undecodable bytes) of each non-blank JSONL line."""
    for number, line, bad in decoded_lines(lines):
        obj, problem = parse_object(line)
        problem = problem or not_an_object(obj)
        if problem:
            raise InputError(f"{source}: line {number}: {problem}")
        yield number, obj, bad


def _jsonl_rows(lines: Iterator[bytes], source: str, id_col: Optional[str],
                text_cols: Optional[Sequence[str]]) -> tuple[tuple[str, ...], Iterator[Row]]:
    """The keys a JSONL input is read by (its first object is read and checked now) and its rows, read lazily."""
    objects = _json_objects(lines, source)
    head = next(objects, None)
    if head is None:
        return (), iter(())
    id_name, text_names, fallback = choose_columns(list(head[1]), f"{source}: line {head[0]}", id_col, text_cols)

    def rows() -> Iterator[Row]:
        for number, obj, bad in chain([head], objects):
            if id_name is not None:
                if id_name not in obj:
                    raise InputError(f"{source}: line {number}: no key '{id_name}' (keys: {', '.join(obj) or 'none'})")
                rid: Optional[str] = _as_text(obj[id_name]).strip()
            else:
                rid = None
            values = [_as_text(obj.get(n)) for n in text_names]
            yield rid, _compose(values, text_names, _as_text(obj.get(FALLBACK_COLUMN)) if fallback else ""), bad

    return tuple(([id_name] if id_name else []) + text_names), rows()


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _txt_files(folder: Path) -> Iterator[Path]:
    """The .txt files under `folder` in the order of their relative paths as strings (a directory sorts as its name
    plus '/'), walked one directory at a time: memory holds one listing per level, not the whole tree."""
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        raise InputError(f"{folder}: cannot read ({exc.strerror})") from None
    keyed = []
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            keyed.append((entry.name + "/", entry))
        elif entry.name.endswith(".txt") and entry.is_file():
            keyed.append((entry.name, entry))
    for _, entry in sorted(keyed, key=lambda pair: pair[0]):
        if entry.is_dir(follow_symlinks=False):
            yield from _txt_files(Path(entry.path))
        else:
            yield Path(entry.path)


def _dir_rows(root: Path) -> Iterator[Row]:
    """The reports of a .txt tree; raises InputError now when there is none."""
    files = _txt_files(root)
    first = next(files, None)
    if first is None:
        raise InputError(f"{root}: no .txt files in this directory or below")

    def rows() -> Iterator[Row]:
        for p in chain([first], files):
            text, bad = _decode(_read_bytes(p))
            yield p.stem, text, bad

    return rows()


class _Prefixed(io.RawIOBase):
    """A binary stream that gives `head` first, then the rest of `rest` (stdin after its layout was sniffed)."""

    def __init__(self, head: bytes, rest: IO[bytes]):
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.rest.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _sniff_head(stream: IO[bytes]) -> bytes:
    """The start of `stream`: up to the end of its first non-blank line (or all of it)."""
    head = b""
    while True:
        data = stream.read(65536)
        head += data
        stripped = head.lstrip()
        if not data or (stripped and b"\n" in stripped):
            return head


# --------------------------------------------------------------------------- the stream of items
@dataclass
class Block:
    """Items of one stretch of the input, with how far the reading got."""

    items: list[Item]
    read: int  # input records read so far, in every shard
    position: int  # bytes of the input read so far (0 where unknown)


class Reports:
    """The reports of one input as a stream; opening it ran the up-front checks. `blocks` reads them."""

    def __init__(self, layout: str, source: str, rows: Iterator[Row], columns: tuple[str, ...] = (),
                 size: Optional[int] = None, position: Callable[[], int] = lambda: 0):
        self.layout, self.source, self.columns = layout, source, columns
        self.size = size  # bytes of the input, where known
        self._rows, self._position = rows, position
        self.records = 0  # input records read so far
        self._ids = hashlib.sha256()

    def blocks(self, shard: Optional[tuple[int, int]] = None, size: int = 1000) -> Iterator[Block]:
        """Items in input order, `size` records read per block: undecodable bytes replaced, empty ids numbered,
        duplicate ids warned (`IdIndex`). `shard` (I, N): only records I, I + N, I + 2N, ... (1-based) are kept;
        every record is still read, so numbers and warnings are those of the whole input."""
        from .ids import IdIndex

        index = IdIndex()
        pick = None if shard is None else shard[0] - 1
        every = 1 if shard is None else shard[1]
        while True:
            raw = list(islice(self._rows, size))
            if not raw:
                return
            start = self.records + 1
            rids: list[str] = []
            found: list[list[str]] = []
            texts: list[str] = []
            for number, (rid, text, bad) in enumerate(raw, start=start):
                warnings = []
                if bad:
                    rid, bad_id = _clean(rid) if rid is not None else (None, False)
                    text, bad_text = _clean(text)
                    if bad_id or bad_text:
                        warnings.append(BAD_BYTES_WARNING)
                if rid is None:
                    rid = str(number)
                elif not rid.strip():
                    rid = str(number)
                    warnings.append(EMPTY_ID_WARNING)
                rids.append(rid)
                texts.append(text)
                found.append(warnings)
            self.records += len(raw)
            if shard is not None:
                self._ids.update("\n".join(rids).encode("utf-8", "surrogatepass") + b"\n")
            items = []
            for k, first in enumerate(index.firsts(rids, start)):
                number = start + k
                if (number - 1) % every != (pick or 0):
                    continue
                warnings = found[k]
                if first != number:
                    warnings.append(f"duplicate id '{rids[k]}' (first used by record {first})")
                items.append((rids[k], texts[k], tuple(warnings)))
            yield Block(items, self.records, self._position())

    def ids_digest(self) -> str:
        """sha256 of the ids of every record read (by a sharded `blocks`): the same in every shard of one input."""
        return self._ids.hexdigest()


def open_reports(path: str, id_col: Optional[str] = None, text_cols: Optional[Sequence[str]] = None,
                 stdin: Optional[IO[bytes]] = None, layout: Optional[str] = None) -> Reports:
    """Open the reports of `path` (a file, a directory, or `-` for stdin): the layout, the header or first JSON
    object and the columns are checked now (InputError), the reports are read as the stream is."""
    layout = layout or detect_layout(path)
    if layout == "dir":
        return Reports("dir", path, _dir_rows(Path(path)))
    if layout == "stdin":
        raw = stdin if stdin is not None else sys.stdin.buffer
        head = _sniff_head(raw)
        source = "<stdin>"
        layout = sniff_layout(_decode(head)[0]) or "text"
        binary: IO[bytes] = io.BufferedReader(_Prefixed(head, raw))  # type: ignore[arg-type]
        size = None
    else:
        source = path
        try:
            binary = open(path, "rb")  # noqa: SIM115 (read lazily: closed with the process)
            size = os.fstat(binary.fileno()).st_size
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    def position() -> int:  # (the file is closed once read to the end)
        return 0 if size is None else size if binary.closed else binary.tell()

    if layout in ("csv", "tsv"):
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
        columns, rows = _table_rows(_read_lines(text, source), source, "\t" if layout == "tsv" else ",", id_col,
                                    text_cols)
        return Reports(layout, source, rows, columns, size, position)
    if layout == "jsonl":
        columns, rows = _jsonl_rows(_read_lines(binary, source), source, id_col, text_cols)
        return Reports("jsonl", source, rows, columns, size, position)
    text, bad = _decode(_read_all(binary, source))
    rid = "stdin" if layout == "text" else Path(path).stem
    return Reports(layout, source, iter([(rid, text, bad)]), (), size, position)


def _read_lines(stream: IO[Any], source: str) -> Iterator[Any]:
    """The lines of `stream`, a read error as InputError."""
    try:
        yield from stream
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({exc.strerror})") from None


def _read_all(stream: IO[bytes], source: str) -> bytes:
    try:
        return stream.read()
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({exc.strerror})") from None


def read_inputs(path: str, id_col: Optional[str] = None, text_cols: Optional[Sequence[str]] = None,
                stdin: Optional[IO[bytes]] = None, layout: Optional[str] = None) -> Inputs:
    """Every report of `path` at once (`open_reports` read to the end): for small inputs and tests."""
    reports = open_reports(path, id_col, text_cols, stdin, layout)
    items = [item for block in reports.blocks() for item in block.items]
    return Inputs(reports.layout, reports.source, items, reports.columns)
