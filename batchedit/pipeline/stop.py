"""Why a run ended early: one name per kind of stop, read by the summary
(`stopped_by`), the closing lines and the command line's exit codes.

The pipeline only says which stop it was; what a stop means to a shell (the
exit code) is the command line's (`cli/exits.py`), and what it means to a
Python caller is the `RunOutcome` it gets back."""

from __future__ import annotations

from enum import StrEnum


class StopReason(StrEnum):
    """A run that went to its end has none. When several happen in one run,
    the first of these in `PRECEDENCE` is the one told."""

    LOCAL_FAILURE = "local_failure"  # the disk, the system: state saved, a re-run continues
    INTERNAL_ERROR = "internal_error"  # a bug: state saved, a re-run continues
    FATAL_API = "fatal_api"  # 401, 402, a wait past max_wait_s: unfinished rows pending
    MAX_UNKNOWN = "max_unknown"  # the unknown-outcome budget is spent
    INTERRUPTED = "interrupted"  # SIGINT, SIGTERM, or the caller cancelled
    FAILURE_BRAKE = "halt_on_failure"  # too many failed tasks among the last ones


#: The stop told when a run saw several (a disk failure during a signal's stop, say).
PRECEDENCE = tuple(StopReason)
