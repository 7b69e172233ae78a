"""The items of a parse, read from a `Reports` stream in a process of its own (started before spaCy loads, so the
first blocks are ready when the pipeline is, and reading never holds up the process that writes) or, without fork
and for stdin, here as they are asked for."""
from __future__ import annotations

import gc
import os
import queue
import signal
from typing import Any, Iterator, Optional

from .io import Block, InputError, Item, Reports
from .runner import WorkerDied, _fork_context

BLOCK = 1000  # records per block
DEPTH = 16  # blocks the reading process may be ahead of the parse


class Feed:
    """The items of one input (of one shard) in input order, with how far the reading got."""

    def __init__(self, reports: Reports, shard: Optional[tuple[int, int]] = None, background: bool = True):
        self.reports, self.shard = reports, shard
        self.read = 0  # input records read (every shard)
        self.position = 0  # bytes of the input read
        self.items = 0  # items given
        self.ended = False
        self.records: Optional[int] = None  # input records in all, once the input is read
        self.ids_digest: Optional[str] = None  # see Reports.ids_digest, once the input is read
        ctx = _fork_context() if background else None
        self._proc: Any = None
        if ctx is None:
            self._blocks = self._here()
            return
        self._queue = ctx.Queue(maxsize=DEPTH)
        self._proc = ctx.Process(target=_produce, args=(reports, shard, self._queue, os.getpid()), daemon=True)
        self._proc.start()
        self._blocks = self._received()

    def __iter__(self) -> Iterator[Item]:
        for block in self._blocks:
            self.read, self.position = block.read, block.position
            self.items += len(block.items)
            yield from block.items
        self.ended = True

    def estimate(self) -> Optional[int]:
        """The number of items this feed gives: exact once the input is read, before that estimated from the bytes
        read (None where the size is unknown: stdin, a directory)."""
        if self.ended:
            return self.items
        size = self.reports.size
        if size and self.position and self.items:
            return max(self.items, round(self.items * size / self.position))
        return None

    def close(self) -> None:
        """Stop the reading process (if it still runs)."""
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.terminate()
            self._proc.join()
            self._queue.close()
            self._queue.cancel_join_thread()
            self._proc = None

    def _here(self) -> Iterator[Block]:
        yield from self.reports.blocks(self.shard, BLOCK)
        self.records, self.ids_digest = self.reports.records, self.reports.ids_digest()

    def _received(self) -> Iterator[Block]:
        while True:
            try:
                kind, *value = self._queue.get(timeout=0.5)
            except queue.Empty:
                if self._proc.is_alive():
                    continue
                try:  # it may have ended just after the last get
                    kind, *value = self._queue.get(timeout=0.5)
                except queue.Empty:
                    raise WorkerDied("the process reading the input died (killed, or out of memory?)") from None
            if kind == "block":
                yield value[0]
            elif kind == "end":
                self.records, self.ids_digest = value
                self.close()
                return
            else:
                self.close()
                raise InputError(value[0])


def _produce(reports: Reports, shard: Optional[tuple[int, int]], out: Any, parent: int) -> None:
    """In the reading process: put every block on `out`, then ("end", records, ids digest) or ("error", message)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops this process
    _die_with(parent)
    gc.enable()  # (the console command starts with it off)

    def put(message: tuple) -> None:
        while True:
            try:
                out.put(message, timeout=1.0)
                return
            except queue.Full:
                if os.getppid() != parent:  # the parse was killed: nobody will read on
                    os._exit(0)

    try:
        for block in reports.blocks(shard, BLOCK):
            put(("block", block))
        put(("end", reports.records, reports.ids_digest()))
    except InputError as exc:
        put(("error", str(exc)))
    except Exception as exc:  # an unexpected failure still ends the parse with one line
        put(("error", f"{reports.source}: cannot read ({type(exc).__name__}: {exc})"))


def _die_with(parent: int) -> None:
    """Have Linux kill this process when its parent dies (a SIGKILLed parse leaves no reader behind)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(0)
