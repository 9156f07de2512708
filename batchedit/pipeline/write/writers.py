"""The writers: a terminal task's results downloaded, verified and stored
(outputs.py), or the reason it has none, and the row's end recorded; unless
its task id was found given to another row too (task_ids.py), whose results
are nobody's: nothing is fetched, or what was is removed."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from batchedit.api.task_state import TaskPhase, TaskState
from batchedit.clock import utc_now_iso
from batchedit.errors import ApiError, DownloadError
from batchedit.pipeline.poll.pollers import Done
from batchedit.pipeline.poll.scheduler import InFlightTask
from batchedit.pipeline.write.outputs import StoredResults
from batchedit.records import ErrorCategory, RowError, Status
from batchedit.report.report_file import request_record

if TYPE_CHECKING:  # the run's services are handed in by the runner, above this stage
    from batchedit.pipeline.context import RunServices

log = logging.getLogger(__name__)


class Writers:
    def __init__(self, services: RunServices) -> None:
        self.services = services

    async def run(self, done_q: asyncio.Queue[Done | None]) -> None:
        async with asyncio.TaskGroup() as group:
            for _ in range(self.services.workers.writers):
                group.create_task(self.writer(done_q))

    async def writer(self, done_q: asyncio.Queue[Done | None]) -> None:
        task_ids = self.services.task_ids
        while (item := await done_q.get()) is not None:
            task, outcome = item
            if task_ids.is_shared(task.task_id):
                task_ids.settle(task.task_id)  # journalled `unknown` when found shared
                continue
            latency_s = round(self.services.clock.now() - task.submitted_mono, 3)
            settled = await self.settle(task, outcome)
            status, error, stored = settled.status, settled.error, settled.stored
            record = request_record(
                task.row,
                status,
                task_id=task.task_id,
                outputs=stored.outputs,
                checks=stored.checks,
                error=error,
                attempts=task.attempts,
                submitted_at=task.submitted_at,
                finished_at=utc_now_iso(),
                latency_s=latency_s,
                inputs=self.services.uploader.sent_inputs(task.row.request.images),
            )
            task_failed = error is not None and error.category is ErrorCategory.TASK_FAILED
            # The failure brake counts it: too many failures in a row stop submitting.
            self.services.gate.task_finished(error.message if error and task_failed else None)
            state = outcome if isinstance(outcome, TaskState) else None
            finish = self.services.finish
            entry = await finish.entry(
                task.row, record, task.fingerprint, state, refused=settled.refused
            )
            # No wait from here to the journal's queue: a second answer of this
            # task id finds the row either in flight or ended (task_ids.py).
            if not task_ids.settle(task.task_id):
                stale = {path for out in stored.outputs for path, _, _ in out.files()}
                await asyncio.to_thread(self.services.store.remove, stale)
                continue
            await finish.commit(entry, record, polls=task.polls)
            log.info("%s %s after %.1fs, %d polls", task.row.id, status, latency_s, task.polls)

    async def settle(self, task: InFlightTask, outcome: TaskState | ApiError) -> Settled:
        """A terminal task's status: its results stored, or why there are none.
        A result failing a check is kept either way; with `strict_checks` its
        row fails as a download would (its task is polled again for free)."""
        if isinstance(outcome, ApiError):
            return Settled(Status.FAILED, outcome.to_row_error())
        if outcome.phase is TaskPhase.FAILED:
            message = outcome.error_message or "the task failed"
            refused = outcome.refused
            category = ErrorCategory.CONTENT_POLICY if refused else ErrorCategory.TASK_FAILED
            return Settled(Status.FAILED, RowError(category, message))
        try:
            stored = await self.services.store.store_checked(task.row, outcome)
        except ApiError as exc:
            refused = isinstance(exc, DownloadError) and exc.refused
            return Settled(Status.FAILED, exc.to_row_error(), refused=refused)
        if stored.checks and self.services.store.strict_checks:
            return Settled(Status.FAILED, _failed_checks(stored), stored)
        return Settled(Status.SUCCEEDED, None, stored)


_NOTHING = StoredResults((), ())


@dataclass(frozen=True, slots=True)
class Settled:
    """How a terminal task ended for its row; `refused` when the picture policy
    refused its result (the journal keeps it, so no later run fetches it)."""

    status: Status
    error: RowError | None
    stored: StoredResults = _NOTHING
    refused: bool = False


def _failed_checks(stored: StoredResults) -> RowError:
    sizes = ", ".join(f"{out.path} is {out.width}x{out.height}" for out in stored.outputs)
    names = ", ".join(check.value for check in stored.checks)
    return RowError(
        ErrorCategory.DOWNLOAD,
        f"output checks failed ({names}; {sizes}); the files are kept. "
        "Without --strict-checks the row would have succeeded",
    )
