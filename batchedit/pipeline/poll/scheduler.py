"""The poll scheduler: one timetable of next-poll times for every task in flight.

A small pool of poller coroutines takes whichever task is due first, so the
number of coroutines is fixed however many tasks are in flight (invariant 3).
Waiting uses only the injected clock's sleep, woken early when the timetable
changes, so tests can drive it with a fake clock.

Where a task's next poll goes is the policy's business:

- `PollPolicy` (`--poll-interval S`): every S seconds, the official tools'
  way and the baseline the benchmarks compare against.
- `LatencyAwarePolicy` (the default): learns task durations per model and
  size as the run goes (`latency.py`) and polls where completions are likely.

The bound it promises: after each poll at age `a`, the next poll of a
task comes no later than `max(min_interval_s, min(max_interval_s, a / 2))`
after it (0.1 s and 10 s by default). So a task that finishes at age `d`
after its first poll is noticed by age `d + max(0.1, min(10, d / 2))`, plus,
under a request budget, the wait for the request's turn.

The request budget has one meter, the client's (`api/ratelimit.py`: every
request waits there, polls as much as submits and uploads, in arrival
order, so polls cannot starve the submits): the timetable does not pace
polls again. It reads the meter (`RequestTurns`) only to choose: while the
meter is what holds polls back (more tasks are due than turns come), a due
task is handed out when a request's turn comes, and it is the due task most
likely finished by now (the policy's `likelihood`: the share of learned
durations of its kind shorter than its age), not merely the one due first:
a poll that finds a task done frees a slot, one that finds it running is
spent for nothing. The budget is `--rate-limit`, or the one the client
learns from the service's answers, read afresh at each poll (`RateSource`)
by the policy, which plans against it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field, replace
from typing import Protocol

from batchedit.api.inflight import Slot
from batchedit.clock import Clock
from batchedit.pipeline.poll.latency import DurationModel, TaskKind
from batchedit.pipeline.poll.poll_plan import PlanBudget, PollShape
from batchedit.records import EditRequest, Row


@dataclass(slots=True)
class InFlightTask:
    """A row whose paid task exists at the service and is not yet terminal."""

    row: Row
    task_id: str
    slot: Slot
    fingerprint: str
    submitted_at: str  # ISO 8601 UTC, for the report
    submitted_mono: float  # clock time, for latency
    attempts: int
    polls: int = 0
    poll_errors: int = 0
    last_poll_age_s: float = 0.0  # age at the latest poll handed out
    prior_poll_age_s: float = 0.0  # age at the poll before it: the task was running then
    #: Clock time the submit was answered: the origin of poll ages, since the task
    #: cannot be polled before its id is known (None: the submit time).
    accepted_mono: float | None = None

    @property
    def origin_mono(self) -> float:
        return self.submitted_mono if self.accepted_mono is None else self.accepted_mono

    @property
    def kind(self) -> TaskKind:
        return task_kind(self.row.request)


def task_kind(request: EditRequest) -> TaskKind:
    """What a task's duration follows: its model and output size (the friendly
    resolution, else a `size` parameter)."""
    return request.model, request.image_size or str(request.params().get("size", ""))


class RateSource(Protocol):
    """The request budget as it stands (None: nothing bounds requests)."""

    @property
    def requests_per_s(self) -> float | None: ...


class RequestTurns(RateSource, Protocol):
    """The client's request meter, read by the timetable to choose which due
    task takes the next turn; the meter alone paces (ratelimit.RateLearner)."""

    def turn_in_s(self) -> float:
        """Seconds until a request asked for now could leave (0.0: at once)."""
        ...


class Policy(Protocol):
    """Where a task's next poll goes; told of every finished task."""

    def next_delay_s(self, task: InFlightTask, now: float) -> float: ...

    def likelihood(self, task: InFlightTask, now: float) -> float:
        """How likely the task is finished at `now`, for choosing among due tasks."""
        ...

    def finished(self, task: InFlightTask) -> None: ...

    def expected_duration_s(self, kind: TaskKind) -> float | None:
        """How long a task of `kind` is expected to run; None while unknown."""
        ...


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """Every `poll_interval_s` (the official tools poll every 2 seconds)."""

    poll_interval_s: float = 2.0

    def next_delay_s(self, task: InFlightTask, now: float) -> float:
        return self.poll_interval_s

    def likelihood(self, task: InFlightTask, now: float) -> float:
        return now - task.origin_mono  # knowing nothing, the oldest is likeliest done

    def finished(self, task: InFlightTask) -> None:
        """A fixed interval learns nothing."""

    def expected_duration_s(self, kind: TaskKind) -> float | None:
        return None


class LatencyAwarePolicy:
    """Polls at the ages `latency.py` plans from the durations seen so far."""

    def __init__(
        self,
        *,
        concurrency: int,
        requests_per_s: float | None = None,
        rate: RateSource | None = None,
        shape: PollShape | None = None,
        max_polls_per_task: float = 4.0,
    ) -> None:
        self.shape = shape or PollShape()
        self.rate = rate
        budget = PlanBudget(concurrency, requests_per_s, max_polls_per_task)
        self.model = DurationModel(budget, self.shape)
        self._first_polls = itertools.count(1)

    def next_delay_s(self, task: InFlightTask, now: float) -> float:
        self._follow_rate()
        age = now - task.origin_mono
        plan = self.model.plan_for(task.kind)
        if task.polls == 0 and task.last_poll_age_s == 0.0:
            target = plan.ages_s[0]  # the first look: no gap rule before it
            if next(self._first_polls) % PROBE_EVERY == 0:
                target /= 2  # a probe: are tasks faster than the plan assumes?
        else:
            target = plan.next_age(max(age, task.last_poll_age_s), self.shape)
        return max(0.0, target - age)

    def likelihood(self, task: InFlightTask, now: float) -> float:
        return self.model.finished_share(task.kind, now - task.origin_mono)

    def finished(self, task: InFlightTask) -> None:
        self.model.observe(task.kind, task.prior_poll_age_s, task.last_poll_age_s)

    def expected_duration_s(self, kind: TaskKind) -> float | None:
        return self.model.mean_s(kind)

    def _follow_rate(self) -> None:
        """Plans are scored against the request budget: when a learned budget
        has moved by more than a tenth, plan against the new one."""
        if self.rate is None:
            return
        current = self.rate.requests_per_s
        planned = self.model.budget.requests_per_s
        if current == planned:
            return
        if current is not None and planned is not None and abs(current - planned) < 0.1 * planned:
            return
        self.model.rebudget(replace(self.model.budget, requests_per_s=current))


#: Every this many tasks, one is first polled at half the plan's first age: what
#: finished before the first planned poll is otherwise known only as "by then".
PROBE_EVERY = 32

#: Due tasks compared when request turns are scarce: enough to find a likely one, cheap.
LOOK_AHEAD = 32


@dataclass(order=True, slots=True)
class _Entry:
    due: float
    seq: int
    task: InFlightTask = field(compare=False)


class PollTimetable:
    """Tasks ordered by when they are next due; `next_due()` hands them out."""

    def __init__(
        self,
        clock: Clock,
        policy: Policy,
        *,
        meter: RequestTurns | None = None,
    ) -> None:
        self._clock = clock
        self.policy = policy
        #: The client's request meter (None: no budget): read, never waited on here.
        self._meter = meter
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._outstanding = 0  # tasks in the heap or being polled
        self._closed = False
        self._waiters: set[asyncio.Future[None]] = set()

    def __len__(self) -> int:
        return self._outstanding

    def add(self, task: InFlightTask) -> None:
        """A newly submitted task, first polled after the policy's delay."""
        self._outstanding += 1
        self._push(task)

    def poll_again(self, task: InFlightTask) -> None:
        """A task that was handed out and is still running goes back in line."""
        self._push(task)

    def done(self, task: InFlightTask | None = None, *, learn: bool = False) -> None:
        """A task that was handed out reached its end and leaves the timetable;
        with `learn`, its duration (it really finished) teaches the policy."""
        if task is not None and learn:
            self.policy.finished(task)
        self._outstanding -= 1
        self._wake()

    def close(self) -> None:
        """No more tasks will be added; pollers finish once the timetable is empty."""
        self._closed = True
        self._wake()

    async def next_due(self) -> InFlightTask | None:
        """The next task to poll, when it is due (and, under a request budget,
        when a request's turn comes); None once closed and empty."""
        while True:
            now = self._clock.now()
            if self._heap and self._heap[0].due <= now:
                turn_s = 0.0 if self._meter is None else self._meter.turn_in_s()
                if turn_s <= 0:
                    return self._hand_out(now)
                await self._wait(turn_s)
                continue
            if self._closed and self._outstanding == 0:
                return None
            delay = self._heap[0].due - now if self._heap else None
            await self._wait(delay)

    @property
    def requests_per_s(self) -> float | None:
        """The request budget the meter spaces requests at now (None: unpaced)."""
        return None if self._meter is None else self._meter.requests_per_s

    def _hand_out(self, now: float) -> InFlightTask:
        if self.requests_per_s is None:
            task = heapq.heappop(self._heap).task
        else:
            task = self._likeliest_due(now)
        task.prior_poll_age_s = task.last_poll_age_s
        task.last_poll_age_s = now - task.origin_mono
        return task

    def _likeliest_due(self, now: float) -> InFlightTask:
        """Of the first LOOK_AHEAD due tasks, the one most likely finished; the
        others go back in line as they were."""
        due: list[_Entry] = []
        while self._heap and self._heap[0].due <= now and len(due) < LOOK_AHEAD:
            due.append(heapq.heappop(self._heap))
        best = max(range(len(due)), key=lambda n: self.policy.likelihood(due[n].task, now))
        for number, entry in enumerate(due):
            if number != best:
                heapq.heappush(self._heap, entry)
        return due[best].task

    def _push(self, task: InFlightTask) -> None:
        now = self._clock.now()
        due = now + self.policy.next_delay_s(task, now)
        heapq.heappush(self._heap, _Entry(due, next(self._seq), task))
        # Pollers are interchangeable: one woken poller looks at the new entry,
        # the others sleep on; waking all of them per task was a thundering herd.
        self._wake(one=True)

    async def _wait(self, delay: float | None) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            if delay is None:
                await waiter
                return
            sleeper = asyncio.ensure_future(self._clock.sleep(delay))
            try:
                await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
        finally:
            self._waiters.discard(waiter)

    def _wake(self, *, one: bool = False) -> None:
        while self._waiters:
            waiter = self._waiters.pop()
            if not waiter.done():
                waiter.set_result(None)
                if one:
                    return
