"""What a run does with each valid row, given what earlier runs left behind.

The contract's "Re-runs", as one pure decision per row (`plan_row`):

- a row that succeeded, whose request is unchanged and whose output files are
  intact, costs nothing, not even a poll;
- a succeeded row whose files were deleted or altered is downloaded again from
  its result URLs while they have not expired, and resubmitted otherwise
  (`RESUBMIT`: paid, and counted as paid by the plan and the cost guard; a
  download that finds the results gone marks them expired and pays nothing,
  so the next run plans the resubmit where the guard sees it);
- a succeeded row whose output name or format changed in the job is
  downloaded again under its new name while its results have not expired
  (and left as it is otherwise: a new name is not worth paying for);
- a row whose request changed is resubmitted, whatever its past;
- a row whose journal holds another API origin's outcome (origins.py: the
  simulator's, for a real run) is resubmitted (`REPLACE`: paid, counted and
  said why by the plan and the cost guard), since another origin's results
  and tasks settle nothing here; but a run against `run --simulate`'s
  simulator leaves a real origin's outcomes as they are (`KEEP`): a
  simulator never replaces paid work;
- a known task that never reached an end (the run was stopped, or it failed in
  a way a wait can cure: timeout, a failed download, the network) is polled,
  not paid for again; a result the picture policy refused (too large, past
  the metadata bound, not an image) is not fetched again;
- `unknown` rows (a submit whose answer never came) and `failed` rows are left
  as they are: they cost money to repeat, so only `batchedit retry` repeats
  them, and a retry touches nothing else;
- a row with a journal line this version cannot read after its latest
  readable one is held: polled when its task id is known for this request,
  else left `unknown`; never resubmitted silently;
- a retry also resubmits the rows it names (rejected in review), whatever
  their status, unless their new request is already running.

Runs in the producer's thread: it stats output files and may hash them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from batchedit.api.task_state import expiry_epoch_s
from batchedit.origins import Origin
from batchedit.records import ErrorCategory, Row, Status
from batchedit.state.fingerprint import sha256_file
from batchedit.state.history import RowHistory, row_status
from batchedit.state.journal import Finished, JournalEntry, Submitted
from batchedit.state.rerun import (
    PAID_ACTIONS,
    Action,
    Standing,
    retried_by_default,
    standing_action,
)

__all__ = ["PAID_ACTIONS", "Action", "RetryScope", "RowPlan", "outputs_intact", "plan_row"]

#: A result URL this close to its expiry is treated as expired already.
EXPIRY_MARGIN_S = 60.0


@dataclass(frozen=True, slots=True)
class RetryScope:
    """The rows `batchedit retry` re-runs: those now in `statuses`, and those
    named in `ids` (sent back from review), whatever their status.

    Of the failed rows, those whose error is in `categories`; when none are
    named, every failure but a safety refusal (`content_policy`): the same
    request would be refused again, and paid for again, so only `--category
    content_policy` (or a changed prompt, which any run resubmits) asks for it."""

    statuses: frozenset[Status] = frozenset()
    ids: frozenset[str] = frozenset()
    categories: frozenset[ErrorCategory] | None = None

    def selects(self, status: Status, history: RowHistory | None) -> bool:
        """Whether a row now in `status` (not named in `ids`) is re-run."""
        if status not in self.statuses:
            return False
        if status is not Status.FAILED:
            return True
        latest = None if history is None else history.latest
        error = latest.error if isinstance(latest, Finished) else None
        category = None if error is None else error.category
        if self.categories is None:
            return retried_by_default(status, category)
        return category in self.categories


@dataclass(frozen=True, slots=True)
class RowPlan:
    row: Row
    action: Action
    fingerprint: str
    history: RowHistory | None
    #: The other API origin whose outcome the row holds (REPLACE, or a real
    #: outcome a simulated run keeps); None when it is this run's origin's.
    foreign: Origin | None = None

    @property
    def paid(self) -> bool:
        """Whether carrying out this plan pays for a task."""
        return self.action in PAID_ACTIONS


def plan_row(
    row: Row,
    fingerprint: str,
    history: RowHistory | None,
    *,
    origin: Origin,
    run_dir: Path,
    now_epoch_s: float,
    retry: RetryScope | None = None,
    layout: str | None = None,
) -> RowPlan:
    """Decide one row for a run against `origin`. `retry` limits the run to the
    rows it selects (`batchedit retry`), and lets it resubmit `unknown` and
    `failed` ones."""
    status = row_status(history, fingerprint)
    foreign = _foreign(history, origin)
    if retry is not None and row.id in retry.ids:
        running = (
            history is not None
            and foreign is None
            and history.fingerprint == fingerprint
            and isinstance(history.latest, Submitted)
        )
        return RowPlan(row, Action.POLL if running else Action.SUBMIT, fingerprint, history)
    if retry is not None and not retry.selects(status, history):
        return RowPlan(row, Action.KEEP, fingerprint, history)
    if history is not None and history.unreadable is not None:
        held = standing_action(Standing(status, history.task_id), retrying=retry is not None)
        return RowPlan(row, held, fingerprint, history)
    if history is None or history.fingerprint != fingerprint or history.latest is None:
        return RowPlan(row, Action.SUBMIT, fingerprint, history)  # new, or changed
    if foreign is not None:
        # A simulator's run leaves a real origin's outcome alone; any other
        # run pays for the row here, as its results are not this origin's.
        keep = origin.simulated and not foreign.simulated
        return RowPlan(row, Action.KEEP if keep else Action.REPLACE, fingerprint, history, foreign)
    action = _action(history.latest, run_dir, now_epoch_s, retrying=retry is not None)
    latest = history.latest
    if action is Action.KEEP and isinstance(latest, Finished) and _moved(latest, layout):
        if _fetchable(latest, now_epoch_s):
            action = Action.FETCH
    return RowPlan(row, action, fingerprint, history)


def _foreign(history: RowHistory | None, origin: Origin) -> Origin | None:
    """The other origin whose outcome the row's journal holds, or None."""
    if history is None or history.settles_for(origin):
        return None
    return history.origin


def _moved(finished: Finished, layout: str | None) -> bool:
    """A succeeded row whose files the job now names or formats otherwise."""
    return (
        finished.status is Status.SUCCEEDED
        and None not in (finished.layout, layout)
        and finished.layout != layout
    )


def _action(latest: JournalEntry, run_dir: Path, now_epoch_s: float, *, retrying: bool) -> Action:
    """The action for an unchanged request, from its latest journal entry: a
    success by its files and expiry, anything else by the rule every reader
    shares (state/rerun.py)."""
    if isinstance(latest, Finished) and latest.status is Status.SUCCEEDED:
        if outputs_intact(run_dir, latest):
            return Action.KEEP
        return Action.FETCH if _fetchable(latest, now_epoch_s) else Action.RESUBMIT
    if isinstance(latest, Finished):
        error = latest.error
        category = None if error is None else error.category
        standing = Standing(latest.status, latest.task_id, category, latest.refused)
    elif isinstance(latest, Submitted):
        standing = Standing(Status.PENDING, latest.task_id)  # running when the last run ended
    else:
        standing = Standing(Status.UNKNOWN)  # an intent with no answer
    return standing_action(standing, retrying=retrying)


def _fetchable(finished: Finished, now_epoch_s: float) -> bool:
    if not finished.result_urls:
        return False
    expires = _epoch_s(finished.expires_at)
    return expires is None or expires - EXPIRY_MARGIN_S > now_epoch_s


def _epoch_s(expires_at: str | None) -> float | None:
    """The journal's expiry (ISO 8601; an older run kept the service's own
    text, epoch seconds or milliseconds among them); None when unreadable:
    try the download, it says 410 if it is gone."""
    return expiry_epoch_s(expires_at)


def outputs_intact(run_dir: Path, finished: Finished) -> bool:
    """Every file of every output (its own, and its original when kept) is
    there with its recorded size, and either its recorded modification time
    or, failing that, its recorded sha256."""
    if not finished.outputs:
        return False
    mtimes = finished.output_mtimes_ns
    files = [entry for output in finished.outputs for entry in output.files()]
    for number, (relative, sha256, size) in enumerate(files):
        path = run_dir / relative
        try:
            stat = path.stat()
        except OSError:
            return False
        if stat.st_size != size:
            return False
        same_mtime = number < len(mtimes) and mtimes[number] == stat.st_mtime_ns
        if not same_mtime and sha256_file(path) != sha256:
            return False
    return True
