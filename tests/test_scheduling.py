"""The poll timetable and the in-flight slots, driven by a fake clock: no real
time passes, so the bounds they promise are checked exactly."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from support import VirtualClock

from batchedit.api.inflight import InFlightSlots, Slot
from batchedit.api.ratelimit import RateLearner
from batchedit.pipeline.poll.scheduler import InFlightTask, PollPolicy, PollTimetable
from batchedit.records import EditRequest, ImageRef, Row


def make_task(name: str, slots: InFlightSlots | None = None) -> InFlightTask:
    row = Row(1, 2, name, EditRequest("google/nano-banana-pro-edit", "p", (ImageRef("x"),)))
    owner = slots or InFlightSlots(max_in_flight=1)
    return InFlightTask(row, f"task-{name}", Slot(owner), "fp", "t0", 0.0, attempts=1)


async def test_a_task_is_not_handed_out_before_it_is_due() -> None:
    clock = VirtualClock()
    timetable = PollTimetable(clock, PollPolicy(poll_interval_s=1.0))
    timetable.add(make_task("a"))
    waiting = asyncio.ensure_future(timetable.next_due())
    await clock.advance(0.99)
    assert not waiting.done()
    await clock.advance(0.01)
    assert (await waiting) is not None
    timetable.done()


async def test_tasks_come_out_in_due_order_and_a_new_earlier_task_wakes_the_poller() -> None:
    clock = VirtualClock()
    timetable = PollTimetable(clock, PollPolicy(poll_interval_s=5.0))
    timetable.add(make_task("late"))
    waiting = asyncio.ensure_future(timetable.next_due())
    await clock.advance(1.0)
    timetable.policy = PollPolicy(poll_interval_s=1.0)
    timetable.add(make_task("early"))  # due at 2.0, before "late" at 5.0
    await clock.advance(1.0)
    first = await waiting
    assert first is not None and first.row.id == "early"


async def test_a_finished_task_is_noticed_within_one_poll_interval() -> None:
    clock = VirtualClock()
    timetable = PollTimetable(clock, PollPolicy(poll_interval_s=2.0))
    timetable.add(make_task("a"))
    finishes_at = 5.3
    noticed_at = None
    while noticed_at is None:
        waiting = asyncio.ensure_future(timetable.next_due())
        while not waiting.done():
            await clock.advance(0.1)
        task = await waiting
        assert task is not None
        task.polls += 1
        if clock.now() >= finishes_at:
            noticed_at = clock.now()
            timetable.done()
        else:
            timetable.poll_again(task)
    assert finishes_at <= noticed_at <= finishes_at + 2.0


async def test_pollers_end_only_when_closed_and_every_task_is_done() -> None:
    clock = VirtualClock()
    timetable = PollTimetable(clock, PollPolicy(poll_interval_s=0.5))
    timetable.add(make_task("a"))
    timetable.close()
    waiting = asyncio.ensure_future(timetable.next_due())
    await clock.advance(0.5)
    task = await waiting
    assert task is not None
    idle_poller = asyncio.ensure_future(timetable.next_due())
    await clock.advance(0.1)
    assert not idle_poller.done(), "a task is still being polled: stay"
    timetable.done()
    await clock.advance(0)
    assert await idle_poller is None


async def test_slots_bound_the_work_in_flight_and_all_come_back() -> None:
    slots = InFlightSlots(max_in_flight=2)
    first, second = await slots.take(), await slots.take()
    third = asyncio.ensure_future(slots.take())
    await asyncio.sleep(0)
    assert not third.done() and slots.in_use == 2
    first.release()
    first.release()  # a second give-back of the same slot changes nothing
    last = await third
    assert slots.in_use == 2 and slots.peak == 2
    second.release()
    last.release()
    assert slots.in_use == 0


def test_slots_need_a_positive_limit() -> None:
    with pytest.raises(ValueError):
        InFlightSlots(max_in_flight=0)


async def test_polls_and_submits_share_one_meter_and_a_due_task_waits_for_its_turn() -> None:
    # Ten tasks due at once, five submits waiting, one meter at 10 requests/s:
    # every request is spaced by the meter alone, the submits are not starved,
    # and a task is handed out only when its request may leave (it never waits
    # in the meter after it was chosen).
    clock = VirtualClock()
    meter = RateLearner(clock, fixed_rate_per_s=10.0)
    timetable = PollTimetable(clock, PollPolicy(poll_interval_s=0.0), meter=meter)
    for n in range(10):
        timetable.add(make_task(f"t{n}"))
    timetable.close()
    sent: list[tuple[str, float]] = []
    chosen_waits: list[float] = []

    async def poller() -> None:
        while await timetable.next_due() is not None:
            chosen_at = clock.now()
            await meter.wait()  # the client's read_task waits here first
            chosen_waits.append(clock.now() - chosen_at)
            sent.append(("poll", clock.now()))
            timetable.done()

    async def submitter() -> None:
        for _ in range(5):
            await meter.wait()
            sent.append(("submit", clock.now()))

    workers = [asyncio.ensure_future(poller()) for _ in range(4)]
    workers.append(asyncio.ensure_future(submitter()))
    while not all(worker.done() for worker in workers):
        await clock.advance(0.01)
    times = sorted(at for _, at in sent)
    assert len(times) == 15
    assert all(later - earlier >= 0.1 - 1e-9 for earlier, later in itertools.pairwise(times))
    last_submit = max(at for kind, at in sent if kind == "submit")
    assert last_submit <= 1.0, "the submits took their turns among the polls"
    assert max(chosen_waits) <= 0.01 + 1e-9, "a task is chosen when its turn comes"
