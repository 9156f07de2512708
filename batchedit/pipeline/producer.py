"""The producer: the manifest streamed in batches read in a thread, each row
planned against the journal (resume.py), and the rows with work to do put on
the submitters' bounded queue. Rows with nothing to do (invalid, or settled by
an earlier run) are only counted: the report derives them again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

from batchedit.events import emit
from batchedit.manifest.job import JobSettings, iter_rows
from batchedit.pipeline.context import RunServices
from batchedit.pipeline.finishing import invalid_fields
from batchedit.pipeline.planning import RowPlanner, Unreadable
from batchedit.pipeline.resume import Action, RetryScope, RowPlan
from batchedit.records import InvalidRow, Row, Status
from batchedit.state.history import JournalIndex, row_status
from batchedit.state.rundir import RunPaths

ROWS_PER_READ = 256


@dataclass(frozen=True, slots=True)
class ProduceSettings:
    """What the producer reads: the job's rows, where its journal is, and the
    rows a `retry` is limited to (None for a plain run)."""

    job: JobSettings
    paths: RunPaths
    retry_rows: RetryScope | None


async def produce(
    services: RunServices,
    settings: ProduceSettings,
    rows_q: asyncio.Queue[RowPlan | Unreadable | None],
) -> None:
    """Stream the manifest and plan each row against the journal, in batches
    read in a thread. Rows with nothing to do (invalid, or settled by an
    earlier run) are only counted: the report derives them again."""
    paths = settings.paths
    index = await asyncio.to_thread(JournalIndex.build, paths.journal)
    planner = RowPlanner(
        paths,
        index,
        services.digests,
        retry=settings.retry_rows,
        output=settings.job.output,
    )
    try:
        rows = iter_rows(settings.job)
        while services.gate.is_open and (
            batch := await asyncio.to_thread(_plan_batch, rows, planner, ROWS_PER_READ)
        ):
            for item in batch:
                if isinstance(item, Status):
                    services.progress.settled(item)
                else:
                    await rows_q.put(item)
    finally:
        await asyncio.to_thread(index.close)
    for _ in range(services.workers.submitters):
        await rows_q.put(None)


def _plan_batch(
    rows: Iterator[Row | InvalidRow], planner: RowPlanner, count: int
) -> list[RowPlan | Unreadable | Status]:
    """The next `count` rows planned; rows with nothing to do come back as the
    status they keep. Runs in a thread: it reads the manifest and hashes files."""
    batch: list[RowPlan | Unreadable | Status] = []
    for row in rows:
        if isinstance(row, InvalidRow):
            batch.append(Status.INVALID)
            emit("row_finished", **invalid_fields(row))
        else:
            plan = planner.plan(row)
            keep = isinstance(plan, RowPlan) and plan.action is Action.KEEP
            if isinstance(plan, RowPlan) and keep:
                batch.append(row_status(plan.history, plan.fingerprint))
            else:
                batch.append(plan)
        if len(batch) == count:
            break
    return batch
