"""The run's journal: an append-only JSON-lines file in the state folder.

It is the one owner of the state format. Records are made durable in groups
(group commit): every appender waits until a flush + fsync covers its own
line, and one fsync covers whatever the other coroutines appended meanwhile,
so a task id is on disk before its row counts as submitted (invariant 1)
without paying an fsync per record. A torn last line, left by a crash in the
middle of a write, is detected on reading and ignored (invariant 2).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from batchedit.records import ReportRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Submitting:
    """A paid submit is about to be sent: durable before the request leaves.

    If nothing follows it for the row, the process died while the answer was
    on its way: the task may or may not exist, so the row is `unknown` and is
    never resubmitted on its own (invariant 1).
    """

    row: int
    id: str
    fingerprint: str
    at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "event": "submitting",
            "row": self.row,
            "id": self.id,
            "fingerprint": self.fingerprint,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class Submitted:
    """A paid submit was accepted: the row's task id."""

    row: int
    id: str
    task_id: str
    fingerprint: str
    at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "event": "submitted",
            "row": self.row,
            "id": self.id,
            "task_id": self.task_id,
            "fingerprint": self.fingerprint,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class Finished:
    """A row reached its final state in this run: the report line it earned.

    For a succeeded row it also keeps what a later run needs to check and
    repair the outputs without paying again: the result URLs with their
    expiry, and each output file's modification time (a cheap first test of
    "unchanged" before a hash is needed).
    """

    record: ReportRecord
    fingerprint: str | None
    result_urls: tuple[str, ...] = ()
    expires_at: str | None = None
    output_mtimes_ns: tuple[int, ...] = ()
    layout: str | None = None  # naming.output_layout of the files written

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "event": "finished",
            "row": self.record.row,
            "id": self.record.id,
            "fingerprint": self.fingerprint,
            "record": self.record.to_json(),
        }
        if self.result_urls:
            data["results"] = list(self.result_urls)
            data["expires_at"] = self.expires_at
            data["mtimes_ns"] = list(self.output_mtimes_ns)
            data["layout"] = self.layout
        return data


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """A submit was answered without creating a task and the row has no
    outcome of its own (401, 402): it goes back to `pending`, not `unknown`."""

    row: int
    id: str

    def to_json(self) -> dict[str, Any]:
        return {"event": "withdrawn", "row": self.row, "id": self.id}


JournalEntry = Submitting | Submitted | Finished | Withdrawn


def decode_entry(data: Mapping[str, Any]) -> JournalEntry | None:
    """The typed entry for a journal line, or None for one this version
    cannot read (a line from a newer version is skipped, not fatal)."""
    try:
        event = data["event"]
        if event == "finished":
            record = ReportRecord.from_json(data["record"])
            return Finished(
                record,
                data.get("fingerprint"),
                tuple(data.get("results") or ()),
                data.get("expires_at"),
                tuple(data.get("mtimes_ns") or ()),
                data.get("layout"),
            )
        row, row_id = int(data["row"]), str(data["id"])
        if event == "submitted":
            return Submitted(row, row_id, str(data["task_id"]), data["fingerprint"], data["at"])
        if event == "submitting":
            return Submitting(row, row_id, data["fingerprint"], data["at"])
        if event == "withdrawn":
            return Withdrawn(row, row_id)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("skipping a journal entry that cannot be read: %s", exc)
    return None


def entry_id(data: Mapping[str, Any]) -> str | None:
    """The row id an encoded entry is about, without decoding all of it."""
    row_id = data.get("id")
    if row_id is None and isinstance(data.get("record"), Mapping):
        row_id = data["record"].get("id")
    return row_id if isinstance(row_id, str) else None


class Journal:
    """Appends entries durably; open with `await Journal.open(path)`, then `close()`."""

    def __init__(self, path: Path, handle: IO[bytes]) -> None:
        self.path = path
        self._handle = handle
        self._pending: list[bytes] = []
        self._appended = 0
        self._durable = 0
        self._lock = asyncio.Lock()
        self._writing: asyncio.Future[None] | None = None

    @classmethod
    async def open(cls, path: Path) -> Journal:
        handle = await asyncio.to_thread(_open_for_append, path)
        return cls(path, handle)

    async def append(self, entry: JournalEntry) -> None:
        """Return once `entry` is on disk (flushed and fsynced)."""
        self._pending.append(_encode(entry.to_json()))
        self._appended += 1
        ticket = self._appended
        async with self._lock:
            if self._durable >= ticket:
                return  # an earlier flush already covered this line
            batch, self._pending = self._pending, []
            covered = self._appended
            # Shielded: a cancelled appender must not leave a write half-done
            # while close() starts another; close() awaits this one first.
            self._writing = asyncio.ensure_future(asyncio.to_thread(self._write, batch))
            await asyncio.shield(self._writing)
            self._durable = covered

    def _write(self, batch: list[bytes]) -> None:
        self._handle.write(b"".join(batch))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    async def close(self) -> None:
        """Write what is pending and close; safe after cancelled appenders."""
        if self._writing is not None:
            await self._writing
        async with self._lock:
            if self._pending:
                batch, self._pending = self._pending, []
                await asyncio.to_thread(self._write, batch)
            await asyncio.to_thread(self._handle.close)


def _open_for_append(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "ab")  # owned by the Journal, closed in close()
    if handle.tell() > 0 and not _ends_with_newline(path):
        # A crash tore the last line: start ours on a fresh one.
        handle.write(b"\n")
    return handle


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _encode(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def read_entries(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Every intact entry of the journal with its byte offset, oldest first.

    Lines that are torn or not JSON are skipped with a warning, never fatal.
    Synchronous: callers run it in a thread.
    """
    if not path.exists():
        return
    with open(path, "rb") as handle:
        offset = 0
        for line in handle:
            start, offset = offset, offset + len(line)
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError:
                log.warning("%s: skipping a torn journal line at byte %d", path, start)
                continue
            if isinstance(data, dict):
                yield start, data


def read_entry_at(handle: IO[bytes], offset: int) -> Mapping[str, Any]:
    handle.seek(offset)
    data: Mapping[str, Any] = json.loads(handle.readline())
    return data
