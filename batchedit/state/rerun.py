"""The re-run rule's core: what running a row again does, read from where
the row stands, one decision for every reader.

`pipeline/plan/resume.py` plans each row of a run with it (from the row's
journal history, adding what only a plan can see: a changed request, output
files, expiry, another API origin), and `report/counts.py` reads it from each
report line for the closing advice and `batchedit status`, so what they tell
and what a run then does cannot part. It lives here, below both (the report
layer may not import the pipeline), and is pure: no file is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from batchedit.records import POLLABLE_FAILURES, ErrorCategory, Status


class Action(StrEnum):
    SUBMIT = "submit"  # pay for a new task
    RESUBMIT = "resubmit"  # pay again: the files are gone and the results expired
    REPLACE = "replace"  # pay again: the row holds another API origin's outcome
    POLL = "poll"  # a task id is known: look at it again
    FETCH = "fetch"  # succeeded, but its files are gone: download them again
    KEEP = "keep"  # nothing to do: the journal's outcome stands


PAID_ACTIONS = frozenset({Action.SUBMIT, Action.RESUBMIT, Action.REPLACE})


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a row that did not succeed stands, for an unchanged request: its
    status, its known task id, its error's category, and whether its result
    was refused by the picture policy (fetching it again brings the same)."""

    status: Status
    task_id: str | None = None
    category: ErrorCategory | None = None
    refused: bool = False


def standing_action(standing: Standing, *, retrying: bool) -> Action:
    """What a run does with a row that has not succeeded and whose request is
    unchanged: a known task still running, or failed in a way a wait can cure,
    is polled (free); a row never sent is submitted; anything else (failed,
    unknown) is left as it is unless a retry selected it, which pays again."""
    status, task_id = standing.status, standing.task_id
    if status is Status.PENDING:
        return Action.POLL if task_id else Action.SUBMIT
    if status is Status.FAILED and task_id and _pollable(standing):
        return Action.POLL
    return Action.SUBMIT if retrying else Action.KEEP


def _pollable(standing: Standing) -> bool:
    return standing.category in POLLABLE_FAILURES and not standing.refused


def retried_by_default(status: Status, category: ErrorCategory | None) -> bool:
    """Whether a plain `batchedit retry` (`--status failed`, no `--category`)
    re-runs a row: every failure but a safety refusal (`content_policy`), which
    the same request would meet again, paid for again."""
    return status is Status.FAILED and category is not ErrorCategory.CONTENT_POLICY
