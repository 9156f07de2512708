"""Every task id this run was given, and the rows it was given to.

A task id answered to a second submit (or found on two rows resumed from an
earlier run) does not say which row's picture its result is: the service
broke the protocol, and both rows end `unknown` (`unknown_outcome`), never
`succeeded` with another row's picture. Whichever state the first row is in
when the second answer comes, it ends `unknown` too:

- still in flight (polled, or its results being written): it is journalled
  `unknown` at once (so an interrupted run leaves it so), and the writer,
  which asks `settle` before it journals, drops whatever it stored;
- already ended: its journalled outcome is replaced by `unknown`, and its
  files are removed (finishing.py reads it back from the journal).

Memory stays small: every id is kept as a 64-bit digest and a row number
(seen_ids.py, 24 bytes an id), the tasks in flight are bounded by the
concurrency, and only the ids found shared are kept whole (the summary names
a few of them, with a few rows each, in the closing lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from batchedit.manifest.seen_ids import SeenIds
from batchedit.pipeline.poll.scheduler import InFlightTask


class Holder(StrEnum):
    """Where the row that was given a task id first stands."""

    IN_FLIGHT = "in_flight"  # polled, or its results being written
    ENDED = "ended"  # its outcome journalled (or a settled row's task)
    SHARED = "shared"  # already known shared: the earlier rows are unknown already


@dataclass(frozen=True, slots=True)
class Claim:
    """A task id that another row of this run holds: `row` (its 1-based data row)
    and, while in flight, its task."""

    holder: Holder
    row: int
    task: InFlightTask | None = None


class TaskIds:
    """The task ids of this run: `claim` one for a row, `settle` it when the row's
    outcome is about to be journalled."""

    def __init__(self) -> None:
        self._seen = SeenIds()
        self._in_flight: dict[str, InFlightTask] = {}
        self._shared: set[str] = set()

    def claim(self, task_id: str, row: int, task: InFlightTask | None = None) -> Claim | None:
        """Give `task_id` to `row` (with its task while it is in flight): None when
        no other row of this run holds it, else where the one that does stands."""
        first = self._seen.first_line(task_id, row)
        if first is None or first == row:
            if task is not None:
                self._in_flight[task_id] = task
            return None
        if task_id in self._shared:
            return Claim(Holder.SHARED, first)
        self._shared.add(task_id)
        earlier = self._in_flight.get(task_id)
        if earlier is not None:
            return Claim(Holder.IN_FLIGHT, first, earlier)
        return Claim(Holder.ENDED, first)

    def settle(self, task_id: str) -> bool:
        """The task's row is about to journal its outcome: False when the id was
        meanwhile found shared (the row is journalled `unknown` already). Call it
        with no wait between it and the journal append, so that a second answer
        finds the row either in flight or ended, never in between."""
        self._in_flight.pop(task_id, None)
        return task_id not in self._shared

    def is_shared(self, task_id: str) -> bool:
        return task_id in self._shared
