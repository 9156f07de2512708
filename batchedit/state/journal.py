"""The run's journal: an append-only JSON-lines file in the state folder.

With `entries.py` it is the one owner of the state format: entries go in and
come out typed. Records are made durable in groups (group commit): every
appender waits until a flush + fsync covers its own line, and one fsync
covers whatever the other coroutines appended meanwhile, so a task id is on
disk before its row counts as submitted (invariant 1) without paying an fsync
per record. A write that fails fails every appender whose line it carried, and
every later one: once a write failed, the file's tail is in doubt, and no row
may count as journaled. A torn last line, left by a crash in the middle of a
write, is ignored on reading and cut off before the next append (invariant 2;
the policy is jsonlines.py's). A journal deleted while the run holds it open
is written back when the run closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from batchedit.errors import JournalWriteFailed
from batchedit.fsutil import atomic_writer
from batchedit.jsonlines import dumps_line, loads, mend_tail, read_lines
from batchedit.state.entries import (
    Finished,
    JournalEntry,
    Submitted,
    Submitting,
    Undecodable,
    Withdrawn,
    decode_entry,
)

__all__ = [
    "Finished",
    "Journal",
    "JournalCondition",
    "JournalEntry",
    "Submitted",
    "Submitting",
    "Undecodable",
    "Withdrawn",
    "journal_condition",
    "read_entries",
    "read_entry_at",
    "write_journal",
]

log = logging.getLogger(__name__)


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
        self._failure: OSError | None = None  # the first failed write; the journal is done

    @classmethod
    async def open(cls, path: Path) -> Journal:
        handle = await asyncio.to_thread(_open_for_append, path)
        return cls(path, handle)

    async def append(self, entry: JournalEntry) -> None:
        """Return once `entry` is on disk (flushed and fsynced); raise
        JournalWriteFailed if the write that carried it failed, or any before it."""
        self._check()
        self._pending.append(_encode(entry.to_json()))
        self._appended += 1
        ticket = self._appended
        async with self._lock:
            self._check()  # the batch that carried this line may have failed meanwhile
            if self._durable >= ticket:
                return  # an earlier flush already covered this line
            batch, self._pending = self._pending, []
            covered = self._appended
            # Shielded: a cancelled appender must not leave a write half-done
            # while close() starts another; close() awaits this one first.
            self._writing = asyncio.ensure_future(asyncio.to_thread(self._write, batch))
            try:
                await asyncio.shield(self._writing)
            except OSError as exc:
                self._failure = exc
                self._check()
            self._durable = covered

    def _check(self) -> None:
        if self._failure is not None:
            raise JournalWriteFailed(
                f"cannot write the journal {self.path}: {self._failure.strerror or self._failure}"
            ) from self._failure

    def _write(self, batch: list[bytes]) -> None:
        self._handle.write(b"".join(batch))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    async def close(self) -> None:
        """Write what is pending and close; safe after cancelled appenders and
        after a failed write (nothing more is written then)."""
        if self._writing is not None:
            with contextlib.suppress(OSError):
                await self._writing
        async with self._lock:
            try:
                if self._pending and self._failure is None:
                    batch, self._pending = self._pending, []
                    await asyncio.to_thread(self._write, batch)
                if self._failure is None:
                    await asyncio.to_thread(self._write_back_if_deleted)
            finally:
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(self._handle.close)

    def _write_back_if_deleted(self) -> None:
        """A journal deleted while the run had it open (its state folder tidied
        away mid-run) is written back whole from the open file, so the next run
        still knows what this one paid for instead of finding its state lost."""
        fd = self._handle.fileno()
        if os.fstat(fd).st_nlink > 0:
            return
        with atomic_writer(self.path) as out:
            offset = 0
            while chunk := os.pread(fd, 1 << 20, offset):
                out.write(chunk)
                offset += len(chunk)
        log.warning(
            "%s was deleted while the run went on; written back from the run's open copy",
            self.path,
        )


def _open_for_append(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    mend_tail(path)  # a crash's torn last line cut off: ours start on a line of their own
    # Readable too: a journal deleted under the run is written back from it.
    return open(path, "a+b")  # owned by the Journal, closed in close()


def _encode(data: dict[str, Any]) -> bytes:
    return dumps_line(data)


def read_entries(path: Path, start: int = 0) -> Iterator[tuple[int, JournalEntry | Undecodable]]:
    """Every entry of the journal with its byte offset, oldest first, typed;
    from byte `start` on (a line boundary an earlier read ended at).

    A torn last line is dropped (jsonlines.read_lines); a line elsewhere that
    is not JSON is skipped with a warning: earlier versions closed a torn tail
    with a newline, leaving it mid-file, and the journal must stay readable.
    Lines that are JSON but cannot be decoded come out as Undecodable, so the
    reader can hold their row. Synchronous: callers run it in a thread.
    """
    for line in read_lines(path, start):
        try:
            data = loads(line.text)
        except ValueError:
            log.warning("%s: skipping a journal line that is not JSON (a torn line)", line.where)
            continue
        if isinstance(data, dict):
            yield line.offset, decode_entry(data, line.offset)
        else:
            yield line.offset, Undecodable(None, line.offset, "not a JSON object")


def read_entry_at(handle: IO[bytes], offset: int) -> JournalEntry | Undecodable:
    """The entry whose line starts at `offset` (from `read_entries`)."""
    handle.seek(offset)
    try:
        data: Any = loads(handle.readline())
    except ValueError as exc:
        return Undecodable(None, offset, f"not JSON: {exc}")
    if not isinstance(data, dict):
        return Undecodable(None, offset, "not a JSON object")
    return decode_entry(data, offset)


class JournalCondition(StrEnum):
    """Whether a journal can tell anything: the lost-state check's question."""

    MISSING = "missing"
    EMPTY = "empty"
    UNREADABLE = "unreadable"  # cannot be opened, or not one line of it is a JSON object
    READABLE = "readable"


def journal_condition(path: Path) -> JournalCondition:
    """Whether the journal at `path` holds something to read. Reading stops at
    the first JSON object: a journal with a torn last line, or with lines a
    newer batchedit wrote, is readable (those lines are dealt with row by row);
    only one of which not a single line is a JSON object is unreadable.
    Synchronous: callers run it in a thread."""
    content = False
    try:
        with open(path, "rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                content = True
                try:
                    if isinstance(loads(line), dict):
                        return JournalCondition.READABLE
                except ValueError:
                    continue
    except FileNotFoundError:
        return JournalCondition.MISSING
    except OSError:
        return JournalCondition.UNREADABLE
    return JournalCondition.UNREADABLE if content else JournalCondition.EMPTY


def write_journal(path: Path, entries: Iterable[JournalEntry]) -> int:
    """A whole journal of `entries` at `path`, written aside, fsynced and renamed
    (a rebuild's; a running journal only appends). Returns the lines written.
    Synchronous: callers run it in a thread."""
    written = 0
    with atomic_writer(path) as out:
        for entry in entries:
            out.write(_encode(entry.to_json()))
            written += 1
    return written
