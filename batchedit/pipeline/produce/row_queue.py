"""The bounded queue from the producer to the submitters, longest tasks first.

A run's makespan ends with its last wave: when the manifest runs out, slots
fall idle one by one while the last tasks finish, and a 4K edit started then
keeps the run waiting a minute after every 1K edit is done. Submitting the
longest tasks first (the classic longest-processing-time rule) leaves the
short ones for the end, where they fill the slots evenly. So the queue hands
out, among the rows waiting in it, the one whose kind of task (model and
output size) the latency model expects to take longest.

The queue is bounded (REORDER_ROWS rows, or twice the submitters if more),
so memory stays bounded: a few kilobytes a row. It must reach far: the short
tasks kept for the end must outlast the longest task started before them (a
4K edit can take several times a 1K one's 15-25 s), and at 50 in flight a
window of two waves held back only 100 1K rows, two seconds of work at the
benchmark's pace, against 4K tasks of three to nine; 1,024 rows hold enough.

What comes first regardless:
rows that pay nothing (resumed polls, fetches again, unreadable history),
then rows of a kind not learned yet (submitting them early teaches the model
sooner); with nothing learned at all the order is the manifest's. The end
marker comes after every row. With `--poll-interval` nothing is learned and
the order is the manifest's.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import deque
from collections.abc import Callable

from batchedit.pipeline.plan.planning import Unreadable
from batchedit.pipeline.plan.resume import Action, RowPlan
from batchedit.pipeline.poll.latency import TaskKind
from batchedit.pipeline.poll.scheduler import task_kind

#: Rows the queue holds at most, to choose the longest among.
REORDER_ROWS = 1024

QueueItem = RowPlan | Unreadable | None
#: The expected duration of a kind of task, in seconds; None while unknown.
Expectation = Callable[[TaskKind], float | None]


class RowQueue:
    """`put` and `get` as an asyncio.Queue's, bounded at `maxsize`, but `get`
    gives the waiting row expected to run longest (see the module's doc).

    Rows wait in one line per kind of task, in manifest order; `get` asks the
    latency model afresh each time which kind is longest, so rows queued
    before anything was learned are ordered by what is known when they leave.
    """

    def __init__(self, maxsize: int, expected_s: Expectation) -> None:
        self._maxsize = maxsize
        self._expected_s = expected_s
        self._free: deque[RowPlan | Unreadable] = deque()  # pays nothing: first
        self._kinds: dict[TaskKind, deque[tuple[int, RowPlan]]] = {}
        self._size = 0
        self._seq = itertools.count()
        lock = asyncio.Lock()
        self._not_empty = asyncio.Condition(lock)
        self._not_full = asyncio.Condition(lock)

    def qsize(self) -> int:
        return self._size

    async def put(self, item: QueueItem) -> None:
        async with self._not_full:
            await self._not_full.wait_for(lambda: self._size < self._maxsize)
            # An end marker is only counted: `get` hands one out once no row is left.
            if isinstance(item, Unreadable) or (
                item is not None and item.action in (Action.POLL, Action.FETCH)
            ):
                self._free.append(item)
            elif item is not None:
                line = self._kinds.setdefault(task_kind(item.row.request), deque())
                line.append((next(self._seq), item))
            self._size += 1
            self._not_empty.notify()

    async def get(self) -> QueueItem:
        async with self._not_empty:
            await self._not_empty.wait_for(lambda: self._size > 0)
            item = self._take()
            self._size -= 1
            self._not_full.notify()
            return item

    def _take(self) -> QueueItem:
        if self._free:
            return self._free.popleft()
        if not self._kinds:
            return None  # only end markers are left
        kind = max(self._kinds, key=self._priority)
        line = self._kinds[kind]
        _, plan = line.popleft()
        if not line:
            del self._kinds[kind]
        return plan

    def _priority(self, kind: TaskKind) -> tuple[float, int]:
        """Higher first: a kind not learned yet, else the longest expected; among
        equals, the one whose next row comes first in the manifest."""
        expected = self._expected_s(kind)
        return (math.inf if expected is None else expected, -self._kinds[kind][0][0])
