"""What the run learns about task durations, and where that says to poll.

The service does not say when a task will finish; the run finds out only by
polling. Every task that finishes tells us its duration to within the gap
between its last two polls, so we record a draw from that interval (a draw,
not the midpoint, so the learned distribution is not pulled onto the poll
grid) in a small ring of recent samples per kind of task: model and output
size, since a 4K edit takes longer than a 1K one.

From the samples, `poll_plan.plan_polls` picks the ages at which to poll a
new task of that kind.

Pure and synchronous; memory is a fixed ring of floats per kind of task.
"""

from __future__ import annotations

import bisect
import math
import random
from array import array
from collections.abc import Sequence

from batchedit.pipeline.poll.poll_plan import (
    PlanBudget,
    PollPlan,
    PollShape,
    fallback_plan,
    plan_polls,
)

#: Recent durations kept per kind of task: enough for quantiles, small in memory.
MAX_SAMPLES = 256
#: Samples a kind needs before its own plan replaces the pooled one.
MIN_SAMPLES = 8
#: Share of first-poll finds imputed uniformly rather than from the samples.
EXPLORE = 0.25
#: Replanning after 8, 16, 32 ... samples, then every this many.
MAX_REPLAN_EVERY = 1024
TaskKind = tuple[str, str]  # (model, image size)


class DurationSamples:
    """A ring of the latest durations of one kind of task, kept sorted beside
    (for plans and draws by bisection), and its current plan."""

    __slots__ = ("_ring", "_sorted", "_next", "count", "_total_s", "_planned_at", "plan")

    def __init__(self) -> None:
        self._ring: array[float] = array("d")
        self._total_s = 0.0  # the sum of the ring, kept as it changes
        self._sorted: list[float] = []  # the ring's values, ascending
        self._next = 0
        self.count = 0  # samples ever seen
        self._planned_at = 0
        self.plan: PollPlan | None = None

    def recent(self) -> list[float]:
        """The samples kept, oldest first (what a warm start saves)."""
        ring = list(self._ring)
        return ring[self._next :] + ring[: self._next]

    def mean_s(self) -> float:
        """The mean of the samples kept (nan before any)."""
        return self._total_s / len(self._ring) if self._ring else math.nan

    def share_at_most(self, age_s: float) -> float | None:
        """The share of kept durations at most `age_s`; None before any is kept."""
        if not self._sorted:
            return None
        return bisect.bisect_right(self._sorted, age_s) / len(self._sorted)

    def add(self, duration_s: float) -> None:
        if len(self._ring) < MAX_SAMPLES:
            self._ring.append(duration_s)
        else:
            dropped = self._ring[self._next]
            del self._sorted[bisect.bisect_left(self._sorted, dropped)]
            self._total_s -= dropped
            self._ring[self._next] = duration_s
            self._next = (self._next + 1) % MAX_SAMPLES
        self._total_s += duration_s
        bisect.insort(self._sorted, duration_s)
        self.count += 1

    def draw_between(self, lower_s: float, upper_s: float, rng: random.Random) -> float | None:
        """One of the recent samples in (lower_s, upper_s], at random; None if none is."""
        low = bisect.bisect_right(self._sorted, lower_s)
        high = bisect.bisect_right(self._sorted, upper_s, lo=low)
        return self._sorted[rng.randrange(low, high)] if low < high else None

    def due_for_plan(self) -> bool:
        if self.count < MIN_SAMPLES:
            return False
        every = min(MAX_REPLAN_EVERY, max(MIN_SAMPLES, self._planned_at))
        return self.plan is None or self.count - self._planned_at >= every

    def replan(self, budget: PlanBudget, shape: PollShape) -> PollPlan:
        self.plan = plan_polls(self._sorted, budget, shape)
        self._planned_at = self.count
        return self.plan


class DurationModel:
    """Samples per kind of task plus a pooled ring, and the plans they give."""

    def __init__(
        self, budget: PlanBudget, shape: PollShape, rng: random.Random | None = None
    ) -> None:
        self.budget = budget
        self.shape = shape
        self._rng = rng or random.Random(0)
        self._kinds: dict[TaskKind, DurationSamples] = {}
        self._pooled = DurationSamples()
        self._fallback = fallback_plan(shape)

    def observe(self, kind: TaskKind, lower_s: float, upper_s: float) -> None:
        """A task of `kind` finished after `lower_s` and by `upper_s` since its submit."""
        lower_s = max(0.0, min(lower_s, upper_s))
        own = self._kinds.setdefault(kind, DurationSamples())
        duration = None
        if own.count >= MIN_SAMPLES and (lower_s == 0.0 or self._rng.random() >= EXPLORE):
            # Known only to within (lower, upper]: draw from what tasks of its kind
            # took in that range, so the samples settle on the durations rather
            # than on the poll grid. Found done at its first poll, it could have
            # taken anything up to then: a uniform draw there would invent tasks
            # far faster than any seen, and plans would poll early for them; the
            # probes (scheduler.PROBE_EVERY) find out what lies below instead.
            # Now and then a uniform draw within a later gap keeps the spread.
            duration = own.draw_between(lower_s, upper_s, self._rng)
        if duration is None:
            duration = self._rng.uniform(lower_s, upper_s)
        for samples in (own, self._pooled):
            samples.add(duration)
            if samples.due_for_plan():
                samples.replan(self.budget, self.shape)

    def warm(self, kind: TaskKind, durations_s: Sequence[float]) -> None:
        """Samples from earlier runs (`latency_store.py`), oldest first: this run's
        first tasks of `kind` are polled at learned ages, and its own samples
        push the old ones out of the ring as they come."""
        own = self._kinds.setdefault(kind, DurationSamples())
        for duration in durations_s:
            for samples in (own, self._pooled):
                samples.add(duration)
        for samples in (own, self._pooled):
            if samples.count >= MIN_SAMPLES:
                samples.replan(self.budget, self.shape)

    def samples(self) -> dict[TaskKind, list[float]]:
        """The samples kept per kind of task, oldest first, for a warm start."""
        return {kind: samples.recent() for kind, samples in self._kinds.items()}

    def rebudget(self, budget: PlanBudget) -> None:
        """Score plans against a new request budget (a learned one moved)."""
        self.budget = budget
        for samples in (*self._kinds.values(), self._pooled):
            if samples.plan is not None:
                samples.replan(budget, self.shape)

    def finished_share(self, kind: TaskKind, age_s: float) -> float:
        """How likely a task of `kind` is finished at `age_s`: the share of its
        learned durations at most that age (pooled before its own are enough)."""
        for samples in (self._kinds.get(kind), self._pooled):
            share = None if samples is None else samples.share_at_most(age_s)
            if share is not None:
                return share
        return age_s / (age_s + self.shape.initial_s + 1.0)  # knowing nothing: older, likelier

    def mean_s(self, kind: TaskKind) -> float | None:
        """The mean learned duration of `kind`; None before it has enough samples."""
        samples = self._kinds.get(kind)
        if samples is None or samples.count < MIN_SAMPLES:
            return None
        return samples.mean_s()

    def plan_for(self, kind: TaskKind) -> PollPlan:
        """The plan for `kind`: its own samples', else the pooled ones', else the fallback."""
        for samples in (self._kinds.get(kind), self._pooled):
            if samples is not None and samples.plan is not None:
                return samples.plan
        return self._fallback

    @property
    def polls_per_task(self) -> float:
        """The pooled plan's expected polls per task (1 before anything is learned)."""
        plan = self._pooled.plan
        return 1.0 if plan is None else max(1.0, plan.polls_per_task)
