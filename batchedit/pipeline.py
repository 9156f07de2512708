"""The pipeline of DESIGN.md, wired: producer -> submitters -> pollers -> writers.

    rows (streamed) --rows_q--> submitters --timetable--> pollers --done_q--> writers
                                  |  slot taken                 | slot given back
                                  v                             v
                              journal: submitted            journal: finished

Stages are started in one TaskGroup, joined by bounded queues and ended by
sentinels; the number of coroutines depends on the concurrency, never on the
number of rows. A row's failure becomes a report record; only a fatal API
condition (401, 402) or a programmer error propagates, and then the journal
is closed and the report written all the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .client import ModellixClient, RetryPolicy
from .clock import Clock, LoopClock, utc_now_iso
from .endpoint import Endpoint
from .errors import ApiError, FatalApiError, InputError, OutcomeUnknown, ProtocolError
from .fingerprint import FileDigests, request_fingerprint
from .inflight import InFlightSlots
from .job import JobSettings, iter_rows
from .journal import Finished, Journal, Submitted
from .outputs import OutputStore
from .progress import Progress
from .records import ErrorCategory, InvalidRow, OutputFile, Row, RowError, Status
from .report import index_journal, request_record, write_report
from .rundir import RunPaths
from .scheduler import InFlightTask, PollPolicy, PollTimetable
from .summary import RunStats, RunSummary
from .task_state import TaskPhase, TaskState
from .uploads import ImageUploader

log = logging.getLogger(__name__)

ROWS_PER_READ = 256
MAX_POLLERS = 16
MAX_WRITERS = 8
MAX_POLL_PROTOCOL_ERRORS = 3


@dataclass(frozen=True, slots=True)
class RunConfig:
    job: JobSettings
    paths: RunPaths
    endpoint: Endpoint
    show_progress: bool = False
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    summary: RunSummary
    fatal: FatalApiError | None

    @property
    def exit_code(self) -> int:
        """The contract's codes: 0 all succeeded, 1 some did not, 3 a fatal API stop."""
        if self.fatal is not None:
            return 3
        statuses = self.summary.counts.statuses
        return 0 if statuses.get(Status.SUCCEEDED, 0) == self.summary.counts.rows else 1


_Done = tuple[InFlightTask, TaskState | ApiError]


class _Run:
    """The shared parts of one run, and one method per stage."""

    def __init__(
        self,
        config: RunConfig,
        client: ModellixClient,
        journal: Journal,
        clock: Clock,
        progress: Progress,
    ) -> None:
        concurrency = config.job.concurrency
        self.config = config
        self.client = client
        self.journal = journal
        self.clock = clock
        self.progress = progress
        self.digests = FileDigests()
        self.uploader = ImageUploader(client, self.digests)
        self.slots = InFlightSlots(max_in_flight=concurrency)
        self.timetable = PollTimetable(clock, PollPolicy(config.job.poll_interval_s))
        self.store = OutputStore(config.paths.root, client)
        self.stats = RunStats(started_at=utc_now_iso())
        self.submitters = concurrency
        self.pollers = min(MAX_POLLERS, concurrency)
        self.writers = min(MAX_WRITERS, concurrency)

    async def run_stages(self) -> None:
        rows_q: asyncio.Queue[Row | None] = asyncio.Queue(maxsize=2 * self.submitters)
        done_q: asyncio.Queue[_Done | None] = asyncio.Queue(maxsize=2 * self.writers)
        async with asyncio.TaskGroup() as group:
            group.create_task(self.produce(rows_q))
            group.create_task(self.submit_stage(rows_q))
            group.create_task(self.poll_stage(done_q))
            group.create_task(self.write_stage(done_q))

    # -- producer -----------------------------------------------------------

    async def produce(self, rows_q: asyncio.Queue[Row | None]) -> None:
        """Stream the manifest in batches read in a thread; invalid rows are
        only counted here, the report derives them again from the manifest."""
        rows = iter_rows(self.config.job)
        while batch := await asyncio.to_thread(_take, rows, ROWS_PER_READ):
            for row in batch:
                if isinstance(row, InvalidRow):
                    self.progress.finished(Status.INVALID)
                else:
                    await rows_q.put(row)
        for _ in range(self.submitters):
            await rows_q.put(None)

    # -- submitters -------------------------------------------------------

    async def submit_stage(self, rows_q: asyncio.Queue[Row | None]) -> None:
        async with asyncio.TaskGroup() as group:
            for _ in range(self.submitters):
                group.create_task(self.submitter(rows_q))
        self.timetable.close()

    async def submitter(self, rows_q: asyncio.Queue[Row | None]) -> None:
        while (row := await rows_q.get()) is not None:
            try:
                fingerprint = await request_fingerprint(row.request, self.digests)
                body = await self.request_body(row)
            except FatalApiError:
                raise
            except (ApiError, InputError) as exc:
                await self.finish_without_task(row, None, Status.FAILED, exc)
                continue
            await self.submit(row, fingerprint, body)

    async def request_body(self, row: Row) -> dict[str, Any]:
        request = row.request
        images = [await self.uploader.url_for(image) for image in request.images]
        return {"prompt": request.prompt, "image": images, **request.params()}

    async def submit(self, row: Row, fingerprint: str, body: dict[str, Any]) -> None:
        slot = await self.slots.take()
        submitted_at, started = utc_now_iso(), self.clock.now()
        try:
            task_id = await self.client.submit_edit(row.request.model, body)
        except OutcomeUnknown as exc:
            slot.release()
            self.stats.paid_submissions += 1
            await self.finish_without_task(row, fingerprint, Status.UNKNOWN, exc, submitted_at)
            return
        except ApiError as exc:
            slot.release()
            if isinstance(exc, FatalApiError):
                raise
            await self.finish_without_task(row, fingerprint, Status.FAILED, exc, submitted_at)
            return
        except BaseException:
            slot.release()
            raise
        self.stats.paid_submissions += 1
        task = InFlightTask(row, task_id, slot, fingerprint, submitted_at, started, attempts=1)
        # Durable before the row counts as submitted: a crash from here on polls, never repays.
        await self.journal.append(Submitted(row.index, row.id, task_id, fingerprint, submitted_at))
        log.info("%s submitted as %s", row.id, task_id)
        self.progress.submitted()
        self.timetable.add(task)

    # -- pollers ----------------------------------------------------------

    async def poll_stage(self, done_q: asyncio.Queue[_Done | None]) -> None:
        async with asyncio.TaskGroup() as group:
            for _ in range(self.pollers):
                group.create_task(self.poller(done_q))
        for _ in range(self.writers):
            await done_q.put(None)

    async def poller(self, done_q: asyncio.Queue[_Done | None]) -> None:
        while (task := await self.timetable.next_due()) is not None:
            outcome: TaskState | ApiError
            try:
                outcome = await self.client.read_task(task.task_id)
            except FatalApiError:
                raise
            except ProtocolError as exc:
                task.poll_errors += 1
                if task.poll_errors < MAX_POLL_PROTOCOL_ERRORS:
                    log.warning("%s: %s; polling again", task.row.id, exc)
                    self.timetable.poll_again(task)
                    continue
                outcome = exc
            except ApiError as exc:
                outcome = exc
            task.polls += 1
            if isinstance(outcome, TaskState) and not outcome.is_terminal:
                self.timetable.poll_again(task)
                continue
            self.stats.record_latency(self.clock.now() - task.submitted_mono)
            task.slot.release()
            self.timetable.done()
            await done_q.put((task, outcome))

    # -- writers ----------------------------------------------------------

    async def write_stage(self, done_q: asyncio.Queue[_Done | None]) -> None:
        async with asyncio.TaskGroup() as group:
            for _ in range(self.writers):
                group.create_task(self.writer(done_q))

    async def writer(self, done_q: asyncio.Queue[_Done | None]) -> None:
        while (item := await done_q.get()) is not None:
            task, outcome = item
            latency_s = round(self.clock.now() - task.submitted_mono, 3)
            status, error, outputs = await self.settle(task, outcome)
            record = request_record(
                task.row,
                status,
                task_id=task.task_id,
                outputs=outputs,
                error=error,
                attempts=task.attempts,
                submitted_at=task.submitted_at,
                finished_at=utc_now_iso(),
                latency_s=latency_s,
            )
            await self.journal.append(Finished(record, task.fingerprint))
            self.progress.finished(status)
            log.info("%s %s after %.1fs, %d polls", task.row.id, status, latency_s, task.polls)

    async def settle(
        self, task: InFlightTask, outcome: TaskState | ApiError
    ) -> tuple[Status, RowError | None, tuple[OutputFile, ...]]:
        """A terminal task's status: its results stored, or why there are none."""
        if isinstance(outcome, ApiError):
            return Status.FAILED, outcome.to_row_error(), ()
        if outcome.phase is TaskPhase.FAILED:
            message = outcome.error_message or "the task failed"
            return Status.FAILED, RowError(ErrorCategory.TASK_FAILED, message), ()
        try:
            outputs = await self.store.store_results(task.row.id, outcome)
        except ApiError as exc:
            return Status.FAILED, exc.to_row_error(), ()
        return Status.SUCCEEDED, None, outputs

    async def finish_without_task(
        self,
        row: Row,
        fingerprint: str | None,
        status: Status,
        exc: ApiError | InputError,
        submitted_at: str | None = None,
    ) -> None:
        record = request_record(
            row,
            status,
            error=exc.to_row_error(),
            attempts=1 if submitted_at else 0,
            submitted_at=submitted_at,
            finished_at=utc_now_iso(),
        )
        await self.journal.append(Finished(record, fingerprint))
        self.progress.finished(status)
        log.warning("%s %s: %s", row.id, status, exc)


def _take(rows: Iterator[Row | InvalidRow], count: int) -> list[Row | InvalidRow]:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == count:
            break
    return batch


async def run_pipeline(
    config: RunConfig, *, total_rows: int, clock: Clock | None = None
) -> RunOutcome:
    """Run the job into its run directory and write report.jsonl and summary.json,
    however the run ends."""
    clock = clock or LoopClock()
    paths = config.paths
    await asyncio.to_thread(paths.outputs.mkdir, parents=True, exist_ok=True)
    journal = await Journal.open(paths.journal)
    started = clock.now()
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=config.connect_timeout_s, sock_read=config.read_timeout_s
    )
    connector = aiohttp.TCPConnector(limit=config.job.concurrency + MAX_POLLERS + MAX_WRITERS)
    fatal: FatalApiError | None = None
    with Progress(total_rows, enabled=config.show_progress) as progress:
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            client = ModellixClient(session, config.endpoint, clock, retry=config.retry)
            run = _Run(config, client, journal, clock, progress)
            try:
                await run.run_stages()
            except* FatalApiError as group:
                fatal = _first_fatal(group)
                log.error("run stopped: %s", fatal)
            finally:
                await asyncio.shield(journal.close())
    summary = await asyncio.shield(_write_results(run, clock.now() - started, fatal))
    return RunOutcome(summary, fatal)


def _first_fatal(group: BaseExceptionGroup[FatalApiError]) -> FatalApiError:
    for exc in group.exceptions:
        if isinstance(exc, FatalApiError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            return _first_fatal(exc)
    raise group


async def _write_results(run: _Run, wall_time_s: float, fatal: FatalApiError | None) -> RunSummary:
    paths = run.config.paths

    def write() -> RunSummary:
        index = index_journal(paths.journal)
        counts = write_report(paths, iter_rows(run.config.job), index)
        summary = RunSummary(
            counts=counts,
            stats=run.stats,
            requests=run.client.counts.to_json(),
            bytes_downloaded=run.client.counts.bytes_downloaded,
            wall_time_s=wall_time_s,
            finished_at=utc_now_iso(),
            concurrency=run.config.job.concurrency,
            peak_in_flight=run.slots.peak,
            stopped_by=None if fatal is None else fatal.category.value,
        )
        summary.write(paths)
        return summary

    return await asyncio.to_thread(write)
