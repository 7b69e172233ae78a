"""Where asg-parse writes: the atomic JSONL writer (OUT.partial, renamed when the run completes) and the ids of a
previous run's records, read as a stream and checked against the input for --resume."""
from __future__ import annotations

import json
import os
import shutil
import sys
from json.decoder import scanstring  # type: ignore[attr-defined]
from pathlib import Path
from typing import IO, Iterator, Optional

from .io import InputError, Item

_ID_HEAD = b'{"id":"'  # how every record line starts (the id is the first key, a string)


def partial_path(out: Path) -> Path:
    """Where an unfinished run writes its records (renamed to `out` when the run completes)."""
    return out.with_name(out.name + ".partial")


def cut_torn_line(path: Path) -> None:
    """Cut a last line that has no newline (a run killed mid-write) off the file; reads only its end."""
    with path.open("rb+") as fh:
        end = fh.seek(0, os.SEEK_END)
        pos = end
        while pos > 0:
            step = min(pos, 65536)
            fh.seek(pos - step)
            block = fh.read(step)
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = pos - step + newline + 1
                break
            pos -= step
        else:
            keep = 0
        if keep < end:
            fh.truncate(keep)


def record_id(line: bytes) -> Optional[str]:
    """The id of a record line, or None if the line is no asg-parse record."""
    if line.startswith(_ID_HEAD):
        try:
            return scanstring(line.decode("utf-8"), len(_ID_HEAD))[0]
        except (ValueError, IndexError):  # (UnicodeDecodeError is a ValueError)
            return None
    try:
        rid = json.loads(line)["id"]
    except (ValueError, KeyError, TypeError):
        return None
    return str(rid)


def iter_done_ids(path: Path) -> Iterator[str]:
    """The ids of the records in a previous run's output, in order, read line by line."""
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            rid = record_id(line)
            if rid is None:
                raise InputError(f"{path}: line {number}: not an asg-parse record; "
                                 "cannot resume (remove the file to start over)")
            yield rid


def read_done_ids(path: Path) -> list[str]:
    """Ids of the complete records in a previous run's output; a torn last line is cut off the file."""
    cut_torn_line(path)
    return list(iter_done_ids(path))


class JsonlWriter:
    """Writes records to `OUT.partial` and renames it to OUT on commit; `-` writes to stdout."""

    def __init__(self, out: str, resume: bool = False):
        self.to_stdout = out == "-"
        self.resumed = False  # whether OUT.partial holds a previous run's records to continue
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
                shutil.copyfile(self.path, self.tmp)
            if self.tmp.exists():
                cut_torn_line(self.tmp)
                self.resumed = True
        try:
            self.fh = self.tmp.open("a" if resume else "w", encoding="utf-8", newline="\n")
        except OSError as exc:
            raise InputError(f"{self.tmp}: cannot write ({exc.strerror})") from None

    def done_ids(self) -> Iterator[str]:
        """The ids of the records kept from the previous run (--resume), read from OUT.partial as they are asked for."""
        return iter_done_ids(self.tmp) if self.resumed and self.tmp is not None else iter(())

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

    def discard(self) -> None:
        """Stop without finishing and without records worth keeping: OUT.partial is removed."""
        self.keep_partial()
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def skip_done(writer: JsonlWriter, items: Iterator[Item]) -> int:
    """--resume: check the records kept from the previous run against the first items (same ids, in order) and
    consume those items; the number kept. Both are read as streams."""
    kept = 0
    for done_id in writer.done_ids():
        item = next(items, None)
        if item is None or item[0] != done_id:
            found = f"input record {kept + 1} is '{item[0]}'" if item is not None \
                else f"the input has only {kept} reports"
            raise InputError(f"{writer.tmp}: record {kept + 1} has id '{done_id}' but {found}; "
                             "cannot resume (remove the file to start over)")
        kept += 1
    return kept
