"""Parallel parsing for the CLI: chunks of raw (id, text) go to worker processes, JSON lines come back in order."""
from __future__ import annotations

import gc
import json
import multiprocessing as mp
import os
import signal
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import chain, islice
from operator import itemgetter
from typing import Any, Iterable, Iterator, Optional, Sequence

from .io import Item
from ..pipeline.memo import Memo
from ..schema import SENTENCE_FIELDS, TRIPLET_FIELDS

_EXISTENCE = ("present", "absent", "uncertain")
_EXISTENCE_OF = itemgetter("existence")
_EXISTENCE_AT = itemgetter(TRIPLET_FIELDS.index("existence"))  # of a triplet row
_NLP: Any = None  # the pipeline of this process (built once per worker, or inherited on fork)
_ONTOLOGY: Optional[str] = None
_OPTIONS: dict[str, Any] = {}  # load_pipeline's options of this process's pipeline (convention, existence model)
_LABELER: Any = None  # with `--labels`: the ReportLabeler that turns each record into a CSV row


class WorkerDied(RuntimeError):
    """A worker process ended without returning its chunk."""


@dataclass
class ChunkResult:
    """The records of one chunk as JSON lines, with the counts the summary needs."""

    lines: list[str]
    existence: dict[str, int]
    warned: int
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (index in chunk, id, message)


def load_pipeline(ontology: Optional[str] = None, spans: bool = False, convention: Optional[str] = None,
                  existence_model: Optional[str] = None, existence_mode: Optional[str] = None) -> Any:
    """Build the asg pipeline (raises the ontology's OntologyError for a bad user ontology, ValueError for an
    unknown `convention` or an unusable existence model); without `spans`, the single-component pipeline that writes
    the records only (see `asg_parse.load`), with the sentences and triplets as rows (`Triplets.rows`)."""
    import asg_parse

    nlp = asg_parse.load(ontology=ontology, spans=spans, convention=convention, existence_model=existence_model,
                         existence_mode=existence_mode)
    if not spans:  # record_line writes the rows as JSON: no dicts built only to be read back
        nlp.get_pipe("asg_parser").triplets.rows = True
    return nlp


def set_pipeline(nlp: Any, ontology: Optional[str] = None, labels: Optional[str] = None, **options: Any) -> None:
    """Use `nlp` in this process (and in workers forked from it); `options`: the `load_pipeline` options it was
    built with (a spawned worker builds the same); with `labels` (a label set of labels.yaml, or `asg`), chunks come
    back as label CSV rows instead of JSON records."""
    global _NLP, _ONTOLOGY, _OPTIONS, _LABELER
    _NLP, _ONTOLOGY, _OPTIONS = nlp, ontology, options
    _LABELER = None if labels is None else make_labeler(ontology, labels)


def make_labeler(ontology: Optional[str], labels: str) -> Any:
    """The ReportLabeler of label set `labels` (ValueError for an unknown one)."""
    from ..labels import ReportLabeler, label_set
    from ..pipeline.resources import get_ontology

    return ReportLabeler(label_set(get_ontology(ontology), labels))


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


def _init_worker(ontology: Optional[str], options: dict[str, Any], labels: Optional[str] = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent handles SIGTERM; a worker just ends
    if _NLP is None:  # spawned, not forked: build what the parent has
        set_pipeline(load_pipeline(ontology, **options), ontology, labels, **options)
    collect_per_chunk()


# compact JSON of a record (records hold no cycles to check)
_JSON = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":"))
_STR = json.encoder.encode_basestring  # the C escaper _JSON applies to every string
# the C encoder that _JSON.encode builds anew on every call, built once
_C_ENCODE = json.encoder.c_make_encoder and json.encoder.c_make_encoder(
    None, _JSON.default, _STR, None, ":", ",", False, False, True)
# the start of a triplet's JSON, up to its sentence number (the rest of a record line is filled in with f-strings,
# cheaper than % and its tuple of arguments: one per sentence and triplet beats the encoder's walk of each dict)
_TRIPLET_HEAD = '{"region":%s,"finding":%s,"existence":%s,"sentence":'
_RECORD_KEYS = ("id", "sentences", "triplets", "region_sentences", "tags", "warnings")
_SENTENCE_ROW, _TRIPLET_ROW = itemgetter(*SENTENCE_FIELDS), itemgetter(*TRIPLET_FIELDS)  # a dict's row
_DECIDED_ROW = itemgetter(*TRIPLET_FIELDS, "decided_by")  # a triplet dict's row, with a learned existence model


def _dumps(obj: Any) -> str:
    """`obj` as compact JSON (ensure_ascii off): `_JSON.encode(obj)`."""
    return "".join(_C_ENCODE(obj, 0)) if _C_ENCODE else _JSON.encode(obj)


# the JSON of the names that recur in every record (sections, regions, findings, cues), and of the triplet heads
# (region, finding, existence)
_NAMES = Memo(_dumps, 100_000)
_TRIPLET_HEADS = Memo(lambda key: _TRIPLET_HEAD % tuple(map(_NAMES.__getitem__, key)), 100_000)
_TAGS = Memo(lambda item: f"{_NAMES[item[0]]}:{item[1]}", 100_000)  # a (tag, value) item of `tags` as JSON


def record_line(rec: dict) -> str:
    """`rec` as one compact JSON line: the bytes of `_dumps(rec) + "\n"`, built faster for schema records (their
    sentences and triplets may also be rows: tuples of their fields, as `Triplets.rows`, written as the dicts would
    be)."""
    if tuple(rec) != _RECORD_KEYS or type(rec["id"]) is not str:
        return _dumps(rec) + "\n"
    sentences, triplets = rec["sentences"], rec["triplets"]
    if sentences and type(sentences[0]) is not tuple:  # dicts (a pipeline other than `load_pipeline`'s): as rows
        sentences = list(map(_SENTENCE_ROW, sentences))
    decided = False  # a learned existence model is loaded: each triplet has one more field, `decided_by`
    if triplets and type(triplets[0]) is not tuple:
        decided = "decided_by" in triplets[0]
        triplets = list(map(_DECIDED_ROW if decided else _TRIPLET_ROW, triplets))
    names, text, heads = _NAMES, _STR, _TRIPLET_HEADS
    sentences = ",".join([f'{{"text":{text(t)},"start":{start},"end":{end},"section":{names[section]}}}'
                          for t, start, end, section in sentences])
    if decided:
        triplets = ",".join([f'{heads[region, finding, existence]}{sentence},"start":{start},"end":{end},'
                             f'"text":{text(t)},"cue":{names[cue]},"cue_class":{names[cue_class]},'
                             f'"decided_by":{names[by]}}}'
                             for region, finding, existence, sentence, start, end, t, cue, cue_class, by in triplets])
    else:
        triplets = ",".join([f'{heads[region, finding, existence]}{sentence},"start":{start},"end":{end},'
                             f'"text":{text(t)},"cue":{names[cue]},"cue_class":{names[cue_class]}}}'
                             for region, finding, existence, sentence, start, end, t, cue, cue_class in triplets])
    tags = ",".join(map(_TAGS.__getitem__, rec["tags"].items()))
    warnings = ",".join(map(text, rec["warnings"]))
    return (f'{{"id":{text(rec["id"])},"sentences":[{sentences}],"triplets":[{triplets}],'
            f'"region_sentences":{_dumps(rec["region_sentences"])},"tags":{{{tags}}},"warnings":[{warnings}]}}\n')


def _error_record(rid: str, exc: BaseException, warnings: Sequence[str]) -> dict:
    return {"id": rid, "sentences": [], "triplets": [], "region_sentences": {}, "tags": {},
            "warnings": list(warnings), "error": f"{type(exc).__name__}: {exc}"}


def _docs(nlp: Any, texts: list[str]) -> Iterator[Any]:
    """The docs of `texts` in order, each made as it is asked for (so the previous one is freed: memory stays warm),
    the exception in place of a doc whose parse failed."""
    done = 0
    try:
        for doc in nlp.pipe(texts):
            yield doc
            done += 1
    except Exception:  # find the report that fails; the others still get their parse
        for text in texts[done:]:
            try:
                yield nlp(text)
            except Exception as exc:
                yield exc


def _records(chunk: Sequence[Item]) -> list[dict]:
    from .. import api

    to_record = api.doc_to_record
    empty_warning = api.EMPTY_WARNING
    nlp = _NLP if _NLP is not None else load_pipeline(_ONTOLOGY, **_OPTIONS)
    out = []
    for (rid, text, warnings), doc in zip(chunk, _docs(nlp, [text for _, text, _ in chunk])):
        if isinstance(doc, BaseException):
            out.append(_error_record(rid, doc, warnings))
            continue
        try:
            rec = to_record(doc, rid)
        except Exception as exc:
            out.append(_error_record(rid, exc, warnings))
            continue
        own = rec.get("warnings") or []
        if (not text or text.isspace()) and empty_warning not in own:  # (strip() would copy every report)
            own = [empty_warning, *own]
        rec["warnings"] = [*warnings, *own] if warnings else own
        if rec.get("error") is None:
            rec.pop("error", None)
        out.append(rec)
    return out


def process_chunk(chunk: Sequence[Item]) -> ChunkResult:
    """Parse one chunk in this process and serialise it (one JSON line per report, or with a labeler one CSV row
    per report, input order)."""
    lines: list[str] = []
    existence: list[str] = []  # of every triplet, counted at the end (in C)
    warned = 0
    errors: list[tuple[int, str, str]] = []
    labeler = _LABELER
    for i, rec in enumerate(_records(chunk)):
        triplets = rec["triplets"]
        if triplets:  # rows (`Triplets.rows`) or dicts
            existence += map(_EXISTENCE_AT if type(triplets[0]) is tuple else _EXISTENCE_OF, triplets)
        if rec["warnings"]:
            warned += 1
        if "error" in rec:
            errors.append((i, rec["id"], rec["error"]))
        if labeler is None:
            lines.append(record_line(rec))
        else:  # a failed report gets a row of blanks (and is counted in `errors`), not a "No Finding"
            lines.append(labeler.row(chunk[i][1], rec) if "error" not in rec else labeler.blank(chunk[i][1]))
    counts = dict.fromkeys(_EXISTENCE, 0)
    counts.update(Counter(existence))
    if not gc.isenabled():  # see collect_per_chunk
        gc.collect()
    return ChunkResult(lines, counts, warned, errors)


MAX_CHUNK = 1000  # reports per chunk, at most (the default size)


def chunk_size_for(n: int, workers: int) -> int:
    """Large chunks (cheap to ship), but enough of them to keep every worker busy and the progress moving."""
    return max(32, min(MAX_CHUNK, -(-n // max(1, workers * 8))))


def _chunks(items: Iterable[Item], size: int, workers: int = 1, guided: bool = False) -> Iterator[list[Item]]:
    """`items` (read as a stream) in chunks of `size`; `guided`: no larger than `chunk_size_for` what is left, so the
    chunks shrink towards the end and the workers finish together instead of one idling through the other's last
    chunk (0.01-0.17 s with 1000-report chunks). What is left is known exactly without the total: the stream is
    read `workers * 8 * size` items ahead (the least left at which `chunk_size_for` still gives `size`)."""
    it = iter(items)
    ahead = workers * 8 * size if guided else size
    buffer: deque[Item] = deque()
    ended = False
    while True:
        if not ended and len(buffer) < ahead:
            missing = ahead - len(buffer)
            buffer.extend(islice(it, missing))
            ended = len(buffer) < ahead
        if not buffer:
            return
        step = min(size, chunk_size_for(len(buffer), workers)) if guided else size
        pop = buffer.popleft
        yield [pop() for _ in range(min(step, len(buffer)))]


def run_chunks(items: Iterable[Item], workers: int = 1, ontology: Optional[str] = None,
               chunk_size: Optional[int] = None, labels: Optional[str] = None) -> Iterator[ChunkResult]:
    """Parse `items` (any iterable: it is read as the work goes, a bounded stretch ahead) with `workers` processes;
    yields chunk results in input order (chunks of `chunk_size`, or by default of `chunk_size_for` what is left).
    At most `2 * workers + 2` chunks are queued or parsing and `8 * workers` held (with results waiting for an
    earlier chunk): memory is bounded by the chunk size and the workers, not by the input. `labels`: the label set
    a spawned worker writes rows of (a forked one inherits it)."""
    chunks = _chunks(items, chunk_size or MAX_CHUNK, workers, guided=chunk_size is None)
    head = list(islice(chunks, 2))
    if workers <= 1 or len(head) < 2:  # one chunk: no pool to start
        for chunk in chain(head, chunks):
            yield process_chunk(chunk)
        return
    ctx = _fork_context()
    if ctx is not None and _NLP is not None:
        _NLP("")  # builds what the pipeline builds on its first doc (phrase walk, cue engine) once, for every worker
    pool = ProcessPoolExecutor(workers, mp_context=ctx or mp.get_context("spawn"), initializer=_init_worker,
                               initargs=(ontology, _OPTIONS, labels))
    todo = chain(head, chunks)
    busy, held = 2 * workers + 2, 8 * workers  # chunks queued or parsing; chunks held in all (with the results)
    window: deque[Any] = deque()
    try:
        while True:
            unfinished = [f for f in window if not f.done()]
            while len(unfinished) < busy and len(window) < held:  # a worker that stalls holds up the output only
                chunk = next(todo, None)
                if chunk is None:
                    break
                window.append(pool.submit(process_chunk, chunk))
                unfinished.append(window[-1])
            if not window:
                return
            if window[0].done():
                yield window.popleft().result()
            else:
                wait(unfinished, return_when=FIRST_COMPLETED)
    except BrokenProcessPool:
        raise WorkerDied("a worker process died (killed, or out of memory?)") from None
    finally:  # on an early stop (Ctrl-C, --strict, bad input) the queued chunks are dropped, those in flight finish
        pool.shutdown(wait=True, cancel_futures=True)


def _fork_context() -> Optional[Any]:
    """The "fork" multiprocessing context where there is one (workers then inherit this process's state), else None."""
    return mp.get_context("fork") if "fork" in mp.get_all_start_methods() and os.name == "posix" else None


def iter_lines(results: Iterable[ChunkResult]) -> Iterator[str]:
    """Flatten chunk results into JSON lines."""
    for res in results:
        yield from res.lines
