"""Why a run ended early: one name per kind of stop, read by the summary
(`stopped_by`), the closing lines and the command line's exit codes.

The pipeline says which stop it was. The exit code each stop means is
decided here too, once (`exit_code`): the command line exits with it
(`cli/exits.py`), and the history of runs and the metrics record it, so that
a run started from Python is told there as the shell would have seen it.
What a stop means to a Python caller is the `RunOutcome` it gets back."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from batchedit.errors import UsageError


class StopReason(StrEnum):
    """A run that went to its end has none. When several happen in one run,
    the first of these in `PRECEDENCE` is the one told."""

    LOCAL_FAILURE = "local_failure"  # the disk, the system: state saved, a re-run continues
    INTERNAL_ERROR = "internal_error"  # a bug: state saved, a re-run continues
    FATAL_API = "fatal_api"  # 401, 402, a wait past max_wait_s: unfinished rows pending
    MAX_UNKNOWN = "max_unknown"  # the unknown-outcome budget is spent
    MAX_SPEND = "max_spend"  # the next submit would have passed the spend cap
    DEADLINE = "deadline"  # the deadline passed: no submit after it, the rest pending
    INTERRUPTED = "interrupted"  # SIGINT, SIGTERM, or the caller cancelled
    FAILURE_BRAKE = "halt_on_failure"  # too many failed tasks among the last ones


#: The stop told when a run saw several (a disk failure during a signal's stop, say).
PRECEDENCE = tuple(StopReason)


#: The contract's exit codes of a run (CONTRACT.md "Exit codes"), as cli/exits.py names them.
_OK, _SOME_FAILED, _FATAL, _LOCAL, _INTERRUPTED = 0, 1, 3, 4, 130

#: A run stopped early exits with its stop's code; the failure brake is a run
#: that completed with failures (it stops paying, not the run's other work).
EXIT_CODE_OF_STOP: Mapping[StopReason, int] = {
    StopReason.LOCAL_FAILURE: _LOCAL,
    StopReason.INTERNAL_ERROR: _LOCAL,
    StopReason.FATAL_API: _FATAL,
    StopReason.MAX_UNKNOWN: _FATAL,
    StopReason.MAX_SPEND: _FATAL,
    StopReason.DEADLINE: _FATAL,
    StopReason.INTERRUPTED: _INTERRUPTED,
    StopReason.FAILURE_BRAKE: _SOME_FAILED,
}


def exit_code(stop: StopReason | None, all_succeeded: bool | None) -> int:
    """0 every row succeeded, 1 some did not, else the code of the run's stop;
    `all_succeeded` None: the report could not be written (a local failure)."""
    if stop is not None:
        return EXIT_CODE_OF_STOP[stop]
    if all_succeeded is None:
        return _LOCAL
    return _OK if all_succeeded else _SOME_FAILED


class RunRefused(UsageError):
    """The run must not start (--strict, every row invalid, a cost guard, no
    confirmation, a lost journal); nothing was submitted and a new run
    directory is removed."""
