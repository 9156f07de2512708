"""report.jsonl: one line per manifest row, in manifest order, written whole.

The report is a join, not a memory: the manifest is streamed once more and
each row meets its latest journal entry, looked up by byte offset. So the
report costs a few bytes of memory per row however large the run, is the
same whether the run finished or was interrupted, and rows the journal
never heard of come out `pending` (or `invalid`, from validation).
Synchronous throughout: the pipeline runs it in a thread.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .fsutil import atomic_writer
from .journal import read_entries, read_entry_at
from .records import (
    ErrorCategory,
    InvalidRow,
    OutputFile,
    ReportRecord,
    Row,
    RowError,
    Status,
)
from .rundir import RunPaths


@dataclass(frozen=True, slots=True)
class JournalIndex:
    """Where each row's latest outcome sits in the journal, and its paid attempts."""

    finished: Mapping[int, int] = field(default_factory=dict)  # row -> byte offset
    submitted: Mapping[int, int] = field(default_factory=dict)  # row -> byte offset
    attempts: Mapping[int, int] = field(default_factory=dict)  # row -> paid submits


def index_journal(journal_path: Path) -> JournalIndex:
    finished: dict[int, int] = {}
    submitted: dict[int, int] = {}
    attempts: Counter[int] = Counter()
    for offset, entry in read_entries(journal_path):
        row = entry.get("row")
        if not isinstance(row, int):
            continue
        event = entry.get("event")
        if event == "finished":
            finished[row] = offset
            record = entry.get("record")
            if isinstance(record, Mapping) and record.get("status") == Status.UNKNOWN:
                attempts[row] += 1  # a submit whose answer never came is paid for too
        elif event == "submitted":
            submitted[row] = offset
            attempts[row] += 1
    return JournalIndex(finished, submitted, dict(attempts))


@dataclass(slots=True)
class ReportCounts:
    """What the report holds, for summary.json and the closing lines of a run."""

    rows: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, record: ReportRecord) -> None:
        self.rows += 1
        self.statuses[record.status.value] += 1
        if record.error is not None and record.status is not Status.SUCCEEDED:
            category = record.error.category.value
            self.categories[category] += 1
            self.examples.setdefault(category, f"{record.id}: {record.error.message}")


def request_record(
    row: Row,
    status: Status,
    *,
    task_id: str | None = None,
    outputs: tuple[OutputFile, ...] = (),
    error: RowError | None = None,
    attempts: int = 0,
    submitted_at: str | None = None,
    finished_at: str | None = None,
    latency_s: float | None = None,
) -> ReportRecord:
    """A report record for a valid row, filled with what the row asked for."""
    request = row.request
    return ReportRecord(
        id=row.id,
        row=row.index,
        status=status,
        model=request.model,
        prompt=request.prompt,
        images=tuple(image.given for image in request.images),
        params=request.params(),
        fields=dict(row.fields),
        task_id=task_id,
        outputs=outputs,
        error=error,
        attempts=attempts,
        submitted_at=submitted_at,
        finished_at=finished_at,
        latency_s=latency_s,
    )


def invalid_record(row: InvalidRow) -> ReportRecord:
    message = "; ".join(problem.message for problem in row.problems)
    return ReportRecord(
        id=row.id,
        row=row.index,
        status=Status.INVALID,
        model=row.model,
        prompt=row.prompt,
        images=row.images,
        params=dict(row.params),
        fields=dict(row.fields),
        error=RowError(ErrorCategory.INVALID_INPUT, message),
    )


def write_report(
    paths: RunPaths, rows: Iterable[Row | InvalidRow], index: JournalIndex
) -> ReportCounts:
    """Write report.jsonl aside, fsync, rename; return what it counted."""
    counts = ReportCounts()
    with atomic_writer(paths.report, "w") as out, _JournalReader(paths.journal) as journal:
        for row in rows:
            record = _record_for(row, index, journal)
            counts.add(record)
            out.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
    return counts


def _record_for(
    row: Row | InvalidRow, index: JournalIndex, journal: _JournalReader
) -> ReportRecord:
    if isinstance(row, InvalidRow):
        return invalid_record(row)
    attempts = index.attempts.get(row.index, 0)
    finished = index.finished.get(row.index, -1)
    submitted = index.submitted.get(row.index, -1)
    if submitted > finished:
        # Submitted since its last outcome: still running at the service.
        entry = journal.at(submitted)
        if entry.get("id") == row.id:
            return request_record(
                row,
                Status.PENDING,
                task_id=str(entry["task_id"]),
                submitted_at=entry.get("at"),
                attempts=attempts,
            )
    elif finished >= 0:
        record = ReportRecord.from_json(journal.at(finished)["record"])
        if record.id == row.id:
            return replace(record, attempts=attempts)
    return request_record(row, Status.PENDING, attempts=attempts)


class _JournalReader:
    """Random access to journal entries by offset; opened lazily."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle = open(path, "rb") if path.exists() else None

    def at(self, offset: int) -> Mapping[str, Any]:
        if self._handle is None:
            raise FileNotFoundError(self._path)
        return read_entry_at(self._handle, offset)

    def __enter__(self) -> _JournalReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            self._handle.close()
