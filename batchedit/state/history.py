"""What the journal says of each row id, over every run of a run directory.

One pass over the journal keeps, per row id, the byte offset of its latest
entry and the number of paid submissions it has cost; the entry itself is read
back by offset only when the row comes up. That keeps a few dozen bytes per
row in memory however long the journal grows, and it keys on the row's id, not
its position, so inserting rows into a manifest does not confuse a re-run.

Paid submissions are counted as the contract's `attempts`: every accepted
submit, every submit whose answer never came (an `unknown` outcome, or an
intent with nothing after it because the process died mid-request), and never
a submit the service refused. Synchronous: callers run it in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO

from batchedit.records import Status
from batchedit.state.journal import (
    JournalEntry,
    Withdrawn,
    decode_entry,
    entry_id,
    read_entries,
    read_entry_at,
)


@dataclass(frozen=True, slots=True)
class RowHistory:
    """A row's latest journal entry and its paid submissions so far."""

    latest: JournalEntry
    attempts: int

    @property
    def fingerprint(self) -> str | None:
        if isinstance(self.latest, Withdrawn):
            return None
        return self.latest.fingerprint


class JournalIndex:
    """Row id -> (offset of the latest entry, paid submissions); `get` reads back."""

    def __init__(self, path: Path, latest: dict[str, tuple[int, int]]) -> None:
        self._path = path
        self._latest = latest
        self._handle: IO[bytes] | None = None

    @classmethod
    def build(cls, path: Path) -> JournalIndex:
        latest: dict[str, tuple[int, int]] = {}
        intents: set[str] = set()  # ids whose latest submit has no answer yet
        for offset, data in read_entries(path):
            row_id = entry_id(data)
            if row_id is None:
                continue
            event = data.get("event")
            attempts = latest.get(row_id, (0, 0))[1]
            if event == "submitting":
                if row_id in intents:
                    attempts += 1  # the earlier intent never got its answer
                intents.add(row_id)
            elif event == "submitted" or _is_unknown(data):
                attempts += 1
                intents.discard(row_id)
            else:
                intents.discard(row_id)
            latest[row_id] = (offset, attempts)
        for row_id in intents:
            offset, attempts = latest[row_id]
            latest[row_id] = (offset, attempts + 1)
        return cls(path, latest)

    def __len__(self) -> int:
        return len(self._latest)

    def attempts(self, row_id: str) -> int:
        return self._latest.get(row_id, (0, 0))[1]

    def get(self, row_id: str) -> RowHistory | None:
        known = self._latest.get(row_id)
        if known is None:
            return None
        if self._handle is None:
            self._handle = open(self._path, "rb")  # closed in close()
        entry = decode_entry(read_entry_at(self._handle, known[0]))
        return None if entry is None else RowHistory(entry, known[1])

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> JournalIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _is_unknown(data: object) -> bool:
    if not isinstance(data, dict) or data.get("event") != "finished":
        return False
    record = data.get("record")
    return isinstance(record, dict) and record.get("status") == Status.UNKNOWN.value
