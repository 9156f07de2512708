"""What the run learns about task durations, and where that says to poll.

The service does not say when a task will finish; the run finds out only by
polling. Every task that finishes tells us its duration to within the gap
between its last two polls, so we record a draw from that interval (a draw,
not the midpoint, so the learned distribution is not pulled onto the poll
grid) in a small ring of recent samples per kind of task: model and output
size, since a 4K edit takes longer than a 1K one.

From the samples, `plan_polls` picks the ages at which to poll a new task of
that kind: quantiles of the learned durations, so polls land where
completions are likely. It scores a family of candidate plans on the samples
themselves (expected age at which a task is noticed, expected polls per task)
and keeps the one that frees slots fastest:

- without a request budget: the earliest notice within `max_polls_per_task`;
- with a budget of R requests/s and C slots: the best of min(C / hold,
  R / (1 + polls)), the throughput that slots and requests each allow. When
  requests are scarce this pushes polls late, where one poll finds the task
  done; when slots are scarce it packs them where tasks finish.

Every plan obeys the same gap rule (`PollShape.next_age`), which is what the
scheduler's notice bound rests on. Pure and synchronous; memory is a fixed
ring of floats per kind of task.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

#: Recent durations kept per kind of task: enough for quantiles, small in memory.
MAX_SAMPLES = 256
#: Samples a kind needs before its own plan replaces the pooled one.
MIN_SAMPLES = 8
#: Share of first-poll finds imputed uniformly rather than from the samples.
EXPLORE = 0.25
#: Replanning after 8, 16, 32 ... samples, then every this many.
MAX_REPLAN_EVERY = 1024
#: Candidate plans: this many polls at most, starting one step in or late.
_MAX_PLAN_POLLS = 12
_SHORT_END = 0.98
_LATE_STARTS = (0.5, 0.75, 0.9, 0.97)

TaskKind = tuple[str, str]  # (model, image size)


@dataclass(frozen=True, slots=True)
class PollShape:
    """The rule every poll timetable obeys, learned or not.

    After a poll at age `a`, the next comes at most `max(min_interval_s,
    min(max_interval_s, growth * a))` later and at least `min_interval_s`
    later. Before anything is learned, the first poll is at `initial_s`.
    """

    min_interval_s: float = 0.1
    max_interval_s: float = 10.0
    growth: float = 0.5
    initial_s: float = 0.25

    def longest_gap_s(self, age_s: float) -> float:
        return max(self.min_interval_s, min(self.max_interval_s, self.growth * age_s))

    def next_age(self, age_s: float) -> float:
        """The latest allowed next poll after a poll at `age_s`: the fallback backoff."""
        return age_s + self.longest_gap_s(age_s)


@dataclass(frozen=True, slots=True)
class PollPlan:
    """Ages since submit at which to poll one kind of task, and what they cost."""

    ages_s: tuple[float, ...]
    polls_per_task: float
    hold_s: float  # expected age at which a finished task is noticed

    def next_age(self, after_s: float, shape: PollShape) -> float:
        """The first planned age after `after_s`, else the shape's backoff."""
        index = bisect.bisect_right(self.ages_s, after_s + shape.min_interval_s * 0.999)
        if index < len(self.ages_s):
            return min(self.ages_s[index], shape.next_age(after_s))
        return shape.next_age(after_s)


def fallback_plan(shape: PollShape) -> PollPlan:
    """Before anything is learned: a first look soon, then geometric backoff."""
    return PollPlan((shape.initial_s,), math.nan, math.nan)


class DurationSamples:
    """A ring of the latest durations of one kind of task, kept sorted beside
    (for plans and draws by bisection), and its current plan."""

    __slots__ = ("_ring", "_sorted", "_next", "count", "_planned_at", "plan")

    def __init__(self) -> None:
        self._ring: array[float] = array("d")
        self._sorted: list[float] = []  # the ring's values, ascending
        self._next = 0
        self.count = 0  # samples ever seen
        self._planned_at = 0
        self.plan: PollPlan | None = None

    def recent(self) -> list[float]:
        """The samples kept, oldest first (what a warm start saves)."""
        ring = list(self._ring)
        return ring[self._next :] + ring[: self._next]

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
            self._ring[self._next] = duration_s
            self._next = (self._next + 1) % MAX_SAMPLES
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


@dataclass(frozen=True, slots=True)
class PlanBudget:
    """What a plan is scored against: slots, the request budget, the poll cap."""

    concurrency: int
    requests_per_s: float | None = None
    max_polls_per_task: float = 3.75

    def throughput(self, plan: PollPlan) -> float:
        by_slots = self.concurrency / max(plan.hold_s, 1e-6)
        if self.requests_per_s is None:
            return by_slots
        return min(by_slots, self.requests_per_s / (1.0 + plan.polls_per_task))


def plan_polls(durations_s: Sequence[float], budget: PlanBudget, shape: PollShape) -> PollPlan:
    """The candidate plan that frees slots fastest for these sorted durations."""
    best: PollPlan | None = None
    for targets in _candidate_quantiles():
        ages = _shaped([_quantile(durations_s, q) for q in targets], shape)
        plan = _score(ages, durations_s, shape)
        if best is None or _better(plan, best, budget):
            best = plan
    assert best is not None  # the candidate family is never empty
    return best


def _better(plan: PollPlan, best: PollPlan, budget: PlanBudget) -> bool:
    if budget.requests_per_s is None:
        cap = budget.max_polls_per_task
        within, best_within = plan.polls_per_task <= cap, best.polls_per_task <= cap
        if within != best_within:
            return within
        if not within:
            return plan.polls_per_task < best.polls_per_task
    ours, theirs = budget.throughput(plan), budget.throughput(best)
    if not math.isclose(ours, theirs, rel_tol=1e-9):
        return ours > theirs
    return plan.polls_per_task < best.polls_per_task


@functools.cache
def _candidate_quantiles() -> tuple[tuple[float, ...], ...]:
    """n evenly spaced quantiles from an early or a late start to the longest
    duration seen (or just short of it, leaving stragglers to the backoff),
    for n = 1 .. _MAX_PLAN_POLLS."""
    candidates: list[tuple[float, ...]] = [(1.0,), (_SHORT_END,)]
    for count in range(2, _MAX_PLAN_POLLS + 1):
        starts = (1.0 / count, 1.5 / count, *(s for s in _LATE_STARTS if s > 1.5 / count))
        for start, end in itertools.product(starts, (1.0, _SHORT_END)):
            spacing = (end - start) / (count - 1)
            candidates.append(tuple(start + spacing * k for k in range(count)))
    return tuple(candidates)


def _quantile(sorted_values: Sequence[float], fraction: float) -> float:
    rank = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


def _shaped(ages: list[float], shape: PollShape) -> tuple[float, ...]:
    """Drop ages closer than the minimum gap, fill gaps longer than the shape allows."""
    out: list[float] = []
    for age in sorted(ages):
        if out and age < out[-1] + shape.min_interval_s:
            continue
        while out and age > shape.next_age(out[-1]):
            out.append(shape.next_age(out[-1]))
        if out and age < out[-1] + shape.min_interval_s:
            continue  # a filled-in poll just before it covers it
        out.append(max(0.0, age))
    return tuple(out)


def _score(ages: tuple[float, ...], durations_s: Sequence[float], shape: PollShape) -> PollPlan:
    """Replay the sorted durations against the ages: mean notice age and polls.

    A task is noticed at the first poll at or after its duration (past the
    plan's last age, at the shape's backoff). Counted per poll by bisection
    rather than per task, so a replan costs O(polls x log samples)."""
    count = len(durations_s)
    longest = durations_s[-1]
    hold = polls = 0.0
    below = 0  # durations noticed by an earlier poll
    number, age = 0, ages[0]
    while True:
        number += 1
        upto = bisect.bisect_right(durations_s, age, lo=below)
        noticed = upto - below
        hold += noticed * age
        polls += noticed * number
        below = upto
        if below >= count or age >= longest:
            break
        age = ages[number] if number < len(ages) else shape.next_age(age)
    return PollPlan(ages, polls / count, hold / count)


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
        if lower_s == 0.0 and own.count >= MIN_SAMPLES and self._rng.random() >= EXPLORE:
            # Found done at its first poll: it could have taken anything up to then,
            # so draw from what tasks of its kind took in that range. Not always:
            # a uniform draw now and then lets the first poll creep earlier when
            # tasks are faster than anything the polls have resolved so far.
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

    def plan_for(self, kind: TaskKind) -> PollPlan:
        samples = self._kinds.get(kind)
        if samples is not None and samples.plan is not None:
            return samples.plan
        return self._pooled.plan or self._fallback

    @property
    def polls_per_task(self) -> float:
        """The pooled plan's expected polls per task (1 before anything is learned)."""
        plan = self._pooled.plan
        return 1.0 if plan is None else max(1.0, plan.polls_per_task)
