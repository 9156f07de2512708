"""The learned request budget on a virtual clock: a service that answers 429
above a hidden rate, the learner that finds it, the shards that share it,
and which limit a 429 is about. No real time passes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from support import VirtualClock, drive

from batchedit.api.inflight import InFlightSlots
from batchedit.api.policy import LoadSignal
from batchedit.api.ratelimit import RateLearner
from batchedit.api.throttle import LoadGovernor, Throttle, classify_429
from batchedit.simulator.ratelimit import TokenBucket

ROUND_TRIP_S = 0.05


@dataclass
class HiddenBudget:
    """A service with a token bucket of `rate` per second: 429 when it is empty.
    With `headers`, answers carry X-RateLimit-Limit and -Remaining, as the
    simulator's do; without, the rate is hidden."""

    rate: float
    clock: VirtualClock
    headers: bool = False
    bucket: TokenBucket = field(init=False)
    passed: list[float] = field(default_factory=list)
    refused_at: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bucket = TokenBucket.full(self.rate, self.clock.now())

    def answer(self, paid: bool = False) -> LoadSignal:
        wait_s = self.bucket.try_take(self.clock.now())
        limit = self.rate if self.headers else None
        remaining = float(self.bucket.remaining) if self.headers else None
        if wait_s > 0:
            self.refused_at.append(self.clock.now())
            return LoadSignal(429, paid, limit, remaining, wait_s, "rate limit exceeded")
        self.passed.append(self.clock.now())
        return LoadSignal(200, paid, limit, remaining)

    @property
    def refused(self) -> int:
        return len(self.refused_at)

    def passed_per_s(self, start: float, end: float) -> float:
        return sum(start <= t < end for t in self.passed) / (end - start)

    def refused_share(self, start: float, end: float) -> float:
        refused = sum(start <= t < end for t in self.refused_at)
        return refused / max(1, refused + sum(start <= t < end for t in self.passed))


async def client(
    learner: RateLearner, service: HiddenBudget, clock: VirtualClock, *, workers: int = 20
) -> list[asyncio.Future[None]]:
    """`workers` coroutines sending requests as fast as the learner lets them;
    a 429 makes its sender wait what the service said, as the client does."""
    governor = LoadGovernor(learner, InFlightSlots(max_in_flight=workers), clock)

    async def worker() -> None:
        while True:
            await learner.wait()
            await clock.sleep(ROUND_TRIP_S / 2)
            signal = service.answer()
            await clock.sleep(ROUND_TRIP_S / 2)
            governor.observe(signal)
            if signal.status == 429 and signal.retry_after_s:
                await clock.sleep(signal.retry_after_s)

    return [asyncio.ensure_future(worker()) for _ in range(workers)]


async def stop(tasks: list[asyncio.Future[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize("hidden_rate", [1.7, 5.0, 20.0])
async def test_the_learner_settles_within_a_tenth_under_a_hidden_rate(hidden_rate: float) -> None:
    clock = VirtualClock()
    service = HiddenBudget(hidden_rate, clock)
    learner = RateLearner(clock)
    tasks = await client(learner, service, clock)
    rates: list[float] = []
    await drive(clock, until=60.0)  # learning
    for second in range(60, 300):
        await drive(clock, until=float(second))
        assert learner.requests_per_s is not None
        rates.append(learner.requests_per_s)
    await stop(tasks)
    mean_rate = sum(rates) / len(rates)
    assert 0.9 * hidden_rate <= mean_rate <= 1.1 * hidden_rate
    assert service.passed_per_s(60.0, 300.0) >= 0.9 * hidden_rate
    assert service.refused_share(60.0, 300.0) < 0.03


async def test_with_the_budget_in_the_headers_it_runs_at_the_limit_almost_without_429s() -> None:
    clock = VirtualClock()
    service = HiddenBudget(5.0, clock, headers=True)
    learner = RateLearner(clock)
    tasks = await client(learner, service, clock)
    await drive(clock, until=120.0)
    await stop(tasks)
    assert learner.ceiling_per_s == 5.0
    assert service.passed_per_s(10.0, 120.0) >= 0.9 * 5.0
    assert service.refused <= 0.03 * len(service.passed)


async def test_three_processes_on_one_key_converge_to_fair_shares() -> None:
    clock = VirtualClock()
    service = HiddenBudget(6.0, clock, headers=True)
    learners = [RateLearner(clock) for _ in range(3)]
    passed: list[list[float]] = [[] for _ in learners]
    tasks: list[asyncio.Future[None]] = []
    for number, learner in enumerate(learners):
        shard = ShardView(service, passed[number])
        tasks += await client(learner, shard, clock, workers=10)  # type: ignore[arg-type]
    await drive(clock, until=300.0)
    await stop(tasks)
    shares = [sum(150.0 <= t < 300.0 for t in times) / 150.0 for times in passed]
    assert sum(shares) >= 0.85 * 6.0
    for share in shares:
        assert share >= 0.7 * 2.0, shares


@dataclass
class ShardView:
    """One shard's view of the shared service: its own tally of what passed."""

    service: HiddenBudget
    passed: list[float]

    def answer(self, paid: bool = False) -> LoadSignal:
        signal = self.service.answer(paid)
        if signal.status == 200:
            self.passed.append(self.service.clock.now())
        return signal


async def test_a_fixed_rate_never_moves() -> None:
    clock = VirtualClock()
    service = HiddenBudget(2.0, clock, headers=True)
    learner = RateLearner(clock, fixed_rate_per_s=3.0)
    tasks = await client(learner, service, clock)
    await drive(clock, until=30.0)
    await stop(tasks)
    assert learner.requests_per_s == 3.0
    assert service.refused > 0


def signal_429(**fields: object) -> LoadSignal:
    values: dict[str, object] = {"status": 429, "paid": True, **fields}
    return LoadSignal(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("signal", "reads_passing", "kind"),
    [
        (signal_429(paid=False), True, Throttle.RATE),  # a poll never meets a task limit
        (
            signal_429(message="HTTP 429: Too Many Requests: 4 tasks already running"),
            False,
            Throttle.CONCURRENCY,
        ),
        (signal_429(limit=5.0, remaining=0.0), True, Throttle.RATE),
        (signal_429(limit=5.0, remaining=3.0), False, Throttle.CONCURRENCY),
        (signal_429(message="rate limit of 5 requests per second exceeded"), True, Throttle.RATE),
        (signal_429(), True, Throttle.CONCURRENCY),  # submits refused while polls pass
        (signal_429(), False, Throttle.RATE),
    ],
)
def test_which_limit_a_429_is_about(
    signal: LoadSignal, reads_passing: bool, kind: Throttle
) -> None:
    assert classify_429(signal, reads_passing=reads_passing) is kind


async def test_a_concurrency_429_lowers_the_in_flight_limit_and_not_the_rate() -> None:
    clock = VirtualClock()
    learner = RateLearner(clock)
    slots = InFlightSlots(max_in_flight=8)
    governor = LoadGovernor(learner, slots, clock)
    governor.observe(LoadSignal(200, False, 10.0, 9.0))  # a poll passes; the budget is 10/s
    rate = learner.requests_per_s
    for _ in range(6):
        governor.observe(LoadSignal(429, True, 10.0, 8.0, 1.0, "HTTP 429: limit reached"))
    assert slots.limit < 8
    assert learner.requests_per_s == rate
    assert governor.concurrency_429s == 6 and governor.rate_429s == 0


async def test_a_rate_429_lowers_the_rate_and_not_the_in_flight_limit() -> None:
    clock = VirtualClock()
    learner = RateLearner(clock)
    slots = InFlightSlots(max_in_flight=8)
    governor = LoadGovernor(learner, slots, clock)
    governor.observe(LoadSignal(200, False, 10.0, 9.0))
    rate = learner.requests_per_s
    assert rate == 5.0  # seeded at half the advertised limit
    for _ in range(6):
        clock.time += 2.0
        governor.observe(LoadSignal(429, True, 10.0, 0.0, 0.1, "HTTP 429: slow down"))
    assert learner.requests_per_s is not None and learner.requests_per_s < rate
    assert slots.limit == 8
    assert governor.rate_429s == 6
