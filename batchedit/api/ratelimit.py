"""The client's request-rate meter: every API request waits here before it is sent.

One meter per run, shared by every request of the client (submits, polls,
uploads), so `rate_limit` requests per second is a promise about the whole
run, not about each coroutine. It is a reservation scheduler (GCRA): each
caller is given the next free instant and sleeps until then, so waiters are
served in arrival order without a polling loop, and the requests leave
evenly spaced rather than in bursts a server's bucket would refuse.
"""

from __future__ import annotations

import math

from batchedit.clock import Clock


class RequestRateLimiter:
    """At most `rate_per_s` requests per second, `burst` of them back to back."""

    __slots__ = ("rate_per_s", "burst", "_clock", "_interval_s", "_tolerance_s", "_next_at")

    def __init__(self, rate_per_s: float, clock: Clock, *, burst: int = 1) -> None:
        if not math.isfinite(rate_per_s) or rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be a positive number, got {rate_per_s}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._interval_s = 1.0 / rate_per_s
        self._tolerance_s = (burst - 1) * self._interval_s
        self._next_at: float | None = None  # the theoretical arrival time of the next request

    def reserve(self) -> float:
        """Book the next free instant; returns the seconds to wait for it (0.0: go now).

        Booking happens before the sleep, so concurrent callers get distinct
        instants in the order they asked, and a cancelled waiter costs one slot.
        """
        now = self._clock.now()
        theoretical = now if self._next_at is None else max(self._next_at, now)
        start = max(now, theoretical - self._tolerance_s)
        self._next_at = theoretical + self._interval_s
        return start - now

    async def wait(self) -> None:
        """Return when this request may be sent."""
        delay_s = self.reserve()
        if delay_s > 0:
            await self._clock.sleep(delay_s)
