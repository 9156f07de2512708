"""The semaphore of tasks in flight at the service (invariant 4).

A slot is taken before the paid submit and given back when the task reaches
a terminal state, which happens in another stage; so one object owns both
the take and the give-back, a slot can be given back only once, and
`in_use` lets the run (and a test) prove that every slot came home.
"""

from __future__ import annotations

import asyncio


class Slot:
    """One task's place at the service; `release()` is idempotent."""

    __slots__ = ("_owner", "_released")

    def __init__(self, owner: InFlightSlots) -> None:
        self._owner = owner
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._owner._give_back()


class InFlightSlots:
    def __init__(self, *, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.max_in_flight = max_in_flight
        self._semaphore = asyncio.Semaphore(max_in_flight)
        self.in_use = 0
        self.peak = 0

    async def take(self) -> Slot:
        await self._semaphore.acquire()
        self.in_use += 1
        self.peak = max(self.peak, self.in_use)
        return Slot(self)

    def _give_back(self) -> None:
        self.in_use -= 1
        self._semaphore.release()
