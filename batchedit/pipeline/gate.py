"""Whether submitting may go on: the one owner of "stop paying now".

Submitters ask it before each paid submit; the producer stops reading rows
when it is shut. Polls and downloads go on regardless: what was paid for is
still collected. Shut for good by a cap on unknown outcomes (each may have
been a paid task), or by a failure the run cannot write down (a journal that
no longer takes lines); the reason says what to do next.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class SubmitGate:
    """Open until something says stop; the first reason given stands."""

    __slots__ = ("max_unknown", "unknown_outcomes", "halted")

    def __init__(self, *, max_unknown: int | None) -> None:
        self.max_unknown = max_unknown
        self.unknown_outcomes = 0
        self.halted: str | None = None  # why submitting stopped early, and what to do

    @property
    def is_open(self) -> bool:
        return self.halted is None

    def shut(self, reason: str) -> None:
        if self.halted is None:
            self.halted = reason
            log.error("%s", reason)

    def count_unknown(self) -> None:
        """Past `max_unknown` unknown outcomes something is wrong between us and
        the service (each may have been paid for): stop submitting."""
        self.unknown_outcomes += 1
        cap = self.max_unknown
        if cap and self.unknown_outcomes >= cap:
            self.shut(
                f"submitting stopped after {self.unknown_outcomes} submits with an unknown "
                f"outcome (max_unknown {cap}): each may have created a paid task. Check the "
                "service and the network, then run the same command again to continue with "
                "the pending rows; `batchedit retry RUN_DIR --status unknown` resubmits the "
                "unknown ones if you accept paying for them again"
            )
