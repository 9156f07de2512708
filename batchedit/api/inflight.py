"""The limit on tasks in flight at the service (invariant 4), and how it adapts.

A slot is taken before the paid submit and given back when the task reaches
a terminal state, which happens in another stage; so one object owns both
the take and the give-back, a slot can be given back only once, and
`in_use` lets the run (and a test) prove that every slot came home.

The number of slots is not fixed: `AimdLimit` lowers it multiplicatively
when 429s keep coming at the current level (the service is saying "fewer")
and raises it by one after a full round of clean answers, never above the
configured concurrency: TCP's congestion rule, applied to paid tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

log = logging.getLogger(__name__)


class AimdLimit:
    """Additive increase, multiplicative decrease of a concurrency limit.

    `rate_limited()` after each 429, `answered()` after each clean answer.
    `decrease_after` 429s at one level (without a clean round in between)
    multiply the limit by `factor`; `limit` clean answers in a row add one.
    A lone 429 among many clean answers changes nothing.
    """

    __slots__ = (
        "max_limit",
        "min_limit",
        "limit",
        "lowest",
        "_factor",
        "_after",
        "_strikes",
        "_streak",
    )

    def __init__(
        self,
        *,
        max_limit: int,
        min_limit: int = 1,
        decrease_after: int = 3,
        factor: float = 0.5,
    ) -> None:
        if not 1 <= min_limit <= max_limit:
            raise ValueError(f"need 1 <= min_limit <= max_limit, got {min_limit}, {max_limit}")
        if not 0 < factor < 1 or decrease_after < 1:
            raise ValueError("factor must be in (0, 1) and decrease_after at least 1")
        self.max_limit = max_limit
        self.min_limit = min_limit
        self.limit = max_limit
        self.lowest = max_limit
        self._factor = factor
        self._after = decrease_after
        self._strikes = 0  # 429s seen at the current limit
        self._streak = 0  # clean answers in a row

    def rate_limited(self) -> bool:
        """Record a 429; True when the limit went down."""
        self._streak = 0
        self._strikes += 1
        if self._strikes < self._after or self.limit == self.min_limit:
            return False
        self.limit = max(self.min_limit, int(self.limit * self._factor))
        self.lowest = min(self.lowest, self.limit)
        self._strikes = 0
        return True

    def answered(self) -> bool:
        """Record a clean answer; True when the limit went up."""
        self._streak += 1
        if self._streak < self.limit:
            return False
        self._streak = 0
        self._strikes = 0  # a clean round: earlier 429s were not "coming"
        if self.limit >= self.max_limit:
            return False
        self.limit += 1
        return True


class Slot:
    """One task's place at the service, from before its paid submit to its end.

    Reserved with `async with slots.reserve() as slot`: leaving the block gives
    it back unless it was handed over to the task it now belongs to
    (`hand_over()`), whose end gives it back with `release()`. Whatever the
    path (an answer, an error, a cancellation), a slot goes back exactly once.
    """

    __slots__ = ("_owner", "_released", "_handed_over")

    def __init__(self, owner: InFlightSlots) -> None:
        self._owner = owner
        self._released = False
        self._handed_over = False

    def hand_over(self) -> Slot:
        """The task now holds the slot: leaving the reservation keeps it taken."""
        self._handed_over = True
        return self

    def release(self) -> None:
        """Give the slot back; a second call does nothing."""
        if not self._released:
            self._released = True
            self._owner._give_back()

    @property
    def handed_over(self) -> bool:
        return self._handed_over


class InFlightSlots:
    """Slots up to the adaptive limit, handed out first come, first served.

    Also the client's feedback on load: `rate_limited()` and `answered()`
    move the limit. Waiters are plain futures granted synchronously, so a
    slot given back from any stage passes straight to the next waiter.
    """

    def __init__(self, *, max_in_flight: int, adaptive: AimdLimit | None = None) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.max_in_flight = max_in_flight
        self.adaptive = adaptive or AimdLimit(max_limit=max_in_flight)
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.in_use = 0
        self.peak = 0

    @property
    def limit(self) -> int:
        """The slots available now: the adaptive limit, at most `max_in_flight`."""
        return min(self.max_in_flight, self.adaptive.limit)

    @asynccontextmanager
    async def reserve(self) -> AsyncIterator[Slot]:
        """A slot for the block; given back on leaving it unless handed over."""
        slot = await self.take()
        try:
            yield slot
        finally:
            if not slot.handed_over:
                slot.release()

    async def take(self) -> Slot:
        if self.in_use < self.limit and not self._waiters:
            self._grant_one()
            return Slot(self)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._give_back()  # granted just as we were cancelled: pass it on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise
        return Slot(self)

    def rate_limited(self) -> None:
        if self.adaptive.rate_limited():
            log.warning("the service keeps answering 429: concurrency lowered to %d", self.limit)

    def answered(self) -> None:
        if self.adaptive.answered():
            log.info("answers are clean again: concurrency raised to %d", self.limit)
            self._grant_waiters()

    def _grant_one(self) -> None:
        self.in_use += 1
        self.peak = max(self.peak, self.in_use)

    def _give_back(self) -> None:
        self.in_use -= 1
        self._grant_waiters()

    def _grant_waiters(self) -> None:
        while self._waiters and self.in_use < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._grant_one()
                waiter.set_result(None)
