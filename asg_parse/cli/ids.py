"""Duplicate ids of a stream of reports in flat, compact memory: 64-bit hashes with their first record numbers.

`IdIndex` keeps, for every distinct id seen, an 8-byte BLAKE2b hash and the 4-byte number of the record that first
used it (8 bytes past 4,294,967,295 records), in sorted numpy runs that are merged as they grow (a log-structured
merge: at most log2(ids / block) runs, each looked up with one vectorised binary search per block). That is 12 bytes
per distinct id (6 MB for 500k ids, 120 MB for 10M), plus up to as much again while the two largest runs merge,
against ~100 bytes for a Python set of the ids. Two different ids share a hash with probability about
n^2 / 2^65 (3e-6 for 10M ids); the later one would then be reported as a duplicate of the earlier.
"""
from __future__ import annotations

from hashlib import blake2b
from typing import Sequence

import numpy as np

_UINT32_MAX = 0xFFFFFFFF


def id_hashes(rids: Sequence[str]) -> np.ndarray:
    """The 64-bit hashes of ids (the same in every process and run, so shards and reruns agree)."""
    return np.frombuffer(b"".join([blake2b(r.encode("utf-8", "surrogatepass"), digest_size=8).digest()
                                   for r in rids]), dtype="<u8").astype(np.uint64)


class IdIndex:
    """The first record number of every id seen so far, looked up and extended one block of ids at a time."""

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted hashes, their first record numbers)

    def __len__(self) -> int:
        return sum(len(hashes) for hashes, _ in self._runs)

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays."""
        return sum(hashes.nbytes + numbers.nbytes for hashes, numbers in self._runs)

    def firsts(self, rids: Sequence[str], start: int) -> list[int]:
        """For ids numbered start, start + 1, ...: the number of the record that first used each (its own number
        when it is new); the new ids are added."""
        n = len(rids)
        if not n:
            return []
        hashes = id_hashes(rids)
        numbers = np.arange(start, start + n, dtype=np.int64)
        first = numbers.copy()
        seen = np.zeros(n, dtype=bool)
        for run_hashes, run_numbers in self._runs:
            at = np.minimum(run_hashes.searchsorted(hashes), len(run_hashes) - 1)
            hit = run_hashes[at] == hashes
            first[hit] = run_numbers[at[hit]]
            seen |= hit
        # ids repeated inside the block: each takes the number of its first occurrence
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        starts = np.ones(n, dtype=bool)
        starts[1:] = ordered[1:] != ordered[:-1]
        group_first = order[starts][np.cumsum(starts) - 1]  # per sorted position: index of its group's first id
        repeat = ~starts
        inner = order[repeat]
        fresh = ~seen[group_first[repeat]]  # repeats of an id seen before the block already have its number
        first[inner[fresh]] = numbers[group_first[repeat][fresh]]
        new = order[starts & ~seen[order]]
        if len(new):
            self._add(hashes[new], numbers[new])
        return first.tolist()

    def _add(self, hashes: np.ndarray, numbers: np.ndarray) -> None:
        """Add a run (hashes sorted, none seen before), then merge runs until each is over twice the next's size."""
        dtype = np.uint32 if numbers.max() <= _UINT32_MAX else np.uint64
        self._runs.append((hashes, numbers.astype(dtype)))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            (h2, n2), (h1, n1) = self._runs.pop(), self._runs.pop()
            merged = np.concatenate((h1, h2))
            order = np.argsort(merged, kind="stable")  # two sorted runs: a linear merge for the stable sort
            self._runs.append((merged[order], np.concatenate((n1, n2))[order]))
