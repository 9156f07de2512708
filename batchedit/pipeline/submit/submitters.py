"""The submitters: each takes a planned row and does what the plan says: pays
for a new task, resumes polling a task an earlier run left, or downloads a
settled row's results again.

A paid task holds an in-flight slot from before its submit until it ends
(invariant 4): the slot is reserved around the submit and handed over to the
in-flight task on success; on every other path leaving the reservation gives
it back. The paid POST and its retries are the client's
(`ModellixClient.submit_paid`); the journal's part in each attempt is
`intents.PaidIntent`'s: the intent before it leaves, a withdrawal after each
refusal (the service created no task). On acceptance the task id is journaled,
durably, before the row counts as submitted (invariant 1). So a stop or a
kill while a submit waits to retry leaves the row `pending`, not `unknown`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from batchedit.api.client import PAID_REFUSALS
from batchedit.api.task_state import ResultResource, TaskPhase, TaskState
from batchedit.catalogue import build_body, current_catalogue
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
from batchedit.pipeline.plan.planning import Unreadable
from batchedit.pipeline.plan.resume import Action, RowPlan
from batchedit.pipeline.poll.scheduler import InFlightTask
from batchedit.pipeline.produce.row_queue import RowQueue
from batchedit.pipeline.submit.gate import Turn
from batchedit.pipeline.submit.intents import PaidIntent
from batchedit.pipeline.submit.task_ids import Claim, Holder
from batchedit.records import ErrorCategory, OutputFile, Row, RowError, Status
from batchedit.report.report_file import request_record
from batchedit.state.journal import Finished, Submitted

if TYPE_CHECKING:  # the run's services are handed in by the runner, above this stage
    from batchedit.pipeline.context import RunServices

log = logging.getLogger(__name__)

#: Times a submit may go back for a slot after its 429 retry budget is spent.
MAX_SUBMIT_ROUNDS = 4


class Submitters:
    def __init__(self, services: RunServices) -> None:
        self.services = services

    async def run(self, rows_q: RowQueue) -> None:
        async with asyncio.TaskGroup() as group:
            for _ in range(self.services.workers.submitters):
                group.create_task(self.submitter(rows_q))
        self.services.timetable.close()

    async def submitter(self, rows_q: RowQueue) -> None:
        try:
            await self.take_rows(rows_q)
        except FatalApiError:
            # 401/402: before the run is cancelled, the other submits on the wire
            # get their grace period, so that their outcome is known.
            await self.services.gate.drain()
            raise

    async def take_rows(self, rows_q: RowQueue) -> None:
        while (plan := await rows_q.get()) is not None:
            if isinstance(plan, Unreadable):
                await self.services.finish.without_task(plan.row, None, Status.FAILED, plan.error)
            elif plan.action is Action.POLL:
                await self.resume_polling(plan)
            elif plan.action is Action.FETCH:
                await self.fetch_again(plan)
            else:  # SUBMIT, RESUBMIT: planned, and counted, as paid
                await self.prepare_and_submit(plan.row, plan.fingerprint)

    async def prepare_and_submit(self, row: Row, fingerprint: str) -> None:
        if not self.services.gate.is_open:
            return  # the row stays pending: nothing was sent for it
        try:
            body = await self.request_body(row)
        except (ApiError, InputError) as exc:
            await self.services.finish.without_task(row, fingerprint, Status.FAILED, exc)
            return
        # The breaker's cool-down, a probe's answer, room under the spend cap.
        turn = await self.services.gate.admit(row.request.model, row.request.params())
        if turn is None:
            return  # submitting has stopped: the row stays pending
        try:
            await self.submit(row, fingerprint, body, turn)
        finally:
            turn.close()

    async def request_body(self, row: Row) -> dict[str, Any]:
        request = row.request
        spec = current_catalogue().body_spec(request.model)
        limits = spec.input_limits
        images = [await self.services.uploader.url_for(image, limits) for image in request.images]
        return build_body(spec, request.prompt, images, request.params())

    async def submit(self, row: Row, fingerprint: str, body: dict[str, Any], turn: Turn) -> None:
        """Reserve a slot and pay for the row's task. A submit still refused with
        429 after its retry budget created nothing: its slot goes back and it
        waits for one again, under a limit the 429s have meanwhile lowered, for
        up to MAX_SUBMIT_ROUNDS rounds."""
        services = self.services
        for round_number in range(1, MAX_SUBMIT_ROUNDS + 1):
            async with services.slots.reserve() as slot:
                if not services.gate.is_open:
                    return
                submitted_at, started = utc_now_iso(), services.clock.now()
                attempts = PaidIntent(services, row, fingerprint, turn)
                try:
                    task_id = await services.client.submit_paid(row.request.model, body, attempts)
                except RateLimited as exc:
                    if round_number < MAX_SUBMIT_ROUNDS:
                        log.warning("%s: %s; waiting for a slot again", row.id, exc)
                        continue
                    turn.known()
                    await services.finish.without_task(
                        row, fingerprint, Status.FAILED, exc, submitted_at
                    )
                    return
                except OutcomeUnknown as exc:
                    turn.paid()  # it may have been charged: counted as spent
                    await services.finish.without_task(
                        row, fingerprint, Status.UNKNOWN, exc, submitted_at
                    )
                    turn.unknown()
                    return
                except ApiError as exc:
                    turn.known()
                    if not isinstance(exc, PAID_REFUSALS):
                        # Not a refusal (a task id unsafe to ask about: AnswerRefused):
                        # the service charged for it, though it is never polled.
                        turn.paid()
                    await services.finish.without_task(
                        row, fingerprint, Status.FAILED, exc, submitted_at
                    )
                    return
                if task_id is None:
                    return  # stopped before it was sent: the row stays pending
                turn.paid()
                turn.known()
                task = InFlightTask(
                    row, task_id, slot.hand_over(), fingerprint, submitted_at, started, attempts=1
                )
            await self.accepted(task)
            return

    async def accepted(self, task: InFlightTask) -> None:
        """A submit the service accepted: its task id durable, then polled; or,
        when another row of this run was given the same task id, `unknown`."""
        services = self.services
        row = task.row
        task.accepted_mono = services.clock.now()
        claim = services.task_ids.claim(task.task_id, row.index, task)
        if claim is not None:
            task.slot.release()
            await self.given_twice(row, task.fingerprint, task.task_id, task.submitted_at, claim)
            return
        # Into the timetable first, so the first poll need not wait for the fsync: the
        # append below queues its line before anything can run, so it precedes the
        # task's outcome in the journal whatever the poll finds.
        services.timetable.add(task)
        # Durable before the row counts as submitted: a crash from here on polls, never repays.
        await services.journal.append(
            Submitted(
                row.index,
                row.id,
                task.task_id,
                task.fingerprint,
                task.submitted_at,
                services.client.origin,  # its answer said whether it is the simulator
            )
        )
        log.info("%s submitted as %s", row.id, task.task_id)
        emit("row_submitted", id=row.id, row=row.index, task_id=task.task_id)
        services.progress.submitted(in_flight=services.slots.in_use)

    async def resume_polling(self, plan: RowPlan) -> None:
        """A task an earlier run left running (or timed out on): poll it, don't pay again."""
        history = plan.history
        task_id = None if history is None else history.task_id
        if task_id is None:  # the planner only polls rows with a task id
            raise AssertionError(f"{plan.row.id}: nothing to poll")
        latest = None if history is None else history.latest
        submitted_at = ""
        if isinstance(latest, Submitted):
            submitted_at = latest.at
        elif isinstance(latest, Finished):
            submitted_at = latest.submitted_at or ""
        services = self.services
        async with services.slots.reserve() as slot:
            task = InFlightTask(
                plan.row,
                task_id,
                slot.hand_over(),
                plan.fingerprint,
                submitted_at,
                services.clock.now(),
                attempts=0,
            )
        claim = services.task_ids.claim(task_id, plan.row.index, task)
        if claim is not None:
            task.slot.release()
            await self.given_twice(plan.row, plan.fingerprint, task_id, submitted_at, claim)
            return
        log.info("%s: polling %s again, left by an earlier run", plan.row.id, task_id)
        emit("row_resumed", id=plan.row.id, row=plan.row.index, task_id=task_id)
        services.progress.submitted(in_flight=services.slots.in_use)
        services.timetable.add(task)

    async def fetch_again(self, plan: RowPlan) -> None:
        """Download a succeeded row's results again, its files being gone or
        altered. Results found expired are marked so, paying nothing: the next
        run plans the paid resubmit where the plan and the cost guard see it."""
        services = self.services
        latest = None if plan.history is None else plan.history.latest
        if not isinstance(latest, Finished):  # the planner only fetches finished rows
            raise AssertionError(f"{plan.row.id}: nothing to fetch")
        if latest.task_id is not None:
            claim = services.task_ids.claim(latest.task_id, plan.row.index)
            if claim is not None:
                submitted = latest.submitted_at or ""
                await self.given_twice(plan.row, plan.fingerprint, latest.task_id, submitted, claim)
                return
        state = TaskState(
            task_id=latest.task_id or "",
            phase=TaskPhase.SUCCEEDED,
            raw_status="success",
            resources=tuple(ResultResource(url) for url in latest.result_urls),
            expires_at=latest.expires_at,
        )
        try:
            stored = await services.store.store_checked(plan.row, state)
        except ResultExpired:
            services.stats.results_expired += 1
            await services.finish.results_gone(latest)
            return
        except ApiError as exc:
            await services.finish.without_task(plan.row, plan.fingerprint, Status.FAILED, exc)
            return
        record = request_record(
            plan.row,
            Status.SUCCEEDED,
            task_id=latest.task_id,
            outputs=stored.outputs,
            checks=stored.checks,
            submitted_at=latest.submitted_at,
            finished_at=utc_now_iso(),
            latency_s=latest.latency_s,
            inputs=latest.inputs,
        )
        entry = await services.finish.entry(plan.row, record, plan.fingerprint, state)
        if latest.task_id is not None and not services.task_ids.settle(latest.task_id):
            # Given to another row meanwhile: this row was journalled `unknown`.
            await asyncio.to_thread(services.store.remove, {out.path for out in stored.outputs})
            return
        await services.finish.commit(entry, record)
        # Under a new name or format, the old files are no longer the row's.
        stale = _paths(latest.outputs) - _paths(stored.outputs)
        await asyncio.to_thread(services.store.remove, stale)
        log.info("%s: outputs downloaded again", plan.row.id)

    async def given_twice(
        self, row: Row, fingerprint: str, task_id: str, submitted_at: str, claim: Claim
    ) -> None:
        """`row` was given `task_id`, which the row `claim` names holds too: the
        service broke the protocol, and whose result the task holds is unknown.
        Both rows end `unknown`, and nothing of the task is taken for either."""
        services = self.services
        await services.finish.without_task(
            row,
            fingerprint,
            Status.UNKNOWN,
            OutcomeUnknown(shared_task_message(task_id, claim.row)),
            submitted_at or None,
        )
        named = [row.id]
        earlier_error = RowError(
            ErrorCategory.UNKNOWN_OUTCOME, shared_task_message(task_id, row.index)
        )
        if claim.holder is Holder.IN_FLIGHT and claim.task is not None:
            named.insert(0, claim.task.row.id)
            await services.finish.shared_in_flight(claim.task, earlier_error)
        elif claim.holder is Holder.ENDED:
            # This row's line is durable, so the earlier row's outcome is in the file.
            ended = await services.finish.shared_after_end(claim.row, task_id, earlier_error)
            if ended is not None:
                named.insert(0, ended.id)
                stale = _paths(ended.outputs)
                await asyncio.to_thread(services.store.remove, stale)
        for row_id in named:
            services.stats.record_shared_task(task_id, row_id)


def shared_task_message(task_id: str, other_row: int) -> str:
    return (
        f"the service gave task id {task_id} to the submit of row {other_row} too "
        "(a protocol error): whose picture it holds is unknown, so none was taken; "
        "`batchedit retry --status unknown` pays for this row again"
    )


def _paths(outputs: tuple[OutputFile, ...]) -> set[str]:
    """Every file of `outputs`: each output's own, and its original's."""
    return {path for output in outputs for path, _, _ in output.files()}
