"""Exit codes (CONTRACT.md "Exit codes"), named once for every command."""

from __future__ import annotations

EXIT_OK = 0  # every row succeeded (or the command did what it was asked)
EXIT_SOME_FAILED = 1  # the run completed but some rows are failed, unknown or invalid
EXIT_USAGE = 2  # usage error, unreadable source, a guard refused; nothing submitted
EXIT_FATAL = 3  # stopped by a fatal API condition; unfinished rows stay pending
EXIT_LOCAL = 4  # a local failure (disk full, permissions) or an internal error
EXIT_INTERRUPTED = 130  # SIGINT or SIGTERM; state saved, a re-run continues
