"""Where polls go and in what order tasks start: the planner's timetable is the
cheapest at its price, the learner invents no tasks faster than it has seen,
a probe now and then looks below the first planned poll, and the row queue
starts the longest tasks first so the last wave is short."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from support import ThreadedSimulator, read_report, write_csv
from test_latency_polling import _task

from batchedit.api.inflight import InFlightSlots
from batchedit.cli import main
from batchedit.pipeline.plan.resume import Action, RowPlan
from batchedit.pipeline.poll.latency import DurationModel
from batchedit.pipeline.poll.latency_store import save_samples
from batchedit.pipeline.poll.poll_plan import PlanBudget, PollShape, _Grid, plan_polls
from batchedit.pipeline.poll.scheduler import PROBE_EVERY, LatencyAwarePolicy
from batchedit.pipeline.produce.row_queue import RowQueue
from batchedit.records import EditRequest, ImageRef, Row

PRO = "google/nano-banana-pro-edit"
NANO = "google/nano-banana-2-edit"
SHAPE = PollShape()


def _cost(grid: _Grid, ages: list[float], price_s: float) -> float:
    """Wait plus priced polls of polling at `ages` (grid ages, ascending)."""
    positions = [grid.ages_s.index(age) for age in ages]
    cost, done, summed = 0.0, 0.0, 0.0
    for position in positions:
        cost += price_s * (grid.total - done)
        count, total_s = grid.counts[position], grid.sums_s[position]
        cost += grid.ages_s[position] * (count - done) - (total_s - summed)
        done, summed = count, total_s
    return cost


@settings(max_examples=40, deadline=None)
@given(
    durations=st.lists(st.floats(0.5, 60.0), min_size=2, max_size=9),
    price=st.floats(0.001, 2.0),
)
def test_the_planned_timetable_is_the_cheapest_at_its_price(
    durations: list[float], price: float
) -> None:
    """Against every subset of the grid ages ending at the longest (a brute force
    the dynamic programme must equal), on the smoothed samples."""
    grid = _Grid.of(sorted(durations))
    price_s = price * grid.mean_s
    planned = grid.cheapest_ages(price_s, min_gap_s=0.0)
    assert planned[-1] == grid.ages_s[-1]
    inner = grid.ages_s[:-1]
    best = min(
        _cost(grid, [*subset, grid.ages_s[-1]], price_s)
        for size in range(len(inner) + 1)
        for subset in itertools.combinations(inner, size)
    )
    assert _cost(grid, planned, price_s) <= best + 1e-6 * max(1.0, best)


def test_a_dearer_poll_gives_a_sparser_plan_that_notices_later() -> None:
    rng = random.Random(5)
    durations = sorted(rng.uniform(1.0, 3.0) for _ in range(256))
    grid = _Grid.of(durations)
    cheap, dear = (grid.cheapest_ages(p * grid.mean_s, 0.1) for p in (0.005, 0.1))
    assert len(cheap) > len(dear) >= 1


def test_evenly_spread_durations_get_about_three_polls_and_a_notice_within_ten_percent() -> None:
    """What docs/api.md promises for U(1, 3) s at the default price."""
    rng = random.Random(9)
    durations = sorted(rng.uniform(1.0, 3.0) for _ in range(256))
    plan = plan_polls(durations, PlanBudget(100), SHAPE)
    assert 2.5 <= plan.polls_per_task <= 4.0
    assert plan.hold_s <= 1.10 * sum(durations) / len(durations)


def test_a_task_found_done_at_its_first_poll_teaches_no_duration_faster_than_seen() -> None:
    model = DurationModel(PlanBudget(10), SHAPE, random.Random(3))
    kind = (PRO, "1K")
    model.warm(kind, [10.0 + n * 0.5 for n in range(20)])  # 10 s to 19.5 s
    for _ in range(200):
        model.observe(kind, 0.0, 12.0)  # done by its first poll at 12 s
    assert min(model.samples()[kind]) >= 10.0


def test_one_task_in_probe_every_is_first_polled_at_half_the_planned_age() -> None:
    policy = LatencyAwarePolicy(concurrency=10)
    policy.model.warm((PRO, "1K"), [15.0 + n * 0.25 for n in range(40)])
    slots = InFlightSlots(max_in_flight=100)
    first = [policy.next_delay_s(_task(n, slots, 0.0), 0.0) for n in range(4 * PROBE_EVERY)]
    planned = max(first)
    assert sorted(set(first)) == [planned / 2, planned]
    assert first.count(planned / 2) == 4


def _plan(number: int, size: str, action: Action = Action.SUBMIT) -> RowPlan:
    request = EditRequest(PRO, "p", (ImageRef("x"),), image_size=size)
    return RowPlan(Row(number, number + 1, f"r{number}", request), action, "fp", None)


async def test_the_row_queue_hands_out_free_work_then_unknown_kinds_then_the_longest() -> None:
    expected = {(PRO, "1K"): 17.0, (PRO, "4K"): 60.0}
    queue = RowQueue(8, expected.get)
    items = [
        _plan(0, "1K"),
        _plan(1, "4K"),
        _plan(2, "2K"),  # not learned yet
        _plan(3, "1K", Action.POLL),
        _plan(4, "4K"),
        _plan(5, "1K"),
    ]
    for item in items:
        await queue.put(item)
    await queue.put(None)
    out = [await queue.get() for _ in range(len(items) + 1)]
    assert [None if plan is None else plan.row.index for plan in out] == [3, 2, 1, 4, 0, 5, None]


async def test_the_row_queue_stays_bounded() -> None:
    queue = RowQueue(2, lambda kind: None)
    await queue.put(_plan(0, "1K"))
    await queue.put(_plan(1, "1K"))
    blocked = asyncio.ensure_future(queue.put(_plan(2, "1K")))
    await asyncio.sleep(0)
    assert not blocked.done() and queue.qsize() == 2
    await queue.get()
    await blocked


def test_with_durations_learned_the_run_starts_long_tasks_first_and_ends_on_short_ones(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> None:
    """A warm run over alternating 512 px and 1K rows, 1K learned as the longer,
    submits every 1K row before the 512 ones, so its last wave is short.
    (Tasks finish at once here and the learned ages are a few milliseconds:
    nothing waits on the wall clock.)"""
    simulator = threaded_simulator(record_bodies=True, prerendered=True, latency_s=(0.0, 0.0))
    run_dir = tmp_path / "run"
    samples = {(NANO, "512"): [0.010] * 16, (NANO, "1K"): [0.030] * 16}
    save_samples(run_dir / ".batchedit", simulator.base_url, None, samples)
    rows = [
        {
            "id": f"r{n:02d}",
            "prompt": f"edit {n}",
            "image": "https://cdn.example.com/p.jpg",
            "resolution": "1K" if n % 2 else "512",
            "model": NANO,
        }
        for n in range(12)
    ]
    manifest = write_csv(tmp_path / "rows.csv", rows)
    argv = ["run", str(manifest), "--out", str(run_dir), "--concurrency", "2", "--no-progress"]
    assert main([*argv, "--no-latency-cache"]) == 0
    sizes = [entry["body"]["imageSize"] for entry in simulator.stats()["bodies"]]
    assert sizes == ["1K"] * 6 + ["512"] * 6
    assert {line["status"] for line in read_report(run_dir)} == {"succeeded"}


def test_past_the_longest_duration_learned_polls_come_soon_then_back_off() -> None:
    rng = random.Random(2)
    durations = sorted(rng.uniform(1.0, 3.0) for _ in range(256))
    plan = plan_polls(durations, PlanBudget(100), SHAPE)
    last = plan.ages_s[-1]
    ages = [last]
    while ages[-1] < 60.0:
        ages.append(plan.next_age(ages[-1], SHAPE))
    gaps = [after - before for before, after in itertools.pairwise(ages)]
    assert gaps[0] <= 0.2  # a task a little longer than any seen is noticed soon
    assert all(gap <= SHAPE.longest_gap_s(age) + 1e-9 for gap, age in zip(gaps, ages, strict=False))
    assert len(ages) < 40  # one that hangs for a minute costs a few dozen polls at most
