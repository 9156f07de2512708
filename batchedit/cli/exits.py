"""Exit codes (CONTRACT.md "Exit codes"), named once for every command, and
a run's exit code from how it ended (the table is pipeline/stop.py's)."""

from __future__ import annotations

# A run's exit code is decided once, beside its stops (pipeline/stop.py), since the
# history of runs and the metrics record it too: the command line exits with it.
from batchedit.pipeline.config import run_exit_code
from batchedit.pipeline.stop import EXIT_CODE_OF_STOP

EXIT_OK = 0  # every row succeeded (or the command did what it was asked)
EXIT_SOME_FAILED = 1  # the run completed but some rows are failed, unknown or invalid
EXIT_USAGE = 2  # usage error, unreadable source, a guard refused; nothing submitted
EXIT_FATAL = 3  # stopped by a fatal API condition; unfinished rows stay pending
EXIT_LOCAL = 4  # a local failure (disk full, permissions) or an internal error
EXIT_INTERRUPTED = 130  # SIGINT or SIGTERM; state saved, a re-run continues


__all__ = [
    "EXIT_CODE_OF_STOP",
    "EXIT_FATAL",
    "EXIT_INTERRUPTED",
    "EXIT_LOCAL",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_USAGE",
    "run_exit_code",
]
