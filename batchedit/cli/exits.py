"""Exit codes (CONTRACT.md "Exit codes"), named once for every command, and
the one table from how a run ended to the code it exits with."""

from __future__ import annotations

from collections.abc import Mapping

from batchedit.pipeline.config import RunOutcome
from batchedit.pipeline.stop import StopReason

EXIT_OK = 0  # every row succeeded (or the command did what it was asked)
EXIT_SOME_FAILED = 1  # the run completed but some rows are failed, unknown or invalid
EXIT_USAGE = 2  # usage error, unreadable source, a guard refused; nothing submitted
EXIT_FATAL = 3  # stopped by a fatal API condition; unfinished rows stay pending
EXIT_LOCAL = 4  # a local failure (disk full, permissions) or an internal error
EXIT_INTERRUPTED = 130  # SIGINT or SIGTERM; state saved, a re-run continues

#: A run stopped early exits with its stop's code; the failure brake is a run
#: that completed with failures (it stops paying, not the run's other work).
EXIT_CODE_OF_STOP: Mapping[StopReason, int] = {
    StopReason.LOCAL_FAILURE: EXIT_LOCAL,
    StopReason.INTERNAL_ERROR: EXIT_LOCAL,
    StopReason.FATAL_API: EXIT_FATAL,
    StopReason.MAX_UNKNOWN: EXIT_FATAL,
    StopReason.INTERRUPTED: EXIT_INTERRUPTED,
    StopReason.FAILURE_BRAKE: EXIT_SOME_FAILED,
}


def run_exit_code(outcome: RunOutcome) -> int:
    """0 every row succeeded, 1 some did not, else the code of the run's stop."""
    if outcome.stop is not None:
        return EXIT_CODE_OF_STOP[outcome.stop]
    if outcome.written is None:
        return EXIT_LOCAL
    return EXIT_OK if outcome.written.counts.all_succeeded else EXIT_SOME_FAILED
