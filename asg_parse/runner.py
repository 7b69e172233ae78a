"""Parallel parsing for the CLI: chunks of raw (id, text) go to worker processes, JSON lines come back in order."""
from __future__ import annotations

import gc
import json
import multiprocessing as mp
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional, Sequence

from .io import Item

_EXISTENCE = ("present", "absent", "uncertain")


# compact JSON of a record (records hold no cycles to check)
_DUMPS = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":")).encode

_NLP: Any = None  # the pipeline of this process (built once per worker, or inherited on fork)
_ONTOLOGY: Optional[str] = None


class WorkerDied(RuntimeError):
    """A worker process ended without returning its chunk."""


@dataclass
class ChunkResult:
    """The records of one chunk as JSON lines, with the counts the summary needs."""

    lines: list[str]
    existence: dict[str, int]
    warned: int
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (index in chunk, id, message)


def load_pipeline(ontology: Optional[str] = None, spans: bool = False) -> Any:
    """Build the asg pipeline (raises the ontology's OntologyError for a bad user ontology); without `spans`, the
    single-component pipeline that writes the records only (see `asg_parse.load`)."""
    import asg_parse

    return asg_parse.load(ontology=ontology, spans=spans)


def set_pipeline(nlp: Any, ontology: Optional[str] = None) -> None:
    """Use `nlp` in this process (and in workers forked from it)."""
    global _NLP, _ONTOLOGY
    _NLP, _ONTOLOGY = nlp, ontology


def collect_per_chunk() -> None:
    """Run the cyclic garbage collector once per chunk instead of automatically.

    Parsing allocates many short-lived containers, so automatic collection runs often and each full pass walks
    every long-lived object (the pipeline, the input rows): about a fifth of the CLI's time. The objects alive now
    are frozen out of those passes; `process_chunk` collects after every chunk, so memory stays bounded.
    They are frozen without a collection first: that pass would walk all ~125k objects of the start-up (~35 ms,
    a twentieth of it) to free its ~1 MB of cyclic garbage (import-time closures and config sections).
    """
    gc.freeze()
    gc.disable()


def _init_worker(ontology: Optional[str]) -> None:
    global _NLP
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent handles SIGTERM; a worker just ends
    if _NLP is None:
        _NLP = load_pipeline(ontology)
    collect_per_chunk()


def _error_record(rid: str, exc: BaseException, warnings: Sequence[str]) -> dict:
    return {"id": rid, "sentences": [], "triplets": [], "region_sentences": {}, "tags": {},
            "warnings": list(warnings), "error": f"{type(exc).__name__}: {exc}"}


def _records(chunk: Sequence[Item]) -> list[dict]:
    from . import api

    to_record = api.doc_to_record
    empty_warning = api.EMPTY_WARNING
    nlp = _NLP if _NLP is not None else load_pipeline(_ONTOLOGY)
    texts = [text for _, text, _ in chunk]
    try:
        docs = list(nlp.pipe(texts))
    except Exception:  # find the report that fails; the others still get their parse
        docs = []
        for text in texts:
            try:
                docs.append(nlp(text))
            except Exception as exc:
                docs.append(exc)
    out = []
    for (rid, text, warnings), doc in zip(chunk, docs):
        if isinstance(doc, BaseException):
            out.append(_error_record(rid, doc, warnings))
            continue
        try:
            rec = to_record(doc, rid)
        except Exception as exc:
            out.append(_error_record(rid, exc, warnings))
            continue
        own = rec.get("warnings") or []
        if not text.strip() and empty_warning not in own:
            own = [empty_warning, *own]
        rec["warnings"] = [*warnings, *own] if warnings else own
        if rec.get("error") is None:
            rec.pop("error", None)
        out.append(rec)
    return out


def process_chunk(chunk: Sequence[Item]) -> ChunkResult:
    """Parse one chunk in this process and serialise it (one JSON line per report, input order)."""
    dumps = _DUMPS
    counts = dict.fromkeys(_EXISTENCE, 0)
    lines: list[str] = []
    warned = 0
    errors: list[tuple[int, str, str]] = []
    for i, rec in enumerate(_records(chunk)):
        for t in rec["triplets"]:
            counts[t["existence"]] = counts.get(t["existence"], 0) + 1
        if rec["warnings"]:
            warned += 1
        if "error" in rec:
            errors.append((i, rec["id"], rec["error"]))
        lines.append(dumps(rec) + "\n")
    if not gc.isenabled():  # see collect_per_chunk
        gc.collect()
    return ChunkResult(lines, counts, warned, errors)


def chunk_size_for(n: int, workers: int) -> int:
    """Large chunks (cheap to ship), but enough of them to keep every worker busy and the progress moving."""
    return max(32, min(1000, -(-n // max(1, workers * 8))))


def _chunks(items: Sequence[Item], size: int) -> Iterator[Sequence[Item]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def run_chunks(items: Sequence[Item], workers: int = 1, ontology: Optional[str] = None,
               chunk_size: Optional[int] = None) -> Iterator[ChunkResult]:
    """Parse `items` with `workers` processes; yields chunk results in input order."""
    size = chunk_size or chunk_size_for(len(items), workers)
    if workers <= 1 or len(items) <= size:
        for chunk in _chunks(items, size):
            yield process_chunk(chunk)
        return
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods and os.name == "posix" else "spawn")
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(ontology,))
    try:
        yield from pool.map(process_chunk, _chunks(items, size))
    except BrokenProcessPool:
        raise WorkerDied("a worker process died (killed, or out of memory?)") from None
    finally:  # on an early stop (Ctrl-C, --strict) the queued chunks are dropped, those in flight finish
        pool.shutdown(wait=True, cancel_futures=True)


def iter_lines(results: Iterable[ChunkResult]) -> Iterator[str]:
    """Flatten chunk results into JSON lines."""
    for res in results:
        yield from res.lines
