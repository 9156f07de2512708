"""How a run ended, named once (`StopReason`) and mapped to an exit code in
one table (`cli/exits.py`); the Python API gets typed results, never an
AssertionError."""

from __future__ import annotations

import pytest

from batchedit.cli.exits import EXIT_CODE_OF_STOP, run_exit_code
from batchedit.errors import FatalApiError, LocalFailure, ReportNotWritten
from batchedit.pipeline.config import RunOutcome
from batchedit.pipeline.stop import PRECEDENCE, StopReason
from batchedit.records import ErrorCategory


def test_every_stop_has_one_exit_code_of_the_contract() -> None:
    assert set(EXIT_CODE_OF_STOP) == set(StopReason)
    assert {code for code in EXIT_CODE_OF_STOP.values()} <= {1, 3, 4, 130}
    assert EXIT_CODE_OF_STOP[StopReason.INTERRUPTED] == 130
    assert EXIT_CODE_OF_STOP[StopReason.FATAL_API] == 3
    assert EXIT_CODE_OF_STOP[StopReason.MAX_UNKNOWN] == 3
    assert EXIT_CODE_OF_STOP[StopReason.LOCAL_FAILURE] == 4
    assert EXIT_CODE_OF_STOP[StopReason.FAILURE_BRAKE] == 1


def test_a_local_failure_is_told_before_a_fatal_answer_and_an_interruption() -> None:
    assert PRECEDENCE.index(StopReason.LOCAL_FAILURE) < PRECEDENCE.index(StopReason.FATAL_API)
    assert PRECEDENCE.index(StopReason.FATAL_API) < PRECEDENCE.index(StopReason.INTERRUPTED)
    assert PRECEDENCE.index(StopReason.INTERRUPTED) < PRECEDENCE.index(StopReason.FAILURE_BRAKE)


def test_summary_names_a_fatal_stop_by_its_error_category() -> None:
    fatal = FatalApiError("401 unauthorized", http_status=401, category=ErrorCategory.AUTH)
    outcome = RunOutcome(None, StopReason.FATAL_API, str(fatal), fatal)
    assert outcome.stopped_by == "auth"
    assert RunOutcome(None, StopReason.INTERNAL_ERROR, "bug").stopped_by == "local_failure"
    assert RunOutcome(None).stopped_by is None


def test_a_report_that_could_not_be_written_raises_a_local_failure_not_an_assertion() -> None:
    outcome = RunOutcome(None, StopReason.LOCAL_FAILURE, "disk full", report_error="disk full")
    with pytest.raises(ReportNotWritten, match="disk full") as raised:
        _ = outcome.summary
    assert isinstance(raised.value, LocalFailure)
    assert run_exit_code(outcome) == 4
