"""Shards of one input for many machines: `--shard I/N` keeps input records I, I + N, I + 2N, ... (1-based), and
`merge` interleaves the shard outputs back into input order, checking that every record is there exactly once.

Shard I's k-th record is input record I + (k - 1) * N, so merging is a round robin over the shard files and needs
no field in the records: a shard's records are byte for byte those of an unsharded run. A finished shard run writes
a sidecar, OUT.shard.json: which shard it is, how many records the whole input has and a sha256 of all its ids
(every shard reads every record, so all shards of one input agree on both), and its own record count."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from .io import InputError
from .output import JsonlWriter, record_id

SIDECAR_SUFFIX = ".shard.json"


def parse_shard(spec: str) -> tuple[int, int]:
    """`I/N` as (I, N), 1 <= I <= N; InputError otherwise."""
    try:
        i, n = (int(part) for part in spec.split("/"))
    except ValueError:
        i = n = 0
    if not 1 <= i <= n:
        raise InputError(f"--shard: expected I/N with 1 <= I <= N (e.g. 3/8), got '{spec}'")
    return i, n


def shard_size(shard: int, shards: int, records: int) -> int:
    """How many of `records` input records shard `shard` of `shards` holds."""
    return len(range(shard, records + 1, shards))


@dataclass
class ShardInfo:
    """The sidecar of one finished shard run."""

    shard: int
    shards: int
    records: int  # in this shard's output
    input_records: int  # in the whole input
    input_ids_sha256: str
    input: str  # the input as named on that run's command line (for messages only)


def sidecar_path(out: Path) -> Path:
    """The sidecar of shard output `out`."""
    return out.with_name(out.name + SIDECAR_SUFFIX)


def write_sidecar(out: Path, info: ShardInfo) -> None:
    """Write the sidecar of `out` (atomically: a finished run has a whole sidecar or none)."""
    path = sidecar_path(out)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(asdict(info), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_sidecar(out: Path) -> ShardInfo:
    """The sidecar of shard output `out`; InputError when it is missing or not one."""
    path = sidecar_path(out)
    if not out.is_file():
        raise InputError(f"{out}: no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        info = ShardInfo(**data)
    except FileNotFoundError:
        raise InputError(f"{out}: no sidecar {path.name}; not the output of a finished `asg-parse --shard I/N` run "
                         "(finish an interrupted one with --resume)") from None
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"{path}: not a shard sidecar ({exc})") from None
    if not 1 <= info.shard <= info.shards or info.records != shard_size(info.shard, info.shards, info.input_records):
        raise InputError(f"{path}: inconsistent shard sidecar")
    return info


def _rows(shard: int, shards: int, records: int, limit: int = 5) -> str:
    """The input record numbers of a shard, the first few of them."""
    numbers = range(shard, records + 1, shards)
    shown = ", ".join(map(str, numbers[:limit]))
    return f"{shown}, ..." if len(numbers) > limit else shown


def check_shards(files: Sequence[Path]) -> list[tuple[Path, ShardInfo]]:
    """The shard files in shard order with their sidecars, after checking they are all the shards of one input,
    each once."""
    found = [(path, read_sidecar(path)) for path in files]
    first_path, first = found[0]
    for path, info in found[1:]:
        if (info.shards, info.input_records, info.input_ids_sha256) != (
                first.shards, first.input_records, first.input_ids_sha256):
            raise InputError(f"{path} and {first_path} are not shards of one run: {info.shard}/{info.shards} of "
                             f"{info.input_records} input records vs {first.shard}/{first.shards} of "
                             f"{first.input_records}" + (" (different ids)" if info.shards == first.shards
                                                         and info.input_records == first.input_records else ""))
    by_shard: dict[int, Path] = {}
    for path, info in found:
        if info.shard in by_shard:
            raise InputError(f"shard {info.shard}/{info.shards} given twice: {by_shard[info.shard]} and {path} "
                             f"(input records {_rows(info.shard, info.shards, info.input_records)} would be "
                             "duplicated)")
        by_shard[info.shard] = path
    missing = [i for i in range(1, first.shards + 1) if i not in by_shard]
    if missing:
        raise InputError(f"shard {missing[0]}/{first.shards} missing" + (f" (and {len(missing) - 1} more)"
                         if len(missing) > 1 else "") + f": input records "
                         f"{_rows(missing[0], first.shards, first.input_records)} are in no file given")
    return sorted(found, key=lambda pair: pair[1].shard)


def merge_shards(output: str, files: Sequence[Path], advance: Callable[[int], None] = lambda n: None) -> int:
    """Write the records of the shard outputs `files` to `output` in input order (atomically); the number written.
    Every shard must be complete: InputError names the file and the records that are missing or extra."""
    shards = check_shards(files)
    total = shards[0][1].input_records
    writer = JsonlWriter(output)
    handles = [path.open("rb") for path, _ in shards]
    last: list[Optional[str]] = [None] * len(shards)
    try:
        for number in range(1, total + 1):
            k = (number - 1) % len(shards)
            line = handles[k].readline()
            rid = record_id(line) if line.endswith(b"\n") else None
            if rid is None:
                path, info = shards[k]
                got = (number - 1) // len(shards)
                after = f" after id '{last[k]}'" if last[k] is not None else ""
                cut = "its end" if not line else "a cut-off line" if not line.endswith(b"\n") else "a line that is " \
                    "no record"
                raise InputError(f"{path}: shard {info.shard}/{info.shards} reaches {cut} after {got} of its "
                                 f"{info.records} records{after}: input records {number}"
                                 f"{', ...' if number + len(shards) <= total else ''} missing")
            last[k] = rid
            writer.write(line.decode("utf-8"))
            if number % 1000 == 0:
                advance(1000)
        for (path, info), fh in zip(shards, handles):
            if fh.readline():
                raise InputError(f"{path}: more than the {info.records} records of shard {info.shard}/{info.shards}")
    except BaseException:
        writer.discard()
        raise
    finally:
        for fh in handles:
            fh.close()
    writer.commit()
    advance(total % 1000)
    return total
