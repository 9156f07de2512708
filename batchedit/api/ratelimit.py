"""The client's request budget: every API request waits here before it is sent.

One meter per run, shared by every request of the client (submits, polls,
uploads), so a rate is a promise about the whole run, not about each
coroutine. `RequestRateLimiter` spaces requests (GCRA: each request is given
the next free instant); its waiters queue in arrival order and only the
head of the queue sleeps, so a rate that changes while they wait takes
effect at once instead of after every request booked at the old rate.

`RateLearner` sets that rate. With `--rate-limit R` the rate is R and never
moves. Without it the rate is learned from the service's answers, the way
TCP learns a path's capacity (docs/api.md "The request budget"):

- before anything is known, the first request goes alone; if its answer
  carries `X-RateLimit-Limit` the rate starts at half of it, else requests
  go unpaced until the service first says 429;
- a 429 about the request rate multiplies the rate by `backoff` (once per
  hold-off: the requests already on their way answer 429 too); the first
  one, with no rate yet, starts it at what got through lately;
- `X-RateLimit-Remaining` near zero is the budget running out before any
  429: a gentler `ease`;
- while answers are clean and the rate is what holds requests back, it
  grows: by a quarter per second until the first decrease and while
  `Remaining` shows room, else additively, back to the rate last known too
  high over at least 10 s and 60 requests (so a 429 costs at most a few
  percent of the requests), never above `X-RateLimit-Limit`.

Additive increase and multiplicative decrease is what makes N processes on
one key (shards) converge to equal shares with no coordination.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from batchedit.clock import Clock


class RequestRateLimiter:
    """At most `rate_per_s` requests per second (None: unpaced), `burst` back to back."""

    __slots__ = (
        "burst",
        "_rate_per_s",
        "_clock",
        "_interval_s",
        "_tolerance_s",
        "_tat",
        "_queue",
        "waited_at",
    )

    def __init__(self, rate_per_s: float | None, clock: Clock, *, burst: int = 1) -> None:
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.burst = burst
        self._clock = clock
        self._tat: float | None = None  # the theoretical arrival time of the next request
        self._queue: deque[asyncio.Future[None]] = deque()
        #: Clock time a request last had to wait for the rate: the rate is what binds.
        self.waited_at = -math.inf
        self._rate_per_s: float | None = None
        self._interval_s = self._tolerance_s = 0.0
        self.set_rate(rate_per_s)

    @property
    def rate_per_s(self) -> float | None:
        return self._rate_per_s

    def set_rate(self, rate_per_s: float | None) -> None:
        """Change the rate; waiting requests are spaced by the new one from now on."""
        if rate_per_s is not None and (not math.isfinite(rate_per_s) or rate_per_s <= 0):
            raise ValueError(f"rate_per_s must be a positive number, got {rate_per_s}")
        interval_s = 0.0 if rate_per_s is None else 1.0 / rate_per_s
        if self._tat is not None:
            # The booked backlog stretches or shrinks with the interval.
            now = self._clock.now()
            backlog_s = max(0.0, self._tat - now)
            ratio = interval_s / self._interval_s if self._interval_s > 0 else 1.0
            self._tat = now + backlog_s * ratio
        self._rate_per_s = rate_per_s
        self._interval_s = interval_s
        self._tolerance_s = (self.burst - 1) * self._interval_s

    def bound_since(self, since: float) -> bool:
        """Whether a request had to wait for the rate at or after clock time `since`."""
        return self.waited_at >= since

    def delay_s(self, now: float) -> float:
        """Seconds until a request may leave, booking nothing."""
        if self._rate_per_s is None or self._tat is None:
            return 0.0
        return max(0.0, max(self._tat, now) - self._tolerance_s - now)

    def reserve(self) -> float:
        """Book the next free instant; returns the seconds to wait for it (0.0: go now)."""
        now = self._clock.now()
        delay = self.delay_s(now)
        theoretical = now if self._tat is None else max(self._tat, now)
        self._tat = theoretical + self._interval_s
        if delay > 0:
            self.waited_at = now
        return delay

    async def wait(self) -> None:
        """Return when this request may be sent, in arrival order."""
        if not self._queue and self.delay_s(self._clock.now()) <= 0:
            self.reserve()
            return
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(ticket)
        try:
            if self._queue[0] is not ticket:
                await ticket  # woken when the request ahead leaves
            while (delay := self.delay_s(self._clock.now())) > 0:
                self.waited_at = self._clock.now()
                await self._clock.sleep(delay)
            self.reserve()
        finally:
            was_head = bool(self._queue) and self._queue[0] is ticket
            self._queue.remove(ticket)
            if was_head and self._queue and not self._queue[0].done():
                self._queue[0].set_result(None)


def budget_headers(headers: Mapping[str, str]) -> tuple[float | None, float | None]:
    """(`X-RateLimit-Limit`, `X-RateLimit-Remaining`) as numbers, None where absent or odd."""
    return _number(headers.get("X-RateLimit-Limit")), _number(headers.get("X-RateLimit-Remaining"))


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip().split(",")[0])
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


@dataclass(frozen=True, slots=True)
class LearnerSettings:
    """How the learned rate moves; the defaults are argued in docs/api.md."""

    backoff: float = 0.9  # times the rate on a 429 about the request rate
    ease: float = 0.95  # times the rate when Remaining is nearly spent
    low_water: float = 0.1  # "nearly spent": Remaining at most this share of Limit
    seed_share: float = 0.5  # the first rate, as a share of X-RateLimit-Limit
    room_growth_per_s: float = 0.25  # growth per second while Remaining shows room
    cycle_s: float = 10.0  # the additive increase climbs back over at least this long
    cycle_requests: float = 60.0  # ... and at least this many requests
    min_rate_per_s: float = 0.05
    hold_off_s: float = 1.0  # at most one decrease per hold-off (or two requests' spacing)
    window_s: float = 2.0  # what "got through lately" is measured over
    probe_timeout_s: float = 2.0  # the first request's answer is waited for this long at most


class RateLearner:
    """The run's request meter: a fixed rate, or one learned from the answers."""

    def __init__(
        self,
        clock: Clock,
        *,
        fixed_rate_per_s: float | None = None,
        settings: LearnerSettings | None = None,
    ) -> None:
        self.settings = settings or LearnerSettings()
        self.limiter = RequestRateLimiter(fixed_rate_per_s, clock)
        self.fixed = fixed_rate_per_s is not None
        self.ceiling_per_s: float | None = None  # X-RateLimit-Limit, read as per second
        self.rate_limited_count = 0
        self._clock = clock
        #: The rate last known too high: the additive step's base. None until the
        #: first decrease from a paced rate: until then the rate grows fast (slow start).
        self._reference: float | None = None
        self._updated_at: float | None = None
        self._decreased_at = -math.inf
        self._clean_at: deque[float] = deque()
        self._first_answer = asyncio.Event()
        self._probe_out = False
        if self.fixed:
            self._first_answer.set()  # a fixed rate needs no probe

    @property
    def requests_per_s(self) -> float | None:
        """The rate requests are paced at now; None while nothing bounds them."""
        return self.limiter.rate_per_s

    async def wait(self) -> None:
        """Return when the next request may be sent."""
        if not self._first_answer.is_set():
            if self._probe_out:
                await self._await_first_answer()
            else:
                self._probe_out = True  # this request goes alone and tells us the budget
        await self.limiter.wait()

    def turn_in_s(self) -> float:
        """Seconds until a request asked for now could leave, booking nothing: how
        the poll timetable chooses which due task takes the next turn. Its caller
        waits them out, held back by the rate as a request in line is, so the
        rate counts as binding (the increase in `clean` needs that evidence)."""
        now = self._clock.now()
        # The next free instant, not the line behind it: a poll handed out while
        # submits wait takes its place after them (arrival order), and no wait
        # here is longer than one request's spacing.
        wait_s = self.limiter.delay_s(now)
        if wait_s > 0:
            self.limiter.waited_at = now
        return wait_s

    async def _await_first_answer(self) -> None:
        # A safety net on the loop's own timer, not a sleep: the first request
        # normally answers (or fails, and its retry is answered) well within it.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.probe_timeout_s):
                await self._first_answer.wait()
        self._first_answer.set()  # an answer, or none in time: stop holding requests back

    def answered(self) -> None:
        """Any answer at all: the first request's answer releases the others."""
        self._first_answer.set()

    def clean(self, limit: float | None, remaining: float | None) -> None:
        """A 200: the budget had room for this request."""
        self.answered()
        now = self._clock.now()
        self._clean_at.append(now)
        while self._clean_at and self._clean_at[0] < now - self.settings.window_s:
            self._clean_at.popleft()
        if self.fixed:
            return
        self._note_limit(limit)
        rate = self.limiter.rate_per_s
        if rate is None:
            if self.ceiling_per_s is not None:
                self._set(self.ceiling_per_s * self.settings.seed_share)
                self._updated_at = now
            return  # no budget known: as fast as the service answers
        elapsed_s = now - (now if self._updated_at is None else self._updated_at)
        self._updated_at = now
        ceiling = self.ceiling_per_s
        if remaining is not None and ceiling is not None:
            if remaining <= ceiling * self.settings.low_water:
                self._decrease(now, self.settings.ease)
                return
        if not self.limiter.bound_since(now - self.settings.window_s):
            return  # the rate is not what holds requests back: no evidence it is too low
        room = remaining is not None and ceiling is not None and remaining >= ceiling / 2
        if room or self._reference is None:
            new_rate = rate * (1.0 + self.settings.room_growth_per_s * elapsed_s)
        else:
            new_rate = rate + self._step_per_s(self._reference) * elapsed_s
        self._set(new_rate if ceiling is None else min(new_rate, ceiling))

    def rate_limited(self, limit: float | None) -> None:
        """A 429 about the request rate: this process asks too often."""
        self.answered()
        self.rate_limited_count += 1
        if self.fixed:
            return  # the pause the 429 asks for is the client's business
        self._note_limit(limit)
        now = self._clock.now()
        if self.limiter.rate_per_s is None:
            # The first sign of a budget: about what got through lately, a little under.
            window = self.settings.window_s
            measured = len(self._clean_at) / window
            seed = self.settings.backoff * max(measured, 1.0 / window)
            if self.ceiling_per_s is not None:
                seed = min(seed, self.ceiling_per_s * self.settings.seed_share)
            self._set(seed)
            self._decreased_at = self._updated_at = now
            return
        self._decrease(now, self.settings.backoff)

    def _step_per_s(self, reference: float) -> float:
        """The additive increase: back from a decrease to the rate last too high in
        one cycle of at least `cycle_s` and `cycle_requests`, so a 429 costs a small,
        bounded share of the requests, at any rate."""
        settings = self.settings
        cycle_s = max(settings.cycle_s, settings.cycle_requests / reference)
        return (1.0 - settings.backoff) * reference / cycle_s

    def _decrease(self, now: float, factor: float) -> None:
        rate = self.limiter.rate_per_s
        if rate is None:
            return
        hold_off = max(self.settings.hold_off_s, 2.0 / rate)
        if now - self._decreased_at < hold_off:
            return  # the requests sent before the last decrease are still answering
        self._reference = rate
        self._decreased_at = self._updated_at = now
        self._set(rate * factor)

    def _note_limit(self, limit: float | None) -> None:
        if limit is not None and limit > 0:
            self.ceiling_per_s = limit

    def _set(self, rate_per_s: float) -> None:
        self.limiter.set_rate(max(self.settings.min_rate_per_s, rate_per_s))
