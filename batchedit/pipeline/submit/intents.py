"""A paid submit's intents in the journal: what makes a stop or a crash at any
instant of a submit's retries leave its row `pending` or `unknown`, never
silently paid twice (invariant 1). The retry loop itself is the client's
(`ModellixClient.submit_paid`); it calls these hooks around each attempt."""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchedit.clock import utc_now_iso
from batchedit.pipeline.submit.gate import Turn
from batchedit.records import Row
from batchedit.state.journal import Submitting, Withdrawn

if TYPE_CHECKING:  # the run's services are handed in by the runner, above this stage
    from batchedit.pipeline.context import RunServices


class PaidIntent:
    """The journal's part in each attempt of one row's paid submit, called by
    the client's retry loop (`api.policy.PaidAttempts`): the intent durable just
    before an attempt leaves, a withdrawal after each answer that created no
    task (PAID_REFUSALS). Every other end of an intent was paid for, and the
    journal's `attempts` (state/history.py) and the summary both count it.

    The gate is asked again after every wait (the request meter, a back-off,
    the intent's fsync): a stop that came meanwhile sends nothing more. From
    the intent on, the attempt is on the wire: a stop waits (its grace period)
    for the intent's fsync too, and then either sends nothing and withdraws,
    or hears the answer; it never cancels an intent into a false `unknown`.
    Cancelled while the POST is out (a stop whose grace ran out), the row is
    `unknown`, so its turn is paid for."""

    __slots__ = ("services", "row", "fingerprint", "turn", "on_wire")

    def __init__(self, services: RunServices, row: Row, fingerprint: str, turn: Turn) -> None:
        self.services = services
        self.row = row
        self.fingerprint = fingerprint
        self.turn = turn
        self.on_wire = False

    async def intend(self) -> bool:
        services, row = self.services, self.row
        gate = services.gate
        if not gate.is_open:
            return False
        intent = Submitting(
            row.index, row.id, self.fingerprint, utc_now_iso(), services.client.origin
        )
        gate.sending()
        self.on_wire = True
        await services.journal.append(intent)  # durable: a crash from here is `unknown`
        if not gate.is_open:
            await services.journal.append(Withdrawn(row.index, row.id))
            return False
        return True

    def unanswered(self) -> None:
        self.turn.paid()  # unanswered: `unknown`, and counted as spent like one

    def off_wire(self) -> None:
        if self.on_wire:
            self.on_wire = False
            self.services.gate.answered()

    async def withdraw(self) -> None:
        # Refused before any task was made (429, a refused connection, 400, 401, 402).
        await self.services.journal.append(Withdrawn(self.row.index, self.row.id))
