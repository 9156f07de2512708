"""Whether submitting may go on: the one owner of "stop paying now".

Submitters wait for a turn before each paid submit (`admit`); the producer
stops reading rows once the gate is shut. Polls and downloads go on
regardless: what was paid for is still collected. These guards live here:

- the breaker (breaker.py): a burst of unknown outcomes pauses submitting
  for a cool-down, then one probe submit decides whether to resume;
- the unknown-outcome budget (`max_unknown`): past it the gate shuts for
  good and the run ends with exit 3, the rest of the rows `pending`;
- the failure brake (`halt_on_failure`): when too many of the last finished
  tasks failed, the gate shuts and the run ends with exit 1;
- the spend cap (`max_spend`): each turn reserves its submit's price, and a
  submit that would take the spend past the cap is not sent: the gate shuts
  and the run ends with exit 3. Every paid submit is recorded here, and only
  here (`Turn.paid`: accepted, or its outcome unknown), in the run's stats;
- the deadline (`deadline`): past it, no submit leaves (checked whenever the
  gate is asked, so no timer is needed for it); the tasks in flight get
  `deadline_grace` more (`overtime` waits it out), then the runner stops them
  and the run ends with exit 3.

A stop from outside (a signal, a 401/402) shuts the gate too, and
`drain` gives the submits already on the wire a grace period to be answered
before the stages are cancelled, so that their outcome is known rather than
`unknown`. The first reason given stands; it says what to do next.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from batchedit.catalogue import ParamValue
from batchedit.clock import Clock
from batchedit.manifest.guards import FailureBrake, UnknownBudget
from batchedit.manifest.prices import PriceTable
from batchedit.pipeline.stop import StopReason
from batchedit.pipeline.submit.breaker import Breaker, BreakerSettings
from batchedit.report.spend import SpendTally, as_decimal
from batchedit.report.summary import RunStats

log = logging.getLogger(__name__)

MAX_FAILURE_EXAMPLES = 3


class _Room(enum.Enum):
    """Whether a submit's price fits under the spend cap."""

    FITS = "fits"
    WAIT = "wait"  # only if submits in doubt are refused
    OVER = "over"


@dataclass(frozen=True, slots=True)
class GateSettings:
    """The gate's limits, resolved for one run."""

    max_unknown: int | None  # unknown outcomes before the run stops; None: no budget
    budget: UnknownBudget  # what the user set, for the closing line
    planned_submits: int
    brake: FailureBrake | None  # None: `halt_on_failure: off`
    breaker: BreakerSettings = BreakerSettings()
    stop_grace_s: float = 5.0  # how long submits on the wire may take to answer at a stop
    prices: PriceTable | None = None  # what each submit costs, for the spend
    max_spend: float | None = None  # the spend cap, in the table's currency
    deadline_at: float | None = None  # on the run's clock; None: no deadline
    deadline_grace_s: float = 600.0  # how long tasks in flight are polled past it
    deadline_text: str = ""  # the deadline as the user gave it, for messages

    @property
    def give_up_at(self) -> float | None:
        """When tasks still in flight are left for the next run (clock time)."""
        return None if self.deadline_at is None else self.deadline_at + self.deadline_grace_s


class Turn:
    """One submit's leave to go, holding its price reserved against the spend
    cap until it is paid or left; a probe's turn must say how it went."""

    __slots__ = ("gate", "probe", "reported", "model", "price", "settled")

    def __init__(
        self, gate: SubmitGate, *, probe: bool, model: str = "", price: float | None = None
    ) -> None:
        self.gate = gate
        self.probe = probe
        self.reported = False
        self.model = model
        self.price = price  # None: the price table does not say (or there is none)
        self.settled = False  # paid, or its reservation given back

    def paid(self) -> None:
        """The submit may have been charged (accepted, or no answer came): the
        one place a paid submit is recorded, its price added to the spend."""
        if not self.settled:
            self.settled = True
            self.gate.paid(self)

    def known(self) -> None:
        """The service answered (accepted, or refused): nothing is in doubt."""
        self.reported = True
        self.gate.outcome_known(probe=self.probe)

    def unknown(self) -> None:
        """No answer came back: a task may exist and be charged."""
        self.reported = True
        self.gate.outcome_unknown(probe=self.probe)

    def close(self) -> None:
        """The turn is over: an unpaid reservation is given back (nothing was
        charged), and a probe that said nothing frees its place."""
        if not self.settled:
            self.settled = True
            self.gate.release(self)
        if self.probe and not self.reported:
            self.gate.breaker.probe_abandoned()
            self.gate.changed()


class SubmitGate:
    """Open until something says stop; the first reason given stands."""

    def __init__(
        self,
        settings: GateSettings,
        clock: Clock,
        *,
        stop: asyncio.Event | None = None,
        stats: RunStats | None = None,
    ) -> None:
        self.settings = settings
        self._stop = stop  # set by the signal handler: read here, so no submit leaves after it
        self.clock = clock
        # Paid submits and the spend are recorded in the run's stats (summary.json).
        if stats is None:
            stats = RunStats(started_at="", spend=SpendTally.for_table(settings.prices))
        self.stats = stats
        self._reserved = Decimal(0)  # prices of turns taken and not yet paid or given back
        self.breaker = Breaker(settings.breaker)
        self.unknown_outcomes = 0
        self.halted: str | None = None  # why submitting stopped early, and what to do
        self.halted_by: StopReason | None = None  # the guard that shut the gate, or None
        self.stopping = False  # a signal or a fatal answer: no submit may leave now
        self.on_wire = 0  # paid submits sent and not yet answered
        self._changes = asyncio.Event()
        brake = settings.brake
        self._finished: deque[str | None] = deque(maxlen=brake.window if brake else 1)

    @property
    def is_open(self) -> bool:
        """Whether a submit may leave now; the first look past the deadline shuts
        the gate (so the deadline needs no timer of its own)."""
        stopped = self.stopping or (self._stop is not None and self._stop.is_set())
        deadline_at = self.settings.deadline_at
        if self.halted is None and deadline_at is not None and self.clock.now() >= deadline_at:
            self.shut(self._deadline_passed(), by=StopReason.DEADLINE)
        return self.halted is None and not stopped

    # -- turns ------------------------------------------------------------

    async def admit(
        self, model: str = "", params: Mapping[str, ParamValue] | None = None
    ) -> Turn | None:
        """Wait until a submit of `model` with `params` may go (the breaker's
        cool-down, another's probe, the spend reserved by submits whose outcome
        decides whether this one fits under the cap); None once submitting has
        stopped, or this submit would pass the cap."""
        table = self.settings.prices
        price = None if table is None else table.submit_price(model, params or {})
        while self.is_open:
            room = self._spend_room(price)
            if room is _Room.OVER and price is not None and self.settings.max_spend is not None:
                self.shut(
                    self._cap_reached(price, self.settings.max_spend), by=StopReason.MAX_SPEND
                )
                break
            if room is _Room.WAIT:
                await self._changes.wait()  # a reserved submit's outcome decides
                continue
            wait_s = self.breaker.wait_s(self.clock.now())
            if wait_s is None:
                if price is not None:
                    self._reserved += as_decimal(price)
                return Turn(self, probe=self.breaker.take_probe(), model=model, price=price)
            changes = self._changes
            if wait_s > 0:
                sleeper = asyncio.ensure_future(self.clock.sleep(wait_s))
                waiter = asyncio.ensure_future(changes.wait())
                try:
                    await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
                    waiter.cancel()
            else:
                await changes.wait()  # another submit is the probe: wait for its outcome
        return None

    def changed(self) -> None:
        """Wake every submit waiting for a turn: the gate's state moved."""
        self._changes.set()
        self._changes = asyncio.Event()

    def paid(self, turn: Turn) -> None:
        """A turn's submit may have been charged: its reservation becomes spend."""
        self._unreserve(turn.price)
        self.stats.paid(turn.model, turn.price)
        self.changed()

    def release(self, turn: Turn) -> None:
        """A turn that charged nothing (refused, or never sent): its reservation back."""
        if turn.price is not None:
            self._unreserve(turn.price)
            self.changed()

    def _unreserve(self, price: float | None) -> None:
        if price is not None:
            self._reserved -= as_decimal(price)

    def _spend_room(self, price: float | None) -> _Room:
        """Whether a submit at `price` fits under the cap: surely, surely not
        (whatever the submits in doubt turn out to be), or only if some of them
        are refused (then wait for them)."""
        cap, spend = self.settings.max_spend, self.stats.spend
        if cap is None or price is None or spend is None:
            return _Room.FITS
        limit, cost = as_decimal(cap), as_decimal(price)
        if spend.total + cost > limit:
            return _Room.OVER
        if spend.total + self._reserved + cost > limit:
            return _Room.WAIT
        return _Room.FITS

    def sending(self) -> None:
        self.on_wire += 1

    def answered(self) -> None:
        self.on_wire -= 1
        if self.on_wire == 0:
            self.changed()

    # -- what happened -----------------------------------------------------

    def outcome_known(self, *, probe: bool) -> None:
        if self.breaker.clean(probe=probe):
            log.warning("the probe submit was answered: submitting resumes")
        self.changed()

    def outcome_unknown(self, *, probe: bool) -> None:
        """A submit whose outcome is unknown: spend the budget; a burst pauses."""
        self.unknown_outcomes += 1
        cap = self.settings.max_unknown
        if cap is not None and self.unknown_outcomes >= cap:
            self.shut(self._budget_spent(cap), by=StopReason.MAX_UNKNOWN)
        else:
            pause_s = self.breaker.unknown(self.clock.now(), probe=probe)
            if pause_s is not None:
                log.warning(
                    "%d unknown outcome(s) among the last submits: submitting pauses for "
                    "%.1fs, then one probe submit",
                    self.breaker.last_burst,
                    pause_s,
                )
        self.changed()

    def task_finished(self, failure: str | None) -> None:
        """A task ended: `failure` is its `task_failed` message, None otherwise.
        Too many failures among the last ones engage the brake."""
        brake = self.settings.brake
        if brake is None:
            return
        self._finished.append(failure)
        failed = [message for message in self._finished if message is not None]
        if brake.engaged(len(failed)):
            self.shut(self._brake_engaged(brake, failed), by=StopReason.FAILURE_BRAKE)

    def shut(self, reason: str, *, by: StopReason) -> None:
        """Stop submitting for `reason`. The reason, with what to do, is told once,
        when the run ends (the launcher's last line); now, while tasks in flight are
        still finished, a short line says that submitting stopped and by which guard."""
        if self.halted is None:
            self.halted = reason
            self.halted_by = by
            log.warning(
                "submitting stopped (%s); the tasks already submitted are finished first",
                by.value,
            )
            self.changed()

    async def overtime(self) -> None:
        """Return when the deadline's grace is over, the gate shut (if nobody asked
        it since the deadline): the runner then leaves what is still in flight."""
        give_up_at = self.settings.give_up_at
        if give_up_at is None:
            raise AssertionError("no deadline: nothing to wait for")
        await self.clock.sleep(give_up_at - self.clock.now())
        self.shut(self._deadline_passed(), by=StopReason.DEADLINE)
        log.warning("the deadline's grace is over: tasks still in flight are left for the next run")

    def stop(self) -> None:
        """A signal or a fatal answer: no submit may leave from now on."""
        self.stopping = True
        self.changed()

    async def drain(self) -> None:
        """Stop submitting, then give the submits on the wire up to the grace
        period to be answered; those still unanswered become `unknown`."""
        self.stop()
        deadline = self.clock.now() + self.settings.stop_grace_s
        while self.on_wire > 0 and (left := deadline - self.clock.now()) > 0:
            sleeper = asyncio.ensure_future(self.clock.sleep(left))
            waiter = asyncio.ensure_future(self._changes.wait())
            try:
                await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waiter.cancel()

    # -- the closing lines -----------------------------------------------

    def _budget_spent(self, cap: int) -> str:
        return (
            f"submitting stopped: the unknown-outcome budget is spent ({self.unknown_outcomes} "
            f"submits with an unknown outcome; max_unknown {self.settings.budget.describe()} = "
            f"{cap} for {self.settings.planned_submits} planned submits). Each may have "
            "created a paid task. Check the service and the network, then run the same "
            "command again to continue with the pending rows (raise the budget with "
            "--max-unknown N or N%, job key max_unknown); `batchedit retry RUN_DIR --status "
            "unknown` resubmits the unknown ones if you accept paying for them again"
        )

    def _cap_reached(self, price: float, cap: float) -> str:
        table, spend = self.settings.prices, self.stats.spend
        assert table is not None and spend is not None  # a price implies both
        return (
            f"submitting stopped by the spend cap: the next submit ({table.amount(price)}) "
            f"would take the spend past max_spend {table.amount(cap)} (spent {spend.text()} "
            f"on {self.stats.paid_submissions} paid submission(s) in this run). The tasks "
            "submitted were polled and downloaded; the rest stay pending. Raise --max-spend "
            "(job key max_spend), then run the same command again to continue"
        )

    def _deadline_passed(self) -> str:
        grace = self.settings.deadline_grace_s
        return (
            f"submitting stopped at the deadline ({self.settings.deadline_text}): no submit "
            f"leaves after it; tasks in flight are polled for up to {grace:g}s more "
            "(deadline_grace), then left for the next run. Run the same command again to "
            "continue with the pending rows"
        )

    def _brake_engaged(self, brake: FailureBrake, failed: list[str]) -> str:
        shown = "; ".join(list(dict.fromkeys(failed))[:MAX_FAILURE_EXAMPLES])
        return (
            f"submitting stopped by the failure brake (halt_on_failure {brake.describe()}): "
            f"{len(failed)} of the last {len(self._finished)} finished tasks failed "
            f"(task_failed), e.g. {shown}. Tasks already submitted were finished; the rest "
            "stay pending. Fix the cause (the prompt template, the inputs, the model), then "
            "run the same command again; --halt-on-failure off disables the brake"
        )
