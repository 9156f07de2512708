"""The poll scheduler: one timetable of next-poll times for every task in flight.

A small pool of poller coroutines takes whichever task is due first, so the
number of coroutines is fixed however many tasks are in flight (invariant 3).
Waiting uses only the injected clock's sleep, woken early when the timetable
changes, so tests can drive it with a fake clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field

from .clock import Clock
from .inflight import Slot
from .records import Row


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


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """When to look at a task again: every `poll_interval_s` (the official
    tools poll every 2 seconds)."""

    poll_interval_s: float = 2.0

    def next_delay_s(self, task: InFlightTask) -> float:
        return self.poll_interval_s


@dataclass(order=True, slots=True)
class _Entry:
    due: float
    seq: int
    task: InFlightTask = field(compare=False)


class PollTimetable:
    """Tasks ordered by when they are next due; `next_due()` hands them out."""

    def __init__(self, clock: Clock, policy: PollPolicy) -> None:
        self._clock = clock
        self.policy = policy
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

    def done(self) -> None:
        """A task that was handed out reached its end and leaves the timetable."""
        self._outstanding -= 1
        self._wake()

    def close(self) -> None:
        """No more tasks will be added; pollers finish once the timetable is empty."""
        self._closed = True
        self._wake()

    async def next_due(self) -> InFlightTask | None:
        """The next task to poll, when it is due; None once closed and empty."""
        while True:
            now = self._clock.now()
            if self._heap and self._heap[0].due <= now:
                return heapq.heappop(self._heap).task
            if self._closed and self._outstanding == 0:
                return None
            delay = self._heap[0].due - now if self._heap else None
            await self._wait(delay)

    def _push(self, task: InFlightTask) -> None:
        due = self._clock.now() + self.policy.next_delay_s(task)
        heapq.heappush(self._heap, _Entry(due, next(self._seq), task))
        self._wake()

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

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
