"""Where to poll a kind of task, given the durations learned for it.

From the samples, `plan_polls` picks the ages at which to poll a new task of
that kind. For a price put on each poll, the timetable that minimises the
wait for a notice plus the priced polls is found exactly by dynamic
programming over quantiles of the samples: polls land close together where
many tasks end and few are left to poll again, apart where a poll would
mostly find tasks still running. Each plan is scored on the samples
themselves (expected age at which a task is noticed, expected polls per
task), and the budget says which one to keep:

- without a request budget: the plan with the least wait plus polls priced
  at `POLL_PRICE` of the mean duration (a poll is worth 2.75% of a typical
  task's time: about 3.3 polls a task when durations are spread evenly over
  1-3 s, under 3 for the narrower spread of minute-long 1K-4K edits), or
  the cheapest price whose plan keeps within `max_polls_per_task`;
- with a budget of R requests/s and C slots: of the plans at every price,
  the best of min(C / hold, R / (1 + polls)), the throughput that slots and
  requests each allow. When requests are scarce this pushes polls late,
  where one poll finds the task done; when slots are scarce it packs them
  where tasks finish.

Every plan obeys the same gap rule (`PollShape.next_age`), which is what the
scheduler's notice bound rests on. Pure and synchronous.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

#: What a poll costs without a request budget, as a share of the mean duration:
#: the wait a plan may trade for one poll fewer per task.
POLL_PRICE = 0.0275
#: Past a plan's last age, the first gaps, as a share of the typical duration.
TAIL_GAP = 0.05
#: Ages a plan may poll at: this many quantiles of the samples at most.
_GRID_POINTS = 48
#: Prices of a poll tried, as fractions of the mean duration, each a factor 1.3
#: apart: each gives the best plan at that price, the budget picks among them.
_POLL_PRICES = tuple(0.002 * 1.3**k for k in range(30))


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
        """The first planned age after `after_s`; past the plan's last (the
        longest duration learned), a task is most likely just a little longer:
        polls follow at a twentieth of the typical duration, then back off
        by half the time since the plan ended, never later than the shape's
        backoff (a task that hangs costs a few polls, not a stream of them)."""
        index = bisect.bisect_right(self.ages_s, after_s + shape.min_interval_s * 0.999)
        if index < len(self.ages_s):
            return min(self.ages_s[index], shape.next_age(after_s))
        if math.isnan(self.hold_s):
            return shape.next_age(after_s)
        gap = max(shape.min_interval_s, TAIL_GAP * self.hold_s, (after_s - self.ages_s[-1]) / 2)
        return min(after_s + gap, shape.next_age(after_s))


def fallback_plan(shape: PollShape) -> PollPlan:
    """Before anything is learned: a first look soon, then geometric backoff."""
    return PollPlan((shape.initial_s,), math.nan, math.nan)


@dataclass(frozen=True, slots=True)
class PlanBudget:
    """What a plan is scored against: slots, the request budget, the poll cap."""

    concurrency: int
    requests_per_s: float | None = None
    max_polls_per_task: float = 4.0

    def throughput(self, plan: PollPlan) -> float:
        by_slots = self.concurrency / max(plan.hold_s, 1e-6)
        if self.requests_per_s is None:
            return by_slots
        return min(by_slots, self.requests_per_s / (1.0 + plan.polls_per_task))


def plan_polls(durations_s: Sequence[float], budget: PlanBudget, shape: PollShape) -> PollPlan:
    """The plan that frees slots fastest for these sorted durations.

    For a price of a poll (a fraction of the mean duration), `cheapest_ages`
    finds the timetable minimising the wait for a notice plus the priced polls,
    exactly: cheap polls give dense plans, dear ones sparse. Polls then land
    where they pay: close together where many tasks end and few are left to
    poll again, apart where a poll would mostly find tasks still running.

    Without a request budget the plan is the one at POLL_PRICE, the optimum of
    the smoothed distribution itself (choosing among prices by a score on the
    raw samples would follow their noise: near the optimum the cost is flat,
    and plans of 2.5 and 3.5 polls a task score alike), or the cheapest price
    whose plan keeps within `max_polls_per_task`. With a budget, the family
    of every price is scored on the samples and the budget keeps the best."""
    grid = _Grid.of(durations_s)

    def plan_at(price: float) -> PollPlan:
        ages = grid.cheapest_ages(price * grid.mean_s, shape.min_interval_s)
        return _score(_shaped(ages, shape), durations_s, shape)

    if budget.requests_per_s is None:
        for price in (POLL_PRICE, *(p for p in _POLL_PRICES if p > POLL_PRICE)):
            plan = plan_at(price)
            if plan.polls_per_task <= budget.max_polls_per_task:
                break
        return plan  # within the cap, else the dearest price's
    best = plan_at(_POLL_PRICES[0])
    for price in _POLL_PRICES[1:]:
        plan = plan_at(price)
        if _better(plan, best, budget):
            best = plan
    return best


def _better(plan: PollPlan, best: PollPlan, budget: PlanBudget) -> bool:
    ours, theirs = budget.throughput(plan), budget.throughput(best)
    if not math.isclose(ours, theirs, rel_tol=1e-9):
        return ours > theirs
    return plan.polls_per_task < best.polls_per_task


@dataclass(frozen=True, slots=True)
class _Grid:
    """The ages a plan may poll at (quantiles of the samples, the longest
    last), with the count and the sum of the durations at most each,
    from the samples smoothed: each spread evenly over a bandwidth around it
    (Silverman's rule), so a plan fits the distribution rather than the
    clumps that a few hundred random samples always have."""

    ages_s: tuple[float, ...]
    counts: tuple[float, ...]
    sums_s: tuple[float, ...]
    total: int
    mean_s: float

    @classmethod
    def of(cls, durations_s: Sequence[float]) -> _Grid:
        count = len(durations_s)
        mean = math.fsum(durations_s) / count
        spread = math.sqrt(math.fsum((d - mean) ** 2 for d in durations_s) / count)
        quartiles = _quantile(durations_s, 0.75) - _quantile(durations_s, 0.25)
        width = 0.9 * min(spread, quartiles / 1.34 or spread) * count**-0.2
        if count <= _GRID_POINTS:
            ages = set(durations_s)
        else:
            ages = {_quantile(durations_s, k / _GRID_POINTS) for k in range(1, _GRID_POINTS + 1)}
        grid = sorted(ages)  # the last is the longest duration: a poll there finds all done
        prefix = (0.0, *itertools.accumulate(durations_s))
        counts, sums = [], []
        for age in grid:
            whole = bisect.bisect_right(durations_s, age - width)  # spread wholly below
            covered, summed = float(whole), prefix[whole]
            if width > 0:
                for duration in durations_s[whole : bisect.bisect_left(durations_s, age + width)]:
                    low = duration - width
                    share = (age - low) / (2 * width)  # of its spread, below `age`
                    covered += share
                    summed += share * (low + age) / 2
            counts.append(covered)
            sums.append(summed)
        counts[-1], sums[-1] = float(count), prefix[-1]
        return cls(tuple(grid), tuple(counts), tuple(sums), count, max(mean, 1e-9))

    def cheapest_ages(self, price_s: float, min_gap_s: float) -> list[float]:
        """The ages minimising, over the samples, the wait from each finish to
        the poll that notices it plus `price_s` for every poll (by dynamic
        programming from the last age back; an optimal poll never falls
        between two grid ages, since moving it down to the lower one costs no
        notice and saves wait). The last grid age notices everything; polls
        are `min_gap_s` apart at least."""
        ages, total = self.ages_s, self.total
        counts, sums = (0, *self.counts), (0.0, *self.sums_s)  # [0]: before any poll
        last = len(ages)  # position k > 0 is a poll at ages[k - 1]
        cost = [0.0] * (last + 1)  # from position k on: the wait and polls still to pay
        step = [last] * (last + 1)
        for k in range(last - 1, -1, -1):
            polls = price_s * (total - counts[k])  # every task still running is polled
            best = math.inf
            earliest = ages[k - 1] + min_gap_s if k > 0 else -math.inf
            for j in range(k + 1, last + 1):
                if ages[j - 1] < earliest and j < last:
                    continue
                here = ages[j - 1] * (counts[j] - counts[k]) - (sums[j] - sums[k]) + cost[j]
                if here < best:
                    best, step[k] = here, j
            cost[k] = polls + best
        plan, position = [], 0
        while position < last:
            position = step[position]
            plan.append(ages[position - 1])
        return plan


def _quantile(sorted_values: Sequence[float], fraction: float) -> float:
    rank = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


def _shaped(ages: list[float], shape: PollShape) -> tuple[float, ...]:
    """Fill gaps longer than the shape allows; of two ages closer than the
    minimum gap keep the later, so the last (the longest duration seen) stays."""
    out: list[float] = []
    for age in sorted(ages):
        while out and age < out[-1] + shape.min_interval_s:
            out.pop()
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
