"""The request-rate meter on an injected clock, and the AIMD in-flight limit as
a unit: their promises are checked exactly, with no real time passing."""

from __future__ import annotations

import asyncio

import pytest
from support import VirtualClock, drive

from batchedit.api.inflight import AimdLimit, InFlightSlots
from batchedit.api.ratelimit import RequestRateLimiter


class StepClock:
    """Virtual time that jumps to whatever a sleeper asks for, recording the sleeps."""

    def __init__(self) -> None:
        self.time = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def test_requests_are_spaced_one_interval_apart() -> None:
    clock = StepClock()
    limiter = RequestRateLimiter(10, clock)
    assert [round(limiter.reserve(), 6) for _ in range(4)] == [0.0, 0.1, 0.2, 0.3]


def test_time_that_passed_unused_is_not_saved_up_beyond_the_burst() -> None:
    clock = StepClock()
    limiter = RequestRateLimiter(4, clock, burst=2)
    assert [limiter.reserve() for _ in range(3)] == [0.0, 0.0, 0.25]
    clock.time = 100.0  # a long quiet spell
    assert [limiter.reserve() for _ in range(3)] == [0.0, 0.0, 0.25]


def test_the_rate_over_any_window_never_exceeds_the_limit() -> None:
    clock = StepClock()
    limiter = RequestRateLimiter(20, clock)
    starts = []
    for n in range(200):
        clock.time = n * 0.01  # callers arrive twice as fast as allowed
        starts.append(clock.time + limiter.reserve())
    for first in range(len(starts)):
        in_window = [s for s in starts[first:] if s < starts[first] + 1.0 - 1e-9]
        assert len(in_window) <= 20


async def test_waiters_leave_in_order_one_interval_apart() -> None:
    clock = VirtualClock()
    limiter = RequestRateLimiter(5, clock)
    left: list[tuple[int, float]] = []

    async def send(number: int) -> None:
        await limiter.wait()
        left.append((number, round(clock.now(), 6)))

    senders = [asyncio.ensure_future(send(n)) for n in range(3)]
    await drive(clock, until=1.0)
    await asyncio.gather(*senders)
    assert left == [(0, 0.0), (1, 0.2), (2, 0.4)]


async def test_a_rate_changed_while_requests_wait_spaces_them_at_once() -> None:
    clock = VirtualClock()
    limiter = RequestRateLimiter(10, clock)
    left: list[float] = []

    async def send() -> None:
        await limiter.wait()
        left.append(round(clock.now(), 6))

    senders = [asyncio.ensure_future(send()) for _ in range(4)]
    await drive(clock, until=0.0)
    limiter.set_rate(2)  # three still wait: from now on, half a second apart
    await drive(clock, until=3.0)
    await asyncio.gather(*senders)
    assert left == [0.0, 0.5, 1.0, 1.5]


def test_the_limiter_refuses_a_rate_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RequestRateLimiter(0, StepClock())


def test_429s_at_one_level_halve_the_limit_down_to_one() -> None:
    limit = AimdLimit(max_limit=8)
    assert [limit.rate_limited() for _ in range(3)] == [False, False, True]
    assert limit.limit == 4
    for _ in range(3):
        limit.rate_limited()
    assert limit.limit == 2
    for _ in range(9):
        limit.rate_limited()
    assert limit.limit == limit.lowest == 1


def test_a_lone_429_among_clean_answers_changes_nothing() -> None:
    limit = AimdLimit(max_limit=4)
    for _ in range(10):
        limit.rate_limited()
        for _ in range(4):
            limit.answered()
    assert limit.limit == 4 and limit.lowest == 4


def test_clean_rounds_raise_the_limit_by_one_and_never_above_the_maximum() -> None:
    limit = AimdLimit(max_limit=6)
    for _ in range(6):
        limit.rate_limited()
    assert limit.limit == 1
    raised = [limit.answered() for _ in range(1 + 2 + 3)]
    assert limit.limit == 4, "one clean round of `limit` answers adds one slot"
    assert raised.count(True) == 3
    for _ in range(1000):
        limit.answered()
    assert limit.limit == 6


async def test_a_lowered_limit_holds_back_new_tasks_and_a_raised_one_lets_them_in() -> None:
    slots = InFlightSlots(max_in_flight=4, adaptive=AimdLimit(max_limit=4, decrease_after=1))
    held = [await slots.take() for _ in range(2)]
    slots.rate_limited()  # 4 -> 2, with 2 in use
    blocked = asyncio.ensure_future(slots.take())
    await asyncio.sleep(0)
    assert not blocked.done() and slots.limit == 2
    for _ in range(2):
        slots.answered()  # one clean round at 2: the limit is 3
    granted = await blocked
    assert slots.in_use == 3 and slots.limit == 3
    for slot in [*held, granted]:
        slot.release()
    assert slots.in_use == 0


async def test_a_cancelled_waiter_takes_no_slot() -> None:
    slots = InFlightSlots(max_in_flight=1)
    first = await slots.take()
    waiter = asyncio.ensure_future(slots.take())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    first.release()
    assert slots.in_use == 0
    (await slots.take()).release()
    assert slots.in_use == 0
