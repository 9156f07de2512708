"""Latency-aware polling on virtual time: it learns where tasks finish, polls
there, keeps its notice bound and its request budget, and beats a fixed interval."""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st
from support import VirtualClock

from batchedit.api.inflight import InFlightSlots, Slot
from batchedit.api.ratelimit import RateLearner
from batchedit.pipeline.poll.poll_plan import PlanBudget, PollShape, plan_polls
from batchedit.pipeline.poll.scheduler import (
    InFlightTask,
    LatencyAwarePolicy,
    Policy,
    PollPolicy,
    PollTimetable,
)
from batchedit.records import EditRequest, ImageRef, Row

SHAPE = PollShape()


@dataclass
class Outcome:
    notice_delays_s: list[float] = field(default_factory=list)
    polls: int = 0
    poll_times: list[float] = field(default_factory=list)
    makespan_s: float = 0.0
    bound_broken: list[tuple[float, float]] = field(default_factory=list)


def _task(n: int, slots: InFlightSlots, now: float, size: str = "1K") -> InFlightTask:
    request = EditRequest("google/nano-banana-pro-edit", "p", (ImageRef("x"),), image_size=size)
    return InFlightTask(Row(n, n + 1, f"r{n}", request), f"t{n}", Slot(slots), "fp", "", now, 1)


def notice_bound_s(duration_s: float) -> float:
    """The scheduler's documented promise, after the first poll."""
    return duration_s + max(SHAPE.min_interval_s, min(SHAPE.max_interval_s, duration_s / 2))


async def run_virtual(
    policy: Policy,
    durations: list[float],
    *,
    concurrency: int,
    requests_per_s: float | None = None,
    pollers: int = 16,
) -> Outcome:
    """Keep `concurrency` tasks in flight until every duration has run; no real time passes."""
    clock = VirtualClock()
    # The client's meter, as the run has it: the timetable reads it, each poll waits on it.
    meter = None if requests_per_s is None else RateLearner(clock, fixed_rate_per_s=requests_per_s)
    timetable = PollTimetable(clock, policy, meter=meter)
    slots = InFlightSlots(max_in_flight=concurrency)
    outcome = Outcome()
    pending = iter(enumerate(durations))
    duration_of: dict[str, float] = {}

    def submit_next() -> None:
        item = next(pending, None)
        if item is None:
            timetable.close()
            return
        n, duration = item
        task = _task(n, slots, clock.now())
        duration_of[task.task_id] = duration
        timetable.add(task)

    async def poller() -> None:
        while (task := await timetable.next_due()) is not None:
            if meter is not None:
                await meter.wait()  # what the client's read_task waits on first
            now = clock.now()
            outcome.polls += 1
            outcome.poll_times.append(now)
            task.polls += 1
            duration = duration_of[task.task_id]
            if now - task.submitted_mono < duration:
                timetable.poll_again(task)
                continue
            delay = now - task.submitted_mono - duration
            outcome.notice_delays_s.append(delay)
            if task.polls > 1 and now - task.submitted_mono > notice_bound_s(duration) + 1e-9:
                outcome.bound_broken.append((duration, now - task.submitted_mono))
            timetable.done(task, learn=True)
            submit_next()

    for _ in range(concurrency):
        submit_next()
    workers = [asyncio.ensure_future(poller()) for _ in range(pollers)]
    while not all(worker.done() for worker in workers):
        for _ in range(3):
            await asyncio.sleep(0)
        if not clock.jump() and not all(worker.done() for worker in workers):
            await asyncio.sleep(0)
    await asyncio.gather(*workers)
    outcome.makespan_s = clock.now()
    return outcome


def uniform(count: int, low: float, high: float, seed: int = 3) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(low, high) for _ in range(count)]


async def test_learned_polling_notices_sooner_with_fewer_polls_than_a_fixed_interval() -> None:
    durations = uniform(600, 1.0, 3.0)
    learned = await run_virtual(LatencyAwarePolicy(concurrency=50), durations, concurrency=50)
    fixed = await run_virtual(PollPolicy(2.0), durations, concurrency=50)
    assert learned.polls / len(durations) <= 4.5  # the first wave polls before it knows
    assert learned.makespan_s < fixed.makespan_s * 0.8
    mean_delay = sum(learned.notice_delays_s) / len(durations)
    assert mean_delay < 0.35 and mean_delay * 3 < sum(fixed.notice_delays_s) / len(durations)


async def test_learning_is_per_model_size_so_slow_4k_tasks_do_not_slow_1k_polls() -> None:
    policy = LatencyAwarePolicy(concurrency=10)
    slots = InFlightSlots(max_in_flight=100)
    for n in range(64):
        fast, slow = _task(n, slots, 0.0, "1K"), _task(n, slots, 0.0, "4K")
        fast.last_poll_age_s, slow.last_poll_age_s = 1.0, 20.0
        fast.prior_poll_age_s, slow.prior_poll_age_s = 0.9, 19.0
        policy.finished(fast)
        policy.finished(slow)
    assert policy.next_delay_s(_task(99, slots, 0.0, "1K"), 0.0) <= 1.0
    assert policy.next_delay_s(_task(99, slots, 0.0, "4K"), 0.0) >= 19.0


async def test_a_task_finishing_at_a_known_time_is_noticed_within_the_promised_bound() -> None:
    # Learned on 1-3 s tasks, then a straggler of 40 s and one of 0.2 s arrive.
    durations = uniform(300, 1.0, 3.0) + [40.0, 0.2, 2.5, 7.0]
    outcome = await run_virtual(LatencyAwarePolicy(concurrency=20), durations, concurrency=20)
    assert len(outcome.notice_delays_s) == len(durations)
    assert outcome.bound_broken == []
    assert max(outcome.notice_delays_s) <= notice_bound_s(40.0) - 40.0


async def test_polls_stay_within_the_request_budget_and_go_where_tasks_are_done() -> None:
    budget = 20.0
    durations = uniform(400, 1.0, 3.0)
    policy = LatencyAwarePolicy(concurrency=100, requests_per_s=budget)
    outcome = await run_virtual(policy, durations, concurrency=100, requests_per_s=budget)
    times = outcome.poll_times
    # Polls alone never exceed the budget over any one-second window (to within
    # the float error of adding 1/R twenty times).
    busiest = max(sum(1 for t in times if start <= t < start + 1.0 - 1e-9) for start in times)
    assert busiest <= budget
    # Each task costs one submit plus its polls: the budget allows R / (1 + polls) tasks/s.
    polls_per_task = outcome.polls / len(durations)
    assert polls_per_task < 1.5
    throughput = len(durations) / outcome.makespan_s
    assert throughput >= 0.6 * budget / 2


def _check_gaps(ages: tuple[float, ...]) -> None:
    for before, after in itertools.pairwise(ages):
        assert after - before >= SHAPE.min_interval_s - 1e-9
        assert after <= SHAPE.next_age(before) + 1e-9


@settings(max_examples=60, deadline=None)
@given(
    durations=st.lists(st.floats(0.0, 500.0), min_size=1, max_size=64),
    budget=st.one_of(st.none(), st.floats(0.5, 200.0)),
)
def test_every_plan_keeps_the_gap_rule_and_never_promises_notice_before_the_finish(
    durations: list[float], budget: float | None
) -> None:
    plan = plan_polls(sorted(durations), PlanBudget(8, budget), SHAPE)
    _check_gaps(plan.ages_s)
    assert plan.polls_per_task >= 1.0
    assert plan.hold_s >= sum(durations) / len(durations) - 1e-9


async def test_a_fixed_interval_polls_every_interval_and_learns_nothing() -> None:
    outcome = await run_virtual(PollPolicy(2.0), [5.3], concurrency=1)
    assert outcome.polls == 3 and abs(outcome.notice_delays_s[0] - 0.7) < 1e-9
