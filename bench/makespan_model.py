"""B2 without a service: how close poll placement can bring the makespan to the ideal.

An event-driven model of B2 on a virtual clock: `--concurrency` slots, tasks
of uniform(1, 3) s, a fixed round trip per submit and per poll, every slot
refilled when its task is noticed. It runs batchedit's own latency-aware
policy (scheduler.LatencyAwarePolicy, learning as a run does, cold and
`batchedit warm` from the samples of a night before) beside references:

- `oracle`: each task noticed the instant it ends (zero polls): what is left
  is the tail (slots idle while the last tasks run) and the round trips;
- `known k`: k evenly spaced polls over (1, 3] s, the true distribution
  known from the first task: k = 6 is 3.5 polls a task;
- `known best`: batchedit's own planner given 256 true durations before the
  first task and learning nothing after: the cheapest timetable at its price;
- `backoff Q S`: the plain learned backoff the planner is measured against
  (issue 28): the first poll at the Q quantile of the durations seen so far
  (the age a finished task was found done at), then every S times the age;
  `tuned_backoff` picks the Q and S that do best on this model at no more
  polls a task than the planner spends, so the planner's lines stay earned.

The makespan over the ideal (the sum of durations / concurrency) is what B2
measures, so the rows show what is reachable at a given number of polls.
Last, the `bound` lines: the least mean notice delay any poll timetable
achieves for the true distribution at 3, 3.5 and 4 polls a task (exact,
by dynamic programming on a fine grid); no polling client does better:

    .venv/bin/python bench/makespan_model.py --rows 1500 3000
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from batchedit.pipeline.poll.scheduler import LatencyAwarePolicy

SUBMIT_RTT_S = 0.02
POLL_RTT_S = 0.01


@dataclass(slots=True)
class ModelTask:
    """The fields of scheduler.InFlightTask the policy reads, and the true duration."""

    duration_s: float
    origin_mono: float
    polls: int = 0
    last_poll_age_s: float = 0.0
    prior_poll_age_s: float = 0.0
    kind: tuple[str, str] = ("model", "1K")


Delay = Callable[[ModelTask, float], float]

#: The plain backoff's first poll and least gap before it has learned anything.
BACKOFF_COLD_FIRST_S = 0.5
BACKOFF_MIN_GAP_S = 0.1
BACKOFF_MIN_SAMPLES = 8


@dataclass(slots=True)
class LearnedBackoff:
    """The plain alternative to the planner: first poll at a quantile of the
    durations seen, then a fixed share of the age after each poll."""

    quantile: float
    share: float
    seen_s: list[float] = field(default_factory=list)  # sorted

    def next_delay_s(self, task: ModelTask, now: float) -> float:
        age = now - task.origin_mono
        if task.polls == 0:
            first = BACKOFF_COLD_FIRST_S
            if len(self.seen_s) >= BACKOFF_MIN_SAMPLES:
                first = self.seen_s[int(self.quantile * (len(self.seen_s) - 1))]
            return max(0.0, first - age)
        return max(BACKOFF_MIN_GAP_S, self.share * age)

    def finished(self, task: ModelTask) -> None:
        bisect.insort(self.seen_s, task.last_poll_age_s)


def makespan(rows: int, concurrency: int, seed: int, policy: str) -> tuple[float, float]:
    """(makespan / ideal, polls per task) of one modelled run. `batchedit warm`
    starts from the samples a night before of the same size saved, as a run
    with the latency cache does."""
    if policy.startswith("backoff"):
        quantile, share = (float(word) for word in policy.split()[1:3])
        backoff = LearnedBackoff(quantile, share)
        return _run(rows, concurrency, random.Random(seed), backoff, backoff.next_delay_s)  # type: ignore[arg-type]
    learner = LatencyAwarePolicy(concurrency=concurrency)
    if policy == "known best":
        truth = random.Random(seed + 2000)
        learner.model.warm(("model", "1K"), [truth.uniform(1.0, 3.0) for _ in range(256)])
        learner.finished = lambda task: None  # type: ignore[method-assign]
    if policy == "batchedit warm":
        night_before = LatencyAwarePolicy(concurrency=concurrency)
        _run(rows, concurrency, random.Random(seed + 1000), night_before)
        for kind, samples in night_before.model.samples().items():
            learner.model.warm(kind, samples)
    delay: Delay = learner.next_delay_s  # type: ignore[assignment]  # the fields it reads
    if policy == "oracle":
        delay = lambda task, now: max(0.0, task.origin_mono + task.duration_s - now) + 1e-9  # noqa: E731
    elif policy.startswith("known") and policy != "known best":
        delay = _known_plan(int(policy.split()[1]))
    return _run(rows, concurrency, random.Random(seed), learner, delay)


def _run(
    rows: int,
    concurrency: int,
    rng: random.Random,
    learner: LatencyAwarePolicy,
    delay: Delay | None = None,
) -> tuple[float, float]:
    durations = [rng.uniform(1.0, 3.0) for _ in range(rows)]
    if delay is None:
        delay = learner.next_delay_s  # type: ignore[assignment]  # the fields it reads
    assert delay is not None
    heap: list[tuple[float, int, ModelTask]] = []
    submitted = polls = 0
    end = 0.0

    def submit(now: float) -> None:
        nonlocal submitted
        task = ModelTask(durations[submitted], now + SUBMIT_RTT_S)
        submitted += 1
        due = task.origin_mono + delay(task, task.origin_mono)
        heapq.heappush(heap, (due, submitted, task))

    while submitted < min(rows, concurrency):
        submit(0.0)
    while heap:
        due, number, task = heapq.heappop(heap)
        task.prior_poll_age_s, task.last_poll_age_s = task.last_poll_age_s, due - task.origin_mono
        task.polls += 1
        polls += 1
        now = due + POLL_RTT_S
        if task.last_poll_age_s >= task.duration_s:
            learner.finished(task)  # type: ignore[arg-type]  # the fields it reads
            end = max(end, now)
            if submitted < rows:
                submit(now)
        else:
            heapq.heappush(heap, (now + delay(task, now), number, task))
    return end / (sum(durations) / concurrency), polls / rows


def averaged(rows: int, concurrency: int, policy: str, seeds: int = 4) -> tuple[float, float]:
    """(makespan / ideal, polls per task) of `policy`, the mean over `seeds` runs."""
    runs = [makespan(rows, concurrency, seed, policy) for seed in range(seeds)]
    return sum(r for r, _ in runs) / len(runs), sum(p for _, p in runs) / len(runs)


BACKOFF_QUANTILES = (0.05, 0.1, 0.2, 0.3, 0.4)
BACKOFF_SHARES = (0.1, 0.15, 0.2, 0.3, 0.4)


def tuned_backoff(
    rows: int, concurrency: int, max_polls_per_task: float, seeds: int = 4
) -> tuple[str, float, float]:
    """The plain learned backoff tuned on this model: of a grid of quantiles
    and shares, the one with the least makespan at no more than
    `max_polls_per_task` (the planner's own, so the two spend alike).
    (policy, makespan / ideal, polls per task)."""
    best: tuple[str, float, float] | None = None
    for quantile in BACKOFF_QUANTILES:
        for share in BACKOFF_SHARES:
            policy = f"backoff {quantile} {share}"
            ratio, polls = averaged(rows, concurrency, policy, seeds)
            if polls <= max_polls_per_task and (best is None or ratio < best[1]):
                best = (policy, ratio, polls)
    if best is None:  # every setting polls more: the frugalest, said as such
        policy = f"backoff {BACKOFF_QUANTILES[-1]} {BACKOFF_SHARES[-1]}"
        best = (policy, *averaged(rows, concurrency, policy, seeds))
    return best


def _known_plan(k: int) -> Delay:
    ages = [1.0 + 2.0 * i / k for i in range(1, k + 1)]

    def delay(task: ModelTask, now: float) -> float:
        age = now - task.origin_mono
        return next((a for a in ages if a > age + 1e-9), age + 0.1) - age

    return delay


def best_notice_delay(polls_per_task: float, points: int = 400) -> tuple[float, float]:
    """The least mean notice delay of any poll timetable for uniform(1, 3) s
    durations, at no more than `polls_per_task` polls a task on average:
    dynamic programming over a fine grid of poll ages for a price per poll,
    the price bisected until the plan's polls meet the bound. (delay s, polls)."""

    def plan(price: float) -> tuple[float, float]:
        ages = [1.0 + 2.0 * k / points for k in range(points + 1)]
        share = [(age - 1.0) / 2.0 for age in ages]  # done by each age
        cost, step = [0.0] * (points + 1), [points] * (points + 1)
        # Position i > 0 is a poll at ages[i]; position 0 is the start (no poll
        # yet, and nothing ends before 1 s); a poll at the last age notices all.
        for i in range(points - 1, -1, -1):
            best = float("inf")
            for j in range(i + 1, points + 1):
                mass = share[j] - share[i]  # uniform: mean wait half the gap
                here = mass * (ages[j] - ages[i]) / 2.0 + cost[j]
                if here < best:
                    best, step[i] = here, j
            cost[i] = price * (1.0 - share[i]) + best
        delay, polls, i = 0.0, 0.0, 0
        while i < points:
            j = step[i]
            polls += 1.0 - share[i]
            delay += (share[j] - share[i]) * (ages[j] - ages[i]) / 2.0
            i = j
        return delay, polls

    low, high = 1e-5, 1.0
    for _ in range(40):
        middle = (low * high) ** 0.5
        if plan(middle)[1] > polls_per_task:
            low = middle
        else:
            high = middle
    return plan(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1500, 3000])
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    policies = (
        "oracle",
        "known 5",
        "known 6",
        "known 7",
        "known best",
        "batchedit",
        "batchedit warm",
    )
    for policy in policies:
        for rows in args.rows:
            ratio, polls = averaged(rows, args.concurrency, policy, args.seeds)
            figures = f"{ratio:.3f} makespan/ideal, {polls:.2f} polls/task"
            print(f"{policy:10s} {rows:6d} rows: {figures}")
    for rows in args.rows:
        _, planner_polls = averaged(rows, args.concurrency, "batchedit", args.seeds)
        policy, ratio, polls = tuned_backoff(rows, args.concurrency, planner_polls, args.seeds)
        figures = f"{ratio:.3f} makespan/ideal, {polls:.2f} polls/task ({policy})"
        print(f"{'backoff':10s} {rows:6d} rows: {figures}")
    for polls in (3.0, 3.5, 4.0):
        delay, used = best_notice_delay(polls)
        late = f"{delay:.3f} s late ({delay / 2.0:.1%} of the mean)"
        print(f"bound: at {used:.2f} polls/task the best plan notices a task {late}")


if __name__ == "__main__":
    main()
