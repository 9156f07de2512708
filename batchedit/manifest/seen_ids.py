"""The ids a manifest pass has seen, in a few bytes each, for duplicate detection.

Validation must remember every id to report a duplicate with the line of its
first occurrence, and a million-row manifest must not need a million Python
strings for it. This keeps, per id, a 64-bit BLAKE2b digest and a line number
in two flat arrays (an open-addressing hash table, at most half full): 24
bytes of table per id at worst instead of ~150 for a dict of strings. Two
distinct ids share a digest with probability about n²/2⁶⁵ (1 in 30 million
for a million rows); such a pair would be reported as a duplicate.
"""

from __future__ import annotations

import hashlib
from array import array

_INITIAL_SLOTS = 1024


def _digest(row_id: str) -> int:
    value = int.from_bytes(hashlib.blake2b(row_id.encode("utf-8"), digest_size=8).digest(), "big")
    return value or 1  # 0 marks an empty slot


class SeenIds:
    """`first_line(id, line)`: None the first time an id is seen, else its first line."""

    __slots__ = ("_digests", "_lines", "_count")

    def __init__(self) -> None:
        self._digests = array("Q", bytes(8 * _INITIAL_SLOTS))
        self._lines = array("L", bytes(array("L").itemsize * _INITIAL_SLOTS))
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def first_line(self, row_id: str, line: int) -> int | None:
        digest = _digest(row_id)
        slot = self._find(digest)
        if self._digests[slot] == digest:
            return int(self._lines[slot])
        self._digests[slot] = digest
        self._lines[slot] = line
        self._count += 1
        if 2 * self._count > len(self._digests):
            self._grow()
        return None

    def _find(self, digest: int) -> int:
        """The slot holding `digest`, or the empty slot where it would go."""
        mask = len(self._digests) - 1
        slot = digest & mask
        while True:
            held = self._digests[slot]
            if held == 0 or held == digest:
                return slot
            slot = (slot + 1) & mask

    def _grow(self) -> None:
        digests, lines = self._digests, self._lines
        size = 2 * len(digests)
        self._digests = array("Q", bytes(8 * size))
        self._lines = array("L", bytes(lines.itemsize * size))
        for digest, line in zip(digests, lines, strict=True):
            if digest:
                slot = self._find(digest)
                self._digests[slot] = digest
                self._lines[slot] = line
