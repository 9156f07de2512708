"""The submitters: each takes a planned row and does what the plan says: pays
for a new task (holding an in-flight slot from before the submit until the
task ends, invariant 4), resumes polling a task an earlier run left, or
downloads a settled row's results again. A submit's intent is journaled just
before the request leaves and its task id as soon as it is known
(invariant 1)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from batchedit.api.task_state import ResultResource, TaskPhase, TaskState
from batchedit.clock import utc_now_iso
from batchedit.errors import (
    ApiError,
    FatalApiError,
    InputError,
    OutcomeUnknown,
    RateLimited,
    ResultExpired,
)
from batchedit.events import emit
from batchedit.pipeline.context import RunContext
from batchedit.pipeline.planning import Unreadable
from batchedit.pipeline.resume import Action, RowPlan
from batchedit.pipeline.scheduler import InFlightTask
from batchedit.records import Row, Status
from batchedit.state.journal import Finished, Submitted, Submitting, Withdrawn

log = logging.getLogger(__name__)

#: Times a submit may go back for a slot after its 429 retry budget is spent.
MAX_SUBMIT_ROUNDS = 4


class Submitters:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    async def run(self, rows_q: asyncio.Queue[RowPlan | Unreadable | None]) -> None:
        async with asyncio.TaskGroup() as group:
            for _ in range(self.ctx.submitters):
                group.create_task(self.submitter(rows_q))
        self.ctx.timetable.close()

    async def submitter(self, rows_q: asyncio.Queue[RowPlan | Unreadable | None]) -> None:
        while (plan := await rows_q.get()) is not None:
            if isinstance(plan, Unreadable):
                await self.ctx.finish.without_task(plan.row, None, Status.FAILED, plan.error)
            elif plan.action is Action.POLL:
                await self.resume_polling(plan)
            elif plan.action is Action.FETCH and await self.fetch_again(plan):
                continue
            else:
                await self.prepare_and_submit(plan.row, plan.fingerprint)

    async def prepare_and_submit(self, row: Row, fingerprint: str) -> None:
        if self.ctx.halted is not None:
            return  # the row stays pending: nothing was sent for it
        try:
            body = await self.request_body(row)
        except FatalApiError:
            raise
        except (ApiError, InputError) as exc:
            await self.ctx.finish.without_task(row, fingerprint, Status.FAILED, exc)
            return
        await self.submit(row, fingerprint, body)

    async def request_body(self, row: Row) -> dict[str, Any]:
        request = row.request
        images = [await self.ctx.uploader.url_for(image) for image in request.images]
        return {"prompt": request.prompt, "image": images, **request.params()}

    async def submit(
        self, row: Row, fingerprint: str, body: dict[str, Any], *, rounds: int = 1
    ) -> None:
        """Take a slot and send the paid submit. A submit still refused with 429
        after its retry budget created nothing: its slot goes back and it waits
        for one again, under a limit the 429s have meanwhile lowered, for up
        to MAX_SUBMIT_ROUNDS rounds."""
        slot = await self.ctx.slots.take()
        if self.ctx.halted is not None:
            slot.release()
            return
        submitted_at, started = utc_now_iso(), self.ctx.clock.now()
        intent = Submitting(row.index, row.id, fingerprint, submitted_at)
        intent_written = False

        async def journal_intent() -> None:
            # Durable before the request leaves: a crash from here on is `unknown`.
            nonlocal intent_written
            await self.ctx.journal.append(intent)
            intent_written = True

        try:
            task_id = await self.ctx.client.submit_edit(
                row.request.model, body, before_send=journal_intent
            )
        except OutcomeUnknown as exc:
            slot.release()
            self.ctx.stats.paid_submissions += 1
            await self.ctx.finish.without_task(row, fingerprint, Status.UNKNOWN, exc, submitted_at)
            self.ctx.count_unknown()
            return
        except RateLimited as exc:
            slot.release()
            if rounds >= MAX_SUBMIT_ROUNDS:
                await self.ctx.finish.without_task(
                    row, fingerprint, Status.FAILED, exc, submitted_at
                )
                return
            if intent_written:  # refused before any task was made
                await self.ctx.journal.append(Withdrawn(row.index, row.id))
            log.warning("%s: %s; waiting for a slot again", row.id, exc)
            await self.submit(row, fingerprint, body, rounds=rounds + 1)
            return
        except FatalApiError:
            slot.release()
            if intent_written:  # answered, and no task was made: the row is pending again
                await self.ctx.journal.append(Withdrawn(row.index, row.id))
            raise
        except ApiError as exc:
            slot.release()
            await self.ctx.finish.without_task(row, fingerprint, Status.FAILED, exc, submitted_at)
            return
        except BaseException:
            slot.release()
            raise
        self.ctx.stats.paid_submissions += 1
        task = InFlightTask(row, task_id, slot, fingerprint, submitted_at, started, attempts=1)
        task.accepted_mono = self.ctx.clock.now()
        # Into the timetable first, so the first poll need not wait for the fsync: the
        # append below queues its line before anything can run, so it precedes the
        # task's outcome in the journal whatever the poll finds.
        self.ctx.timetable.add(task)
        # Durable before the row counts as submitted: a crash from here on polls, never repays.
        await self.ctx.journal.append(
            Submitted(row.index, row.id, task_id, fingerprint, submitted_at)
        )
        log.info("%s submitted as %s", row.id, task_id)
        emit("row_submitted", id=row.id, row=row.index, task_id=task_id)
        self.ctx.progress.submitted(in_flight=self.ctx.slots.in_use)

    async def resume_polling(self, plan: RowPlan) -> None:
        """A task an earlier run left running (or timed out on): poll it, don't pay again."""
        history = plan.history
        latest = None if history is None else history.latest
        if isinstance(latest, Submitted):
            task_id, submitted_at = latest.task_id, latest.at
        elif isinstance(latest, Finished) and latest.record.task_id:
            task_id, submitted_at = latest.record.task_id, latest.record.submitted_at or ""
        else:  # the planner only polls rows with a task id
            raise AssertionError(f"{plan.row.id}: nothing to poll")
        slot = await self.ctx.slots.take()
        task = InFlightTask(
            plan.row,
            task_id,
            slot,
            plan.fingerprint,
            submitted_at,
            self.ctx.clock.now(),
            attempts=0,
        )
        log.info("%s: polling %s again, left by an earlier run", plan.row.id, task_id)
        emit("row_resumed", id=plan.row.id, row=plan.row.index, task_id=task_id)
        self.ctx.progress.submitted(in_flight=self.ctx.slots.in_use)
        self.ctx.timetable.add(task)

    async def fetch_again(self, plan: RowPlan) -> bool:
        """Download a succeeded row's results again, its files being gone or
        altered. False when the results have expired and the row must be paid
        for again."""
        history = plan.history
        latest = None if history is None else history.latest
        if not isinstance(latest, Finished):
            return False
        record = latest.record
        state = TaskState(
            task_id=record.task_id or "",
            phase=TaskPhase.SUCCEEDED,
            raw_status="success",
            resources=tuple(ResultResource(url) for url in latest.result_urls),
            expires_at=latest.expires_at,
        )
        try:
            outputs = await self.ctx.store.store_results(plan.row, state)
        except ResultExpired:
            log.info("%s: results expired; submitting again", plan.row.id)
            return False
        except ApiError as exc:
            if isinstance(exc, FatalApiError):
                raise
            await self.ctx.finish.without_task(plan.row, plan.fingerprint, Status.FAILED, exc)
            return True
        fixed = replace(record, outputs=outputs, finished_at=utc_now_iso())
        await self.ctx.finish.record(plan.row, fixed, plan.fingerprint, state)
        # Under a new name or format, the old files are no longer the row's.
        stale = {out.path for out in record.outputs} - {out.path for out in outputs}
        await asyncio.to_thread(self.ctx.store.remove, stale)
        log.info("%s: outputs downloaded again", plan.row.id)
        return True
