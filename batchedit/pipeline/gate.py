"""Whether submitting may go on: the one owner of "stop paying now".

Submitters wait for a turn before each paid submit (`admit`); the producer
stops reading rows once the gate is shut. Polls and downloads go on
regardless: what was paid for is still collected. Three guards live here:

- the breaker (breaker.py): a burst of unknown outcomes pauses submitting
  for a cool-down, then one probe submit decides whether to resume;
- the unknown-outcome budget (`max_unknown`): past it the gate shuts for
  good and the run ends with exit 3, the rest of the rows `pending`;
- the failure brake (`halt_on_failure`): when too many of the last finished
  tasks failed, the gate shuts and the run ends with exit 1.

A stop from outside (a signal, a 401/402) shuts the gate too, and
`drain` gives the submits already on the wire a grace period to be answered
before the stages are cancelled, so that their outcome is known rather than
`unknown`. The first reason given stands; it says what to do next.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from batchedit.clock import Clock
from batchedit.manifest.guards import FailureBrake, UnknownBudget
from batchedit.pipeline.breaker import Breaker, BreakerSettings
from batchedit.pipeline.stop import StopReason

log = logging.getLogger(__name__)

MAX_FAILURE_EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class GateSettings:
    """The gate's limits, resolved for one run."""

    max_unknown: int | None  # unknown outcomes before the run stops; None: no budget
    budget: UnknownBudget  # what the user set, for the closing line
    planned_submits: int
    brake: FailureBrake | None  # None: `halt_on_failure: off`
    breaker: BreakerSettings = BreakerSettings()
    stop_grace_s: float = 5.0  # how long submits on the wire may take to answer at a stop


class Turn:
    """One submit's leave to go; a probe's turn must say how it went."""

    __slots__ = ("gate", "probe", "reported")

    def __init__(self, gate: SubmitGate, *, probe: bool) -> None:
        self.gate = gate
        self.probe = probe
        self.reported = False

    def known(self) -> None:
        """The service answered (accepted, or refused): nothing is in doubt."""
        self.reported = True
        self.gate.outcome_known(probe=self.probe)

    def unknown(self) -> None:
        """No answer came back: a task may exist and be charged."""
        self.reported = True
        self.gate.outcome_unknown(probe=self.probe)

    def close(self) -> None:
        """Leaving without an outcome (stopped, cancelled): a probe's place is freed."""
        if self.probe and not self.reported:
            self.gate.breaker.probe_abandoned()
            self.gate.changed()


class SubmitGate:
    """Open until something says stop; the first reason given stands."""

    def __init__(
        self, settings: GateSettings, clock: Clock, *, stop: asyncio.Event | None = None
    ) -> None:
        self.settings = settings
        self._stop = stop  # set by the signal handler: read here, so no submit leaves after it
        self.clock = clock
        self.breaker = Breaker(settings.breaker)
        self.unknown_outcomes = 0
        self.halted: str | None = None  # why submitting stopped early, and what to do
        self.halted_by: StopReason | None = None  # MAX_UNKNOWN, FAILURE_BRAKE, or None
        self.stopping = False  # a signal or a fatal answer: no submit may leave now
        self.on_wire = 0  # paid submits sent and not yet answered
        self._changes = asyncio.Event()
        brake = settings.brake
        self._finished: deque[str | None] = deque(maxlen=brake.window if brake else 1)

    @property
    def is_open(self) -> bool:
        stopped = self.stopping or (self._stop is not None and self._stop.is_set())
        return self.halted is None and not stopped

    # -- turns ------------------------------------------------------------

    async def admit(self) -> Turn | None:
        """Wait until a submit may go (the breaker's cool-down, another's probe);
        None once submitting has stopped."""
        while self.is_open:
            wait_s = self.breaker.wait_s(self.clock.now())
            if wait_s is None:
                return Turn(self, probe=self.breaker.take_probe())
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

    def shut(self, reason: str, *, by: StopReason | None = None) -> None:
        if self.halted is None:
            self.halted = reason
            self.halted_by = by
            log.error("%s", reason)
            self.changed()

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

    def _brake_engaged(self, brake: FailureBrake, failed: list[str]) -> str:
        shown = "; ".join(list(dict.fromkeys(failed))[:MAX_FAILURE_EXAMPLES])
        return (
            f"submitting stopped by the failure brake (halt_on_failure {brake.describe()}): "
            f"{len(failed)} of the last {len(self._finished)} finished tasks failed "
            f"(task_failed), e.g. {shown}. Tasks already submitted were finished; the rest "
            "stay pending. Fix the cause (the prompt template, the inputs, the model), then "
            "run the same command again; --halt-on-failure off disables the brake"
        )
