"""What the journal says of each row id, over every run of a run directory.

One pass over the journal keeps, per row id, the byte offset of its latest
entry and the number of paid submissions it has cost; the entry itself is read
back by offset only when the row comes up. That keeps a few dozen bytes per
row in memory however long the journal grows, and it keys on the row's id, not
its position, so inserting rows into a manifest does not confuse a re-run.

Paid submissions are counted as the contract's `attempts`, by one rule: a
submit's intent (`Submitting`) is paid unless a withdrawal (`Withdrawn`)
answers it, since the submitters withdraw every intent the service refused
without creating a task. So an accepted submit counts, a submit whose answer
never came counts (an `unknown` outcome, or an intent with nothing after it
because the process died mid-request), an answer refused at the trust
boundary after the service charged (an unsafe task id) counts, and a refusal
never does.

Each entry names the API origin it is about (origins.py); an entry written
before origins were recorded counts as the directory's `unrecorded_origin`
(binding.py), decided once when the index is built.

A journal rebuilt from report.jsonl (`run --rebuild-state`) cannot count the
lost lines: each of its lines carries the row's count as the report kept it
(`restored_attempts`), and later lines count on from there.

A line this version cannot decode never erases what earlier lines proved: the
row keeps its latest readable entry and is marked as having an unreadable one
after it, and `row_status` holds it (`pending` to be polled when its task id is
known, else `unknown`); it is never planned as never sent. Synchronous:
callers run it in a thread.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from batchedit.jsonlines import whole_length
from batchedit.origins import UNRECORDED, Origin
from batchedit.records import Status
from batchedit.state.binding import unrecorded_origin
from batchedit.state.entries import (
    Finished,
    JournalEntry,
    Submitted,
    Submitting,
    Undecodable,
    Withdrawn,
)
from batchedit.state.journal import read_entries, read_entry_at
from batchedit.state.rundir import RunPaths

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RowHistory:
    """A row's latest readable journal entry, its paid submissions so far, and
    the unreadable line after it, if any."""

    latest: JournalEntry | None
    attempts: int
    unreadable: Undecodable | None = None
    #: What the latest entry's origin is when it records none (an earlier release's).
    unrecorded: Origin = UNRECORDED

    @property
    def origin(self) -> Origin | None:
        """The API origin of the latest readable entry (None: none, or withdrawn)."""
        latest = self.latest
        if latest is None or isinstance(latest, Withdrawn):
            return None
        return latest.origin or self.unrecorded

    def settles_for(self, current: Origin) -> bool:
        """Whether what the journal holds for this row stands for a run against
        `current`: made by that origin (or nothing of any origin's to stand)."""
        origin = self.origin
        return origin is None or origin.settles_for(current)

    @property
    def fingerprint(self) -> str | None:
        """The request the latest readable entry was about (None: none, or withdrawn)."""
        return None if self.latest is None else self.latest.fingerprint

    @property
    def task_id(self) -> str | None:
        """The row's last known task id, from its latest readable entry."""
        if isinstance(self.latest, Submitted | Finished):
            return self.latest.task_id
        return None


def row_status(history: RowHistory | None, fingerprint: str | None) -> Status:
    """The status of a valid row whose request now has `fingerprint`: the one
    place it is derived, for the report, the plan and `retry` alike."""
    if history is None:
        return Status.PENDING  # never sent
    if history.unreadable is not None:
        # Held, never planned as never sent: polled when its task is known.
        known = history.fingerprint == fingerprint and history.task_id is not None
        return Status.PENDING if known else Status.UNKNOWN
    if history.fingerprint != fingerprint:
        return Status.PENDING  # sent as a different request, or withdrawn
    latest = history.latest
    if isinstance(latest, Finished):
        return latest.status
    if isinstance(latest, Submitting):
        return Status.UNKNOWN  # an intent with no answer: the task may exist
    return Status.PENDING  # Submitted: running at the service


class JournalIndex:
    """Row id -> (offset of the latest entry, paid submissions); `get` reads back.

    Built by one pass over the journal; `catch_up` takes in what was appended
    since, so a run reads its journal once: the survey builds the index, and
    the report at the end only reads the lines the run itself wrote."""

    def __init__(self, path: Path, unrecorded: Origin = UNRECORDED) -> None:
        self._path = path
        self.unrecorded = unrecorded  # what entries without an origin count as
        #: row id -> (offset of its latest entry, paid submissions answered so far)
        self._latest: dict[str, tuple[int, int]] = {}
        self._unreadable: dict[str, Undecodable] = {}
        self._intents: set[str] = set()  # ids whose latest submit has no answer yet
        self._end = 0  # the journal's length when last read
        self._handle: IO[bytes] | None = None

    @classmethod
    def build(cls, path: Path) -> JournalIndex:
        """The index of the journal at `path` (a run directory's `RunPaths.journal`)."""
        index = cls(path, unrecorded_origin(RunPaths(path.parent.parent)))
        index.catch_up()
        return index

    def catch_up(self) -> None:
        """Take in the entries appended since the last read (the first: all of them)."""
        latest, unreadable, intents = self._latest, self._unreadable, self._intents
        for offset, entry in read_entries(self._path, self._end):
            if isinstance(entry, Undecodable):
                _note_unreadable(self._path, entry, unreadable)
                continue
            row_id = entry.id
            unreadable.pop(row_id, None)  # a readable line written after it is newer news
            attempts = _attempts_after(entry, latest.get(row_id, (-1, 0))[1], intents)
            latest[row_id] = (offset, attempts)
        # Up to a torn last line, not past it: the next append cuts it off and
        # writes there (jsonlines.whole_length).
        with contextlib.suppress(OSError):
            self._end = whole_length(self._path)

    def __len__(self) -> int:
        return len(self._latest.keys() | self._unreadable.keys())

    def attempts(self, row_id: str) -> int:
        """Paid submissions of the row, an intent still without its answer included."""
        return self._latest.get(row_id, (-1, 0))[1] + (row_id in self._intents)

    def get(self, row_id: str) -> RowHistory | None:
        known = self._latest.get(row_id)
        unreadable = self._unreadable.get(row_id)
        if known is None:
            return None if unreadable is None else RowHistory(None, 0, unreadable, self.unrecorded)
        attempts = known[1] + (row_id in self._intents)
        if self._handle is None:
            self._handle = open(self._path, "rb")  # closed in close()
        entry = read_entry_at(self._handle, known[0])
        if isinstance(entry, Undecodable):  # the file changed under us since build()
            return RowHistory(None, attempts, entry, self.unrecorded)
        return RowHistory(entry, attempts, unreadable, self.unrecorded)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> JournalIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _attempts_after(entry: JournalEntry, attempts: int, intents: set[str]) -> int:
    """The row's paid submissions once `entry` is taken in (`intents`: the ids
    whose latest intent is still unanswered, updated here)."""
    row_id = entry.id
    if not isinstance(entry, Submitting) and entry.restored_attempts is not None:
        intents.discard(row_id)  # a rebuilt line: the count the report kept
        return entry.restored_attempts
    if isinstance(entry, Submitting):
        paid = row_id in intents  # the earlier intent never got its answer
        intents.add(row_id)
        return attempts + paid
    answered = row_id in intents
    intents.discard(row_id)
    if isinstance(entry, Withdrawn):
        return attempts  # refused: the service created no task
    if isinstance(entry, Submitted):
        return attempts + 1
    # An intent answered by an end and not withdrawn was paid (a task id refused
    # at the trust boundary); an unknown outcome without an intent is a line
    # written before intents were.
    return attempts + (answered or entry.status is Status.UNKNOWN)


def _note_unreadable(path: Path, entry: Undecodable, unreadable: dict[str, Undecodable]) -> None:
    if entry.id is None:
        log.warning(
            "%s: a journal line at byte %d names no row: %s", path, entry.offset, entry.reason
        )
        return
    log.warning(
        "%s: the journal line at byte %d about %r cannot be read (%s); that row is held, "
        "not sent again",
        path,
        entry.offset,
        entry.id,
        entry.reason,
    )
    unreadable[entry.id] = entry


__all__ = ["JournalIndex", "RowHistory", "Withdrawn", "row_status"]
