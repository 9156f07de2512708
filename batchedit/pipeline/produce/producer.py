"""The producer: the manifest streamed in batches read in a thread, each row
the survey found work for planned again against the journal (resume.py) and
put on the submitters' bounded queue. Rows with nothing to do (invalid, or
settled by an earlier run) are only counted: the report drafted them already
(`report/draft.py`), and after the last row with work the manifest is not
read at all (invalid rows there have their events from the draft)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from batchedit.events import EVENTS_LOGGER, emit
from batchedit.manifest.job import JobSettings, iter_rows
from batchedit.pipeline.plan.planning import RowMemo, RowPlanner, Unreadable
from batchedit.pipeline.plan.resume import Action, RetryScope, RowPlan
from batchedit.pipeline.produce.row_queue import RowQueue
from batchedit.pipeline.write.finishing import invalid_fields
from batchedit.records import InvalidRow, Row, Status
from batchedit.report.draft import drafted_invalid
from batchedit.state.history import JournalIndex, row_status
from batchedit.state.rundir import RunPaths

if TYPE_CHECKING:  # the run's services are handed in by the runner, above this stage
    from batchedit.pipeline.context import RunServices

ROWS_PER_READ = 256


@dataclass(frozen=True, slots=True)
class ProduceSettings:
    """What the producer reads: the job's rows, where its journal is, the
    rows a `retry` is limited to (None for a plain run), and what the survey
    found (its journal index, each row's memo code, the drafted report)."""

    job: JobSettings
    paths: RunPaths
    retry_rows: RetryScope | None
    index: JournalIndex
    memo: RowMemo
    draft: Path


async def produce(
    services: RunServices,
    settings: ProduceSettings,
    rows_q: RowQueue,
) -> None:
    """Stream the manifest and plan again each row the survey found work for,
    in batches read in a thread; stop reading after the last such row (none:
    the manifest is not opened). Rows with nothing to do (invalid, or settled
    by an earlier run) are only counted: the report has them already."""
    planner = RowPlanner(
        settings.paths,
        settings.index,
        services.digests,
        origin=services.client.endpoint.origin,  # as the survey planned: known offline
        retry=settings.retry_rows,
        output=settings.job.output,
    )
    memo = settings.memo
    position = 0
    if memo.last_work >= 0:
        rows = iter_rows(settings.job)
        while services.gate.is_open and (
            batch := await asyncio.to_thread(
                _plan_batch, rows, planner, memo, position, ROWS_PER_READ
            )
        ):
            position += len(batch)
            for item in batch:
                if isinstance(item, Status):
                    services.progress.settled(item)
                else:
                    await rows_q.put(item)
    if services.gate.is_open:
        rest = Counter(memo.codes[position:])  # settled rows after the last one with work
        for code, count in sorted(rest.items()):
            status = RowMemo.settled_status(code)
            if status is not None:
                services.progress.settled(status, count)
        if memo.invalid_after(position) and logging.getLogger(EVENTS_LOGGER).isEnabledFor(
            logging.INFO
        ):
            await asyncio.to_thread(_emit_invalid_from_draft, settings.draft, position)
    for _ in range(services.workers.submitters):
        await rows_q.put(None)


def _emit_invalid_from_draft(draft: Path, position: int) -> None:
    """The `row_finished` events of the invalid rows after `position`, from
    their drafted report lines rather than a second read of the manifest."""
    with open(draft, encoding="utf-8") as lines:
        for line in itertools.islice(lines, position, None):
            record = drafted_invalid(line)
            if record is not None and record.error is not None:
                emit(
                    "row_finished",
                    id=record.id,
                    row=record.row,
                    status=record.status.value,
                    category=record.error.category.value,
                    message=record.error.message,
                )


def _plan_batch(
    rows: Iterator[Row | InvalidRow], planner: RowPlanner, memo: RowMemo, position: int, count: int
) -> list[RowPlan | Unreadable | Status]:
    """The next `count` rows (up to the memo's last needed one) planned; rows
    with nothing to do come back as the status they keep. Runs in a thread:
    it reads the manifest and hashes files."""
    batch: list[RowPlan | Unreadable | Status] = []
    codes = memo.codes
    if position > memo.last_work and position < len(codes):
        return batch  # the survey found nothing more to do in the manifest
    for row in rows:
        settled = RowMemo.settled_status(codes[position]) if position < len(codes) else None
        position += 1
        if isinstance(row, InvalidRow):
            batch.append(Status.INVALID)
            emit("row_finished", **invalid_fields(row))
        elif settled is not None:
            batch.append(settled)
        else:
            plan = planner.plan(row)
            keep = isinstance(plan, RowPlan) and plan.action is Action.KEEP
            if isinstance(plan, RowPlan) and keep:
                batch.append(row_status(plan.history, plan.fingerprint))
            else:
                batch.append(plan)
        if len(batch) == count or position > memo.last_work and position < len(codes):
            break
    return batch
