"""The pollers: a small pool that takes whichever task the timetable says is
due, asks the service about it, and hands terminal tasks, with their slot
given back, to the writers. A poll that fails costs nothing to repeat, so it
is repeated; past `task_timeout` a task ends `timeout` but keeps its id."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from batchedit.api.task_state import TaskState
from batchedit.catalogue import current_catalogue, max_outputs
from batchedit.errors import (
    ApiError,
    FatalApiError,
    ProtocolError,
    TaskTimedOut,
    TransientError,
)
from batchedit.pipeline.poll.scheduler import InFlightTask
from batchedit.records import EditRequest

if TYPE_CHECKING:  # the run's services are handed in by the runner, above this stage
    from batchedit.pipeline.context import RunServices

log = logging.getLogger(__name__)

#: Polls in a row that failed after their own retry budget before a row fails.
MAX_POLL_FAILURES = 3

#: A terminal task and what ended it, from the pollers to the writers.
Done = tuple[InFlightTask, TaskState | ApiError]


@dataclass(frozen=True, slots=True)
class PollSettings:
    """What the pollers read: past `task_timeout_s` a running task ends `timeout`."""

    task_timeout_s: float | None


class Pollers:
    def __init__(self, services: RunServices, settings: PollSettings) -> None:
        self.services = services
        self.settings = settings

    async def run(self, done_q: asyncio.Queue[Done | None]) -> None:
        async with asyncio.TaskGroup() as group:
            for _ in range(self.services.workers.pollers):
                group.create_task(self.poller(done_q))
        for _ in range(self.services.workers.writers):
            await done_q.put(None)

    async def poller(self, done_q: asyncio.Queue[Done | None]) -> None:
        try:
            await self.poll_due(done_q)
        except FatalApiError:
            # 401/402 on a poll: submits on the wire get their grace period first.
            await self.services.gate.drain()
            raise

    async def poll_due(self, done_q: asyncio.Queue[Done | None]) -> None:
        while (task := await self.services.timetable.next_due()) is not None:
            outcome = await self.poll_once(task)
            if outcome is None:
                self.services.timetable.poll_again(task)
                continue
            self.services.stats.record_latency(self.services.clock.now() - task.submitted_mono)
            task.slot.release()  # the task has ended: its place at the service is free
            # A task left by an earlier run (no paid attempt in this one) has no true age.
            learn = isinstance(outcome, TaskState) and task.attempts > 0
            self.services.timetable.done(task, learn=learn)
            await done_q.put((task, outcome))

    async def poll_once(self, task: InFlightTask) -> TaskState | ApiError | None:
        """The task's terminal outcome, or None to poll it again later.

        A poll that failed after its own retry budget is tried again at the next
        turn, up to MAX_POLL_FAILURES in a row: the task id is known, so a wait
        costs nothing. Past `task_timeout` a running task ends `timeout`, keeping
        its task id so that a later run polls it again instead of paying again.
        """
        outcome: TaskState | ApiError
        try:
            outcome = await self.services.client.read_task(
                task.task_id, max_results=max_results(task.row.request)
            )
        except (ProtocolError, TransientError) as exc:
            task.poll_errors += 1
            if task.poll_errors < MAX_POLL_FAILURES and not self.past_deadline(task):
                log.warning("%s: %s; polling again", task.row.id, exc)
                return None
            outcome = exc
        except ApiError as exc:
            outcome = exc
        task.polls += 1
        if isinstance(outcome, TaskState) and not outcome.is_terminal:
            task.poll_errors = 0
            if not self.past_deadline(task):
                return None
            return TaskTimedOut(
                f"task {task.task_id} still {outcome.raw_status or 'running'} after "
                f"{self.settings.task_timeout_s:g}s (task_timeout); a later run polls it again"
            )
        return outcome

    def past_deadline(self, task: InFlightTask) -> bool:
        timeout_s = self.settings.task_timeout_s
        return (
            timeout_s is not None and self.services.clock.now() - task.submitted_mono >= timeout_s
        )


def max_results(request: EditRequest) -> int:
    """How many results a task of `request` may list: the catalogue's count."""
    return max_outputs(current_catalogue().body_spec(request.model), request.params())
