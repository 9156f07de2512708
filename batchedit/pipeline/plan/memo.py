"""What the survey decided for every row, kept compact for the producer.

The survey validates, fingerprints and plans each row once (`planning.py`);
the producer then reads the manifest again only for the rows with work and
takes each one's decision from here rather than planning it a second time
(no second fingerprint, no second look at its output files). Per row that is
one byte (its code: invalid, settled with a status, or the action to take)
and, for a row with work, its request fingerprint as 32 raw bytes: 33 bytes a
row at most, whatever the row holds, so a manifest of a million rows keeps
33 MB here and no row dict.
"""

from __future__ import annotations

from dataclasses import dataclass

from batchedit.pipeline.plan.resume import Action
from batchedit.records import Status

#: A row's code: invalid, settled with the status at `_SETTLED + index`, a
#: valid row whose local image could not be read (planned again by the
#: producer, which ends it), or work to do with the action at `_WORK + index`.
INVALID = 1
_SETTLED = 2
STATUS_CODES = tuple(Status)
UNREADABLE = 30
_WORK = 32
WORK_ACTIONS = (Action.SUBMIT, Action.RESUBMIT, Action.REPLACE, Action.POLL, Action.FETCH)
FINGERPRINT_BYTES = 32  # a sha256, as `request_fingerprint` gives it in hex


def settled_code(status: Status) -> int:
    return _SETTLED + STATUS_CODES.index(status)


def work_code(action: Action) -> int:
    return _WORK + WORK_ACTIONS.index(action)


def is_work(code: int) -> bool:
    """A row the producer hands on: work to do, or an unreadable image to report."""
    return code == UNREADABLE or code >= _WORK


def planned_action(code: int) -> Action | None:
    """The survey's action for a row with work; None for any other code."""
    return WORK_ACTIONS[code - _WORK] if code >= _WORK else None


def settled_status(code: int) -> Status | None:
    """The status a settled (or invalid) row keeps; None for a row with work."""
    if code == INVALID:
        return Status.INVALID
    if _SETTLED <= code < _SETTLED + len(STATUS_CODES):
        return STATUS_CODES[code - _SETTLED]
    return None


@dataclass(frozen=True, slots=True)
class RowMemo:
    """One code a row in manifest order, and the fingerprints of the rows with
    an action in the same order, so the producer carries out the survey's
    decision and stops reading the manifest after the last row with work."""

    codes: bytes = b""
    last_work: int = -1  # the last row with work to do; -1: none
    fingerprints: bytes = b""  # FINGERPRINT_BYTES per row with an action

    def invalid_after(self, position: int) -> bool:
        return INVALID in self.codes[position:]

    def fingerprint(self, ordinal: int) -> str:
        """The request fingerprint of the `ordinal`-th row with an action (from 0)."""
        start = ordinal * FINGERPRINT_BYTES
        return self.fingerprints[start : start + FINGERPRINT_BYTES].hex()


class MemoWriter:
    """The memo built row by row by the survey."""

    def __init__(self) -> None:
        self._codes = bytearray()
        self._fingerprints = bytearray()
        self._last_work = -1

    def add(self, code: int, fingerprint: str | None = None) -> None:
        if is_work(code):
            self._last_work = len(self._codes)
        if planned_action(code) is not None:
            if fingerprint is None:
                raise ValueError("a row with an action has a fingerprint")
            self._fingerprints += bytes.fromhex(fingerprint)
        self._codes.append(code)

    def __len__(self) -> int:
        return len(self._codes)

    def memo(self) -> RowMemo:
        return RowMemo(bytes(self._codes), self._last_work, bytes(self._fingerprints))
