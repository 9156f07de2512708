"""report.jsonl: one line per manifest row, in manifest order, written whole.

The report is a join, not a memory: the manifest is streamed once more and
each row meets its latest journal entry (by row id, see `history.py`). So the
report costs a few bytes of memory per row however large the run, is the
same whether the run finished or was interrupted, and rows the journal
never heard of, or whose request changed since, come out `pending` (or
`invalid`, from validation).
Synchronous throughout: the pipeline runs it in a thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from batchedit.errors import SourceError, UsageError
from batchedit.jsonlines import loads
from batchedit.records import (
    Check,
    ErrorCategory,
    InputSent,
    InvalidRow,
    OutputFile,
    ReportRecord,
    ResumeKey,
    Row,
    RowError,
    Status,
)
from batchedit.report.decisions import Decision, read_decisions
from batchedit.state.history import RowHistory, row_status
from batchedit.state.journal import Finished, Submitted, Submitting
from batchedit.state.lock import lock_holder
from batchedit.state.rundir import RunPaths

log = logging.getLogger(__name__)


def no_report_yet(paths: RunPaths, otherwise: str) -> UsageError:
    """Why a run directory has no report.jsonl to read. A directory's first run
    writes its report only when it ends, so while it goes there is nothing to
    show: say so, with its pid, rather than doubt that this is a run
    directory. Exit 2, as for a locked run directory."""
    holder = lock_holder(paths)
    if holder is not None:
        return UsageError(
            f"{paths.root}: a run is in progress (pid {holder}); nothing to show yet "
            "(its report is written when it ends)"
        )
    return UsageError(f"{paths.root}: {otherwise}")


def request_record(
    row: Row,
    status: Status,
    *,
    task_id: str | None = None,
    outputs: tuple[OutputFile, ...] = (),
    error: RowError | None = None,
    attempts: int = 0,
    submitted_at: str | None = None,
    finished_at: str | None = None,
    latency_s: float | None = None,
    checks: tuple[Check, ...] = (),
    inputs: tuple[InputSent, ...] = (),
) -> ReportRecord:
    """A report record for a valid row, filled with what the row asked for
    (and `inputs`, what was sent for its images, once known)."""
    request = row.request
    return ReportRecord(
        id=row.id,
        row=row.index,
        line=row.line,
        status=status,
        model=request.model,
        prompt=request.prompt,
        images=tuple(image.given for image in request.images),
        params=request.params(),
        fields=dict(row.fields),
        task_id=task_id,
        outputs=outputs,
        error=error,
        attempts=attempts,
        submitted_at=submitted_at,
        finished_at=finished_at,
        latency_s=latency_s,
        checks=checks,
        inputs=inputs,
    )


def invalid_record(row: InvalidRow) -> ReportRecord:
    message = "; ".join(problem.message for problem in row.problems)
    return ReportRecord(
        id=row.id,
        row=row.index,
        line=row.line,
        status=Status.INVALID,
        model=row.model,
        prompt=row.prompt,
        images=row.images,
        params=dict(row.params),
        fields=dict(row.fields),
        error=RowError(ErrorCategory.INVALID_INPUT, message),
    )


UNKNOWN_MESSAGE = (
    "the run stopped while this row's paid submit was on its way; the task may exist. "
    "Check the service, then `batchedit retry RUN_DIR --status unknown` to submit it again"
)


def decisions_or_none(paths: RunPaths) -> dict[str, Decision]:
    """The review decisions; an unreadable file must not cost the report itself."""
    try:
        return read_decisions(paths.decisions)
    except (SourceError, OSError) as exc:
        log.warning("decisions not read, the report shows none: %s", exc)
        return {}


def outcome_record(
    asked: ReportRecord, fingerprint: str | None, history: RowHistory | None, attempts: int
) -> ReportRecord:
    """`asked` (what the row asks for: `request_record` of a pending row) with
    the outcome the journal holds for the request whose fingerprint is
    `fingerprint`: the one place a valid row's report line is decided."""
    status = row_status(history, fingerprint)
    if history is None:
        return replace(asked, status=status, attempts=attempts)
    latest = history.latest
    # What rebuilds this outcome if the journal is lost (run --rebuild-state).
    resume = None if fingerprint is None else ResumeKey(fingerprint, history.origin)
    if history.unreadable is not None:
        return replace(
            asked,
            status=status,
            task_id=history.task_id if status is Status.PENDING else None,
            error=RowError(ErrorCategory.UNKNOWN_OUTCOME, _unreadable_message(history)),
            attempts=attempts,
            resume=resume,
        )
    if history.fingerprint != fingerprint:
        return replace(asked, status=status, attempts=attempts)
    origin = None if history.origin is None else history.origin.label
    if isinstance(latest, Finished):
        if resume is not None:
            resume = replace(
                resume,
                result_urls=latest.result_urls,
                expires_at=latest.expires_at,
                layout=latest.layout,
                refused=latest.refused,
            )
        return replace(
            asked,
            origin=origin,
            status=status,
            task_id=latest.task_id,
            outputs=latest.outputs,
            error=latest.error,
            attempts=attempts,
            submitted_at=latest.submitted_at,
            finished_at=latest.finished_at,
            latency_s=latest.latency_s,
            checks=latest.checks,
            resume=resume,
            inputs=latest.inputs or asked.inputs,
        )
    if isinstance(latest, Submitted):
        return replace(
            asked,
            origin=origin,
            status=status,
            task_id=latest.task_id,
            submitted_at=latest.at,
            attempts=attempts,
            resume=resume,
        )
    error = RowError(ErrorCategory.UNKNOWN_OUTCOME, UNKNOWN_MESSAGE)
    submitted_at = latest.at if isinstance(latest, Submitting) else None
    return replace(
        asked,
        origin=origin,
        status=status,
        error=error,
        attempts=attempts,
        submitted_at=submitted_at,
        resume=resume,
    )


def _unreadable_message(history: RowHistory) -> str:
    unreadable = history.unreadable
    where = "" if unreadable is None else f" at byte {unreadable.offset}"
    if history.task_id is not None:
        return (
            f"a journal line{where} cannot be read by this version of batchedit; its task "
            f"{history.task_id} is polled again, never paid for again"
        )
    return (
        f"a journal line{where} cannot be read by this version of batchedit, so whether "
        "this row was paid for is unknown; `batchedit retry RUN_DIR --status unknown` "
        "submits it again"
    )


def read_report_lines(path: Path) -> Iterator[tuple[int, ReportRecord]]:
    """Each line of a report.jsonl as (line number, typed record), streamed; a
    line that is not a report record raises SourceError naming FILE:LINE."""
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = loads(line)
            except ValueError as exc:
                raise SourceError(str(path), number, f"is not a report line: {exc}") from exc
            if not isinstance(data, dict) or not isinstance(data.get("status"), str):
                raise SourceError(str(path), number, "is not a report line: no status")
            try:
                record = ReportRecord.from_json(data)
            except KeyError as exc:
                raise SourceError(str(path), number, f"report line has no {exc}") from exc
            except (ValueError, TypeError, AttributeError) as exc:
                raise SourceError(str(path), number, f"is not a report line: {exc}") from exc
            yield number, record


def read_report(path: Path) -> Iterator[ReportRecord]:
    """The typed records of a report.jsonl, in its (manifest) order, streamed."""
    for _, record in read_report_lines(path):
        yield record
