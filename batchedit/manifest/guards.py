"""The settings of the guards against paying for what was not meant: the
unknown-outcome budget (`max_unknown: N | P%`) and the failure brake
(`halt_on_failure: RATE[/WINDOW] | off`), parsed from the job file or the
command line with messages that say what is allowed. docs/guards.md
describes both."""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The default budget: 2% of the planned submits, and never fewer than this.
DEFAULT_BUDGET_PERCENT = 2.0
BUDGET_FLOOR = 5
DEFAULT_BRAKE_RATE = 0.5
DEFAULT_BRAKE_WINDOW = 20


@dataclass(frozen=True, slots=True)
class UnknownBudget:
    """How many submits may end `unknown` before the run stops: a count, or a
    share of the run's planned submits (with a floor). 0 means no budget."""

    count: int | None = None
    percent: float | None = DEFAULT_BUDGET_PERCENT
    floor: int = BUDGET_FLOOR

    def limit(self, planned_submits: int) -> int | None:
        """The number of unknown outcomes that stops this run; None: no limit."""
        if self.count is not None:
            return self.count or None
        if self.percent is None or self.percent == 0:
            return None
        return max(self.floor, math.ceil(planned_submits * self.percent / 100))

    def describe(self) -> str:
        if self.count is not None:
            return str(self.count)
        floor = f", at least {self.floor}" if self.floor > 1 else ""
        return f"{self.percent:g}%{floor}"


def parse_unknown_budget(value: object) -> UnknownBudget:
    """`5` (a count; 0 for no budget) or `3%` (a share of the planned submits)."""
    if isinstance(value, UnknownBudget):
        return value
    text = str(value).strip() if isinstance(value, str | int) else ""
    if isinstance(value, bool):
        text = ""
    problem = ValueError(
        f"max_unknown must be a whole number of submits (0 for no budget) or a share "
        f"such as 2% of the planned submits (got {value!r})"
    )
    if text.endswith("%"):
        try:
            percent = float(text[:-1])
        except ValueError:
            raise problem from None
        if not math.isfinite(percent) or not 0 <= percent <= 100:
            raise problem
        return UnknownBudget(count=None, percent=percent, floor=1)
    if not (text.isascii() and text.isdigit()):  # '²' is a digit to isdigit, not to int
        raise problem
    return UnknownBudget(count=int(text), percent=None)


@dataclass(frozen=True, slots=True)
class FailureBrake:
    """Stop submitting when more than `rate` of the last `window` finished
    tasks failed with `task_failed` (GNU parallel's `--halt soon,fail=N%`)."""

    rate: float = DEFAULT_BRAKE_RATE
    window: int = DEFAULT_BRAKE_WINDOW

    def engaged(self, failures: int) -> bool:
        """Whether `failures` among the last `window` finished tasks is too many.
        Decided as soon as the count is past the share of a whole window, so a
        run that fails from the start stops after rate x window failures."""
        return failures > self.rate * self.window

    def describe(self) -> str:
        return f"{self.rate:g}/{self.window}"


def parse_failure_brake(value: object) -> FailureBrake | None:
    """`0.5/20`, `0.5` (the default window), `50%/20`, or `off` (None)."""
    if isinstance(value, FailureBrake) or value is None or value is False:
        return value or None  # YAML reads a bare `off` as false
    text = str(value).strip().lower() if isinstance(value, str | float | int) else ""
    if text == "off":
        return None
    if isinstance(value, bool):
        text = ""
    problem = ValueError(
        "halt_on_failure must be RATE[/WINDOW] such as 0.5/20 (RATE between 0 and 1, or a "
        f"percentage; WINDOW a whole number of finished tasks, at least 1), or off (got {value!r})"
    )
    rate_text, _, window_text = text.partition("/")
    try:
        rate = float(rate_text[:-1]) / 100 if rate_text.endswith("%") else float(rate_text)
        window = int(window_text) if window_text else DEFAULT_BRAKE_WINDOW
    except ValueError:
        raise problem from None
    if not math.isfinite(rate) or not 0 <= rate < 1 or window < 1:
        raise problem
    return FailureBrake(rate, window)
