"""How a row's end is recorded: its journal entry, the progress bars and the
event log, in one place for every stage that can end a row (a writer with
the task's results, a submitter whose submit was refused or whose answer was
lost, a re-download of a settled row)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from batchedit.api.inflight import InFlightSlots
from batchedit.api.task_state import TaskState
from batchedit.clock import utc_now_iso
from batchedit.errors import ApiError, InputError
from batchedit.events import emit
from batchedit.manifest.naming import OutputSpec, output_layout
from batchedit.origins import Origin
from batchedit.pipeline.poll.scheduler import InFlightTask
from batchedit.records import ErrorCategory, InvalidRow, ReportRecord, Row, RowError, Status
from batchedit.report.progress import Progress
from batchedit.report.report_file import request_record
from batchedit.state.journal import Finished, Journal, read_entries
from batchedit.state.rundir import RunPaths

log = logging.getLogger(__name__)


class RowEnds:
    """Journals finished rows and tells the progress bars and the event log."""

    def __init__(
        self,
        journal: Journal,
        progress: Progress,
        slots: InFlightSlots,
        paths: RunPaths,
        output: OutputSpec,
        origin: Callable[[], Origin],
    ) -> None:
        self.journal = journal
        self.origin = origin  # the origin the run's tasks come from, as known now
        self.progress = progress
        self.slots = slots
        self.paths = paths
        self.output = output

    async def entry(
        self,
        row: Row,
        record: ReportRecord,
        fingerprint: str | None,
        state: TaskState | None,
        *,
        refused: bool = False,
    ) -> Finished:
        """The journal entry of a finished row; for a succeeded one, with what a
        later run needs to check its files and fetch them again for free; for
        one whose result the picture policy refused, that it was."""
        if record.status is not Status.SUCCEEDED or state is None:
            return replace(Finished.of_record(record, fingerprint, self.origin()), refused=refused)
        root = self.paths.root
        mtimes = await asyncio.to_thread(
            lambda: tuple(
                os.stat(root / path).st_mtime_ns
                for output in record.outputs
                for path, _, _ in output.files()
            )
        )
        return replace(
            Finished.of_record(record, fingerprint, self.origin()),
            result_urls=tuple(resource.url for resource in state.resources),
            expires_at=state.expires_at,
            output_mtimes_ns=mtimes,
            layout=output_layout(self.output, row),
        )

    async def record(
        self,
        row: Row,
        record: ReportRecord,
        fingerprint: str | None,
        state: TaskState | None,
        *,
        polls: int | None = None,
        refused: bool = False,
    ) -> None:
        """A row that ended with `record`: journaled, counted, announced."""
        entry = await self.entry(row, record, fingerprint, state, refused=refused)
        await self.commit(entry, record, polls=polls)

    async def commit(
        self, entry: Finished, record: ReportRecord, *, polls: int | None = None
    ) -> None:
        """Journal `entry` (its line queued before anything else can run), then
        count and announce `record`."""
        await self.journal.append(entry)
        self.progress.finished(record.status, in_flight=self.slots.in_use)
        emit("row_finished", **finished_fields(record, polls))

    async def without_task(
        self,
        row: Row,
        fingerprint: str | None,
        status: Status,
        exc: ApiError | InputError,
        submitted_at: str | None = None,
    ) -> None:
        record = request_record(
            row,
            status,
            error=exc.to_row_error(),
            attempts=1 if submitted_at else 0,
            submitted_at=submitted_at,
            finished_at=utc_now_iso(),
        )
        await self.journal.append(Finished.of_record(record, fingerprint, self.origin()))
        self.progress.finished(status, in_flight=self.slots.in_use)
        emit("row_finished", **finished_fields(record))
        log.warning("%s %s: %s", row.id, status, exc)

    async def shared_in_flight(self, task: InFlightTask, error: RowError) -> None:
        """A row still in flight whose task id another row was given too: journalled
        `unknown` now, so that an interrupted run leaves it so; its writer
        journals nothing more for it (task_ids.py)."""
        row = task.row
        await self.journal.append(
            Finished(
                row=row.index,
                id=row.id,
                fingerprint=task.fingerprint,
                status=Status.UNKNOWN,
                error=error,  # names the task id: it is not known to be this row's
                submitted_at=task.submitted_at or None,
                finished_at=utc_now_iso(),
                origin=self.origin(),
            )
        )
        self.progress.finished(Status.UNKNOWN, in_flight=self.slots.in_use)
        log.warning("%s %s: %s", row.id, Status.UNKNOWN, error.message)

    async def shared_after_end(self, row: int, task_id: str, error: RowError) -> Finished | None:
        """A row that ended earlier in this run under `task_id`, which another row
        was given too: its journalled outcome replaced by `unknown`. Returns the
        outcome replaced (its files are the caller's to remove), or None when the
        journal holds none for that task. The caller's own line was made durable
        first, so every line queued before it is in the file."""
        ended = await asyncio.to_thread(_latest_finished, self.journal.path, row, task_id)
        if ended is None:
            return None
        await self.journal.append(
            replace(
                ended,
                status=Status.UNKNOWN,
                task_id=None,  # the error names it: it is not known to be this row's
                error=error,
                outputs=(),
                result_urls=(),
                expires_at=None,
                output_mtimes_ns=(),
                layout=None,
                checks=(),
                finished_at=utc_now_iso(),
            )
        )
        log.warning("%s %s: %s", ended.id, Status.UNKNOWN, error.message)
        return ended

    async def results_gone(self, latest: Finished) -> None:
        """A settled row whose lost files could not be fetched again: its results
        have expired. Marked so (nothing paid now), so the next run plans the
        paid resubmit where the plan and the cost guard count it."""
        await self.journal.append(replace(latest, expires_at=utc_now_iso()))
        self.progress.finished(latest.status, in_flight=self.slots.in_use)
        emit("results_expired", id=latest.id, row=latest.row, task_id=latest.task_id)
        log.warning("%s: its results have expired; a re-run submits it again (paid)", latest.id)


def _latest_finished(path: Path, row: int, task_id: str) -> Finished | None:
    """The journal's latest outcome of data row `row`, if it is about `task_id`.
    Synchronous (a thread): a whole read of the journal, done only for a task id
    found shared, which the unknown-outcome budget keeps rare."""
    latest: Finished | None = None
    for _, entry in read_entries(path):
        if isinstance(entry, Finished) and entry.row == row:
            latest = entry
    return latest if latest is not None and latest.task_id == task_id else None


def finished_fields(record: ReportRecord, polls: int | None = None) -> dict[str, object]:
    error = record.error
    return {
        "id": record.id,
        "row": record.row,
        "status": record.status.value,
        "task_id": record.task_id,
        "category": None if error is None else error.category.value,
        "message": None if error is None else error.message,
        "latency_s": record.latency_s,
        "polls": polls,
        "outputs": len(record.outputs),
    }


def invalid_fields(row: InvalidRow) -> dict[str, object]:
    message = "; ".join(problem.message for problem in row.problems)
    category = ErrorCategory.INVALID_INPUT.value
    return {
        "id": row.id,
        "row": row.index,
        "status": "invalid",
        "category": category,
        "message": message,
    }
