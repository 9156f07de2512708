"""The producer: the manifest streamed in batches read in a thread, each row
the survey found work for put on the submitters' bounded queue with the
survey's own decision (its action and fingerprint, kept in `RowMemo`), so no
row is planned or fingerprinted twice in a run. Rows with nothing to do
(invalid, or settled by an earlier run) are only counted: the report drafted
them already (`report/draft.py`), and after the last row with work the
manifest is not read at all (invalid rows there have their events from the
draft)."""

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
from batchedit.pipeline.plan.memo import RowMemo, planned_action, settled_status
from batchedit.pipeline.plan.planning import RowPlanner, Unreadable
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
    """Stream the manifest up to the last row the survey found work for (none:
    the manifest is not opened), in batches read in a thread, and queue each
    such row with the survey's decision. Rows with nothing to do (invalid, or
    settled by an earlier run) are only counted: the report has them already."""
    memo = settings.memo
    replay = _Replay(
        memo,
        RowPlanner(  # only for a row the survey could not plan: its image unreadable
            settings.paths,
            settings.index,
            services.digests,
            origin=services.client.endpoint.origin,  # as the survey planned: known offline
            retry=settings.retry_rows,
            output=settings.job.output,
        ),
    )
    if memo.last_work >= 0:
        rows = iter_rows(settings.job, notes=False)  # the plan's pass said them
        while services.gate.is_open and (
            batch := await asyncio.to_thread(replay.next_batch, rows, ROWS_PER_READ)
        ):
            for item in batch:
                if isinstance(item, Status):
                    services.progress.settled(item)
                else:
                    await rows_q.put(item)
    position = replay.position
    if services.gate.is_open:
        rest = Counter(memo.codes[position:])  # settled rows after the last one with work
        for code, count in sorted(rest.items()):
            status = settled_status(code)
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


class _Replay:
    """The survey's decisions carried out in manifest order: where the
    producer is in the manifest and in the memo's fingerprints."""

    def __init__(self, memo: RowMemo, planner: RowPlanner) -> None:
        self.memo = memo
        self.planner = planner
        self.position = 0  # rows read so far
        self.ordinal = 0  # rows with an action read so far

    def next_batch(
        self, rows: Iterator[Row | InvalidRow], count: int
    ) -> list[RowPlan | Unreadable | Status]:
        """The next `count` rows (up to the memo's last one with work), each
        as its decision; rows with nothing to do come back as the status they
        keep. Runs in a thread: it reads the manifest."""
        batch: list[RowPlan | Unreadable | Status] = []
        memo, codes = self.memo, self.memo.codes
        if self.position > memo.last_work and self.position < len(codes):
            return batch  # the survey found nothing more to do in the manifest
        for row in rows:
            code = codes[self.position] if self.position < len(codes) else None
            self.position += 1
            action = None if code is None else planned_action(code)
            fingerprint = None
            if action is not None:
                fingerprint = memo.fingerprint(self.ordinal)
                self.ordinal += 1
            batch.append(self._decided(row, code, action, fingerprint))
            if len(batch) == count or memo.last_work < self.position < len(codes):
                break
        return batch

    def _decided(
        self,
        row: Row | InvalidRow,
        code: int | None,
        action: Action | None,
        fingerprint: str | None,
    ) -> RowPlan | Unreadable | Status:
        if isinstance(row, InvalidRow):  # its event as it streams by (the draft has its line)
            emit("row_finished", **invalid_fields(row))
            return Status.INVALID
        settled = None if code is None else settled_status(code)
        if settled is not None:
            return settled
        if action is not None and fingerprint is not None:
            index = self.planner.index
            return RowPlan(row, action, fingerprint, index.get(row.id))
        # Unreadable when surveyed, or past the surveyed rows: planned here.
        plan = self.planner.plan(row)
        if isinstance(plan, RowPlan) and plan.action is Action.KEEP:
            return row_status(plan.history, plan.fingerprint)
        return plan
