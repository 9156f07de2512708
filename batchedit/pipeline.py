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
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp

from .client import ModellixClient, RetryPolicy
from .clock import Clock, LoopClock, utc_now_iso
from .endpoint import Endpoint
from .errors import (
    ApiError,
    FatalApiError,
    InputError,
    OutcomeUnknown,
    ProtocolError,
    RateLimited,
    ResultExpired,
    TaskTimedOut,
    TransientError,
)
from .events import emit
from .fingerprint import FileDigests
from .fsutil import remove_partial_files
from .history import JournalIndex
from .inflight import InFlightSlots
from .job import JobSettings, iter_rows
from .journal import Finished, Journal, Submitted, Submitting, Withdrawn
from .naming import output_layout
from .outputs import OutputStore
from .planning import RowPlanner, Unreadable
from .progress import Progress
from .ratelimit import RequestRateLimiter
from .records import (
    ErrorCategory,
    InvalidRow,
    OutputFile,
    ReportRecord,
    Row,
    RowError,
    Status,
)
from .report import request_record, write_report
from .resume import Action, RowPlan, current_status
from .rundir import RunPaths
from .scheduler import InFlightTask, LatencyAwarePolicy, Policy, PollPolicy, PollTimetable
from .summary import RunStats, RunSummary
from .task_state import ResultResource, TaskPhase, TaskState
from .upload_cache import UPLOADS_FILE, UploadCache
from .uploads import ImageUploader

log = logging.getLogger(__name__)

ROWS_PER_READ = 256
MAX_POLLERS = 16
MAX_WRITERS = 64
#: Polls in a row that failed after their own retry budget before a row fails.
MAX_POLL_FAILURES = 3
#: Times a submit may go back for a slot after its 429 retry budget is spent.
MAX_SUBMIT_ROUNDS = 4
STOPPED_BY_MAX_UNKNOWN = "max_unknown"


@dataclass(frozen=True, slots=True)
class RunConfig:
    job: JobSettings
    paths: RunPaths
    endpoint: Endpoint
    show_progress: bool = False
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: `batchedit retry`: act only on rows now in these statuses; None for a plain run.
    only_statuses: Collection[Status] | None = None

    def poll_policy(self) -> Policy:
        """A fixed interval when the job asks for one, else latency-aware polling."""
        if self.job.poll_interval_s is not None:
            return PollPolicy(self.job.poll_interval_s)
        return LatencyAwarePolicy(
            concurrency=self.job.concurrency, requests_per_s=self.job.rate_limit
        )


@dataclass(frozen=True, slots=True)
class RunOutcome:
    summary: RunSummary
    fatal: FatalApiError | None
    interrupted: bool = False
    halted: str | None = None  # why submitting stopped early (max_unknown), what to do

    @property
    def exit_code(self) -> int:
        """The contract's codes: 0 all succeeded, 1 some did not, 3 a fatal API
        stop (or too many unknown outcomes), 130 stopped by a signal."""
        if self.fatal is not None or self.halted is not None:
            return 3
        if self.interrupted:
            return 130
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
        digests: FileDigests,
    ) -> None:
        concurrency = config.job.concurrency
        self.config = config
        self.client = client
        self.journal = journal
        self.clock = clock
        self.progress = progress
        self.digests = digests
        uploads = UploadCache(config.paths.state_dir / UPLOADS_FILE, config.endpoint.base_url)
        self.uploader = ImageUploader(client, self.digests, uploads)
        self.slots = InFlightSlots(max_in_flight=concurrency)
        self.timetable = PollTimetable(
            clock, config.poll_policy(), requests_per_s=config.job.rate_limit
        )
        self.store = OutputStore(config.paths.root, client, config.job.output)
        self.stats = RunStats(started_at=utc_now_iso())
        self.submitters = concurrency
        self.pollers = min(MAX_POLLERS, concurrency)
        self.writers = min(MAX_WRITERS, concurrency)
        self.unknown_rows = 0
        self.halted: str | None = None

    async def run_stages(self) -> None:
        rows_q: asyncio.Queue[RowPlan | Unreadable | None] = asyncio.Queue(
            maxsize=2 * self.submitters
        )
        done_q: asyncio.Queue[_Done | None] = asyncio.Queue(maxsize=2 * self.writers)
        async with asyncio.TaskGroup() as group:
            group.create_task(self.produce(rows_q))
            group.create_task(self.submit_stage(rows_q))
            group.create_task(self.poll_stage(done_q))
            group.create_task(self.write_stage(done_q))

    # -- producer -----------------------------------------------------------

    async def produce(self, rows_q: asyncio.Queue[RowPlan | Unreadable | None]) -> None:
        """Stream the manifest and plan each row against the journal, in batches
        read in a thread. Rows with nothing to do (invalid, or settled by an
        earlier run) are only counted: the report derives them again."""
        paths = self.config.paths
        index = await asyncio.to_thread(JournalIndex.build, paths.journal)
        planner = RowPlanner(
            paths,
            index,
            self.digests,
            retry=self.config.only_statuses,
            output=self.config.job.output,
        )
        try:
            rows = iter_rows(self.config.job)
            while self.halted is None and (
                batch := await asyncio.to_thread(_plan_batch, rows, planner, ROWS_PER_READ)
            ):
                for item in batch:
                    if isinstance(item, Status):
                        self.progress.finished(item)
                    else:
                        await rows_q.put(item)
        finally:
            await asyncio.to_thread(index.close)
        for _ in range(self.submitters):
            await rows_q.put(None)

    # -- submitters -------------------------------------------------------

    async def submit_stage(self, rows_q: asyncio.Queue[RowPlan | Unreadable | None]) -> None:
        async with asyncio.TaskGroup() as group:
            for _ in range(self.submitters):
                group.create_task(self.submitter(rows_q))
        self.timetable.close()

    async def submitter(self, rows_q: asyncio.Queue[RowPlan | Unreadable | None]) -> None:
        while (plan := await rows_q.get()) is not None:
            if isinstance(plan, Unreadable):
                await self.finish_without_task(plan.row, None, Status.FAILED, plan.error)
            elif plan.action is Action.POLL:
                await self.resume_polling(plan)
            elif plan.action is Action.FETCH and await self.fetch_again(plan):
                continue
            else:
                await self.prepare_and_submit(plan.row, plan.fingerprint)

    async def prepare_and_submit(self, row: Row, fingerprint: str) -> None:
        if self.halted is not None:
            return  # the row stays pending: nothing was sent for it
        try:
            body = await self.request_body(row)
        except FatalApiError:
            raise
        except (ApiError, InputError) as exc:
            await self.finish_without_task(row, fingerprint, Status.FAILED, exc)
            return
        await self.submit(row, fingerprint, body)

    async def request_body(self, row: Row) -> dict[str, Any]:
        request = row.request
        images = [await self.uploader.url_for(image) for image in request.images]
        return {"prompt": request.prompt, "image": images, **request.params()}

    async def submit(
        self, row: Row, fingerprint: str, body: dict[str, Any], *, rounds: int = 1
    ) -> None:
        """Take a slot and send the paid submit. A submit still refused with 429
        after its retry budget created nothing: its slot goes back and it waits
        for one again, under a limit the 429s have meanwhile lowered, for up
        to MAX_SUBMIT_ROUNDS rounds."""
        slot = await self.slots.take()
        if self.halted is not None:
            slot.release()
            return
        submitted_at, started = utc_now_iso(), self.clock.now()
        intent = Submitting(row.index, row.id, fingerprint, submitted_at)
        intent_written = False

        async def journal_intent() -> None:
            # Durable before the request leaves: a crash from here on is `unknown`.
            nonlocal intent_written
            await self.journal.append(intent)
            intent_written = True

        try:
            task_id = await self.client.submit_edit(
                row.request.model, body, before_send=journal_intent
            )
        except OutcomeUnknown as exc:
            slot.release()
            self.stats.paid_submissions += 1
            await self.finish_without_task(row, fingerprint, Status.UNKNOWN, exc, submitted_at)
            self.count_unknown()
            return
        except RateLimited as exc:
            slot.release()
            if rounds >= MAX_SUBMIT_ROUNDS:
                await self.finish_without_task(row, fingerprint, Status.FAILED, exc, submitted_at)
                return
            if intent_written:  # refused before any task was made
                await self.journal.append(Withdrawn(row.index, row.id))
            log.warning("%s: %s; waiting for a slot again", row.id, exc)
            await self.submit(row, fingerprint, body, rounds=rounds + 1)
            return
        except FatalApiError:
            slot.release()
            if intent_written:  # answered, and no task was made: the row is pending again
                await self.journal.append(Withdrawn(row.index, row.id))
            raise
        except ApiError as exc:
            slot.release()
            await self.finish_without_task(row, fingerprint, Status.FAILED, exc, submitted_at)
            return
        except BaseException:
            slot.release()
            raise
        self.stats.paid_submissions += 1
        task = InFlightTask(row, task_id, slot, fingerprint, submitted_at, started, attempts=1)
        task.accepted_mono = self.clock.now()
        # Into the timetable first, so the first poll need not wait for the fsync: the
        # append below queues its line before anything can run, so it precedes the
        # task's outcome in the journal whatever the poll finds.
        self.timetable.add(task)
        # Durable before the row counts as submitted: a crash from here on polls, never repays.
        await self.journal.append(Submitted(row.index, row.id, task_id, fingerprint, submitted_at))
        log.info("%s submitted as %s", row.id, task_id)
        emit("row_submitted", id=row.id, row=row.index, task_id=task_id)
        self.progress.submitted(in_flight=self.slots.in_use)

    def count_unknown(self) -> None:
        """Past `max_unknown` unknown outcomes something is wrong between us and
        the service (each may have been paid for): stop submitting."""
        self.unknown_rows += 1
        cap = self.config.job.max_unknown
        if cap and self.unknown_rows >= cap and self.halted is None:
            self.halted = (
                f"submitting stopped after {self.unknown_rows} submits with an unknown outcome "
                f"(max_unknown {cap}): each may have created a paid task. Check the service "
                "and the network, then run the same command again to continue with the "
                "pending rows; `batchedit retry RUN_DIR --status unknown` resubmits the "
                "unknown ones if you accept paying for them again"
            )
            log.error("%s", self.halted)

    async def resume_polling(self, plan: RowPlan) -> None:
        """A task an earlier run left running (or timed out on): poll it, don't pay again."""
        history = plan.history
        latest = None if history is None else history.latest
        if isinstance(latest, Submitted):
            task_id, submitted_at = latest.task_id, latest.at
        elif isinstance(latest, Finished) and latest.record.task_id:
            task_id, submitted_at = latest.record.task_id, latest.record.submitted_at or ""
        else:  # the planner only polls rows with a task id
            raise AssertionError(f"{plan.row.id}: nothing to poll")
        slot = await self.slots.take()
        task = InFlightTask(
            plan.row, task_id, slot, plan.fingerprint, submitted_at, self.clock.now(), attempts=0
        )
        log.info("%s: polling %s again, left by an earlier run", plan.row.id, task_id)
        emit("row_resumed", id=plan.row.id, row=plan.row.index, task_id=task_id)
        self.progress.submitted(in_flight=self.slots.in_use)
        self.timetable.add(task)

    async def fetch_again(self, plan: RowPlan) -> bool:
        """Download a succeeded row's results again, its files being gone or
        altered. False when the results have expired and the row must be paid
        for again."""
        history = plan.history
        latest = None if history is None else history.latest
        if not isinstance(latest, Finished):
            return False
        record = latest.record
        state = TaskState(
            task_id=record.task_id or "",
            phase=TaskPhase.SUCCEEDED,
            raw_status="success",
            resources=tuple(ResultResource(url) for url in latest.result_urls),
            expires_at=latest.expires_at,
        )
        try:
            outputs = await self.store.store_results(plan.row, state)
        except ResultExpired:
            log.info("%s: results expired; submitting again", plan.row.id)
            return False
        except ApiError as exc:
            if isinstance(exc, FatalApiError):
                raise
            await self.finish_without_task(plan.row, plan.fingerprint, Status.FAILED, exc)
            return True
        fixed = replace(record, outputs=outputs, finished_at=utc_now_iso())
        await self.journal.append(
            await self.finished_entry(plan.row, fixed, plan.fingerprint, state)
        )
        # Under a new name or format, the old files are no longer the row's.
        stale = {out.path for out in record.outputs} - {out.path for out in outputs}
        await asyncio.to_thread(self.store.remove, stale)
        self.progress.finished(Status.SUCCEEDED, in_flight=self.slots.in_use)
        emit("row_finished", **_finished_fields(fixed))
        log.info("%s: outputs downloaded again", plan.row.id)
        return True

    # -- pollers ----------------------------------------------------------

    async def poll_stage(self, done_q: asyncio.Queue[_Done | None]) -> None:
        async with asyncio.TaskGroup() as group:
            for _ in range(self.pollers):
                group.create_task(self.poller(done_q))
        for _ in range(self.writers):
            await done_q.put(None)

    async def poller(self, done_q: asyncio.Queue[_Done | None]) -> None:
        while (task := await self.timetable.next_due()) is not None:
            outcome = await self.poll_once(task)
            if outcome is None:
                self.timetable.poll_again(task)
                continue
            self.stats.record_latency(self.clock.now() - task.submitted_mono)
            task.slot.release()
            # A task left by an earlier run (no paid attempt in this one) has no true age.
            learn = isinstance(outcome, TaskState) and task.attempts > 0
            self.timetable.done(task, learn=learn)
            await done_q.put((task, outcome))

    async def poll_once(self, task: InFlightTask) -> TaskState | ApiError | None:
        """The task's terminal outcome, or None to poll it again later.

        A poll that failed after its own retry budget is tried again at the next
        turn, up to MAX_POLL_FAILURES in a row: the task id is known, so a wait
        costs nothing. Past `task_timeout` a running task ends `timeout`, keeping
        its task id so that a later run polls it again instead of paying again.
        """
        outcome: TaskState | ApiError
        try:
            outcome = await self.client.read_task(task.task_id)
        except FatalApiError:
            raise
        except (ProtocolError, TransientError) as exc:
            task.poll_errors += 1
            if task.poll_errors < MAX_POLL_FAILURES and not self.past_deadline(task):
                log.warning("%s: %s; polling again", task.row.id, exc)
                return None
            outcome = exc
        except ApiError as exc:
            outcome = exc
        task.polls += 1
        if isinstance(outcome, TaskState) and not outcome.is_terminal:
            task.poll_errors = 0
            if not self.past_deadline(task):
                return None
            return TaskTimedOut(
                f"task {task.task_id} still {outcome.raw_status or 'running'} after "
                f"{self.config.job.task_timeout:g}s (task_timeout); a later run polls it again"
            )
        return outcome

    def past_deadline(self, task: InFlightTask) -> bool:
        timeout_s = self.config.job.task_timeout
        return timeout_s is not None and self.clock.now() - task.submitted_mono >= timeout_s

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
            state = outcome if isinstance(outcome, TaskState) else None
            await self.journal.append(
                await self.finished_entry(task.row, record, task.fingerprint, state)
            )
            self.progress.finished(status, in_flight=self.slots.in_use)
            emit("row_finished", **_finished_fields(record, task.polls))
            log.info("%s %s after %.1fs, %d polls", task.row.id, status, latency_s, task.polls)

    async def finished_entry(
        self, row: Row, record: ReportRecord, fingerprint: str | None, state: TaskState | None
    ) -> Finished:
        """The journal entry of a finished row; for a succeeded one, with what a
        later run needs to check its files and fetch them again for free."""
        if record.status is not Status.SUCCEEDED or state is None:
            return Finished(record, fingerprint)
        root = self.config.paths.root
        mtimes = await asyncio.to_thread(
            lambda: tuple(os.stat(root / out.path).st_mtime_ns for out in record.outputs)
        )
        urls = tuple(resource.url for resource in state.resources)
        layout = output_layout(self.config.job.output, row)
        return Finished(record, fingerprint, urls, state.expires_at, mtimes, layout)

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
            outputs = await self.store.store_results(task.row, outcome)
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
        self.progress.finished(status, in_flight=self.slots.in_use)
        emit("row_finished", **_finished_fields(record))
        log.warning("%s %s: %s", row.id, status, exc)


def _finished_fields(record: ReportRecord, polls: int | None = None) -> dict[str, object]:
    error = record.error
    return {
        "id": record.id,
        "row": record.row,
        "status": record.status.value,
        "task_id": record.task_id,
        "category": None if error is None else error.category.value,
        "message": None if error is None else error.message,
        "latency_s": record.latency_s,
        "polls": polls,
        "outputs": len(record.outputs),
    }


def _invalid_fields(row: InvalidRow) -> dict[str, object]:
    message = "; ".join(problem.message for problem in row.problems)
    category = ErrorCategory.INVALID_INPUT.value
    return {
        "id": row.id,
        "row": row.index,
        "status": "invalid",
        "category": category,
        "message": message,
    }


def _plan_batch(
    rows: Iterator[Row | InvalidRow], planner: RowPlanner, count: int
) -> list[RowPlan | Unreadable | Status]:
    """The next `count` rows planned; rows with nothing to do come back as the
    status they keep. Runs in a thread: it reads the manifest and hashes files."""
    batch: list[RowPlan | Unreadable | Status] = []
    for row in rows:
        if isinstance(row, InvalidRow):
            batch.append(Status.INVALID)
            emit("row_finished", **_invalid_fields(row))
        else:
            plan = planner.plan(row)
            keep = isinstance(plan, RowPlan) and plan.action is Action.KEEP
            if isinstance(plan, RowPlan) and keep:
                batch.append(current_status(plan.history, plan.fingerprint))
            else:
                batch.append(plan)
        if len(batch) == count:
            break
    return batch


async def run_pipeline(
    config: RunConfig,
    *,
    total_rows: int,
    clock: Clock | None = None,
    stop: asyncio.Event | None = None,
) -> RunOutcome:
    """Run the job into its run directory and write report.jsonl and summary.json,
    however the run ends. Setting `stop` (the CLI does on SIGINT or SIGTERM)
    stops submitting and polling at once; what is known is in the journal, and
    unfinished rows come out `pending` for a re-run to pick up.

    The caller holds the run directory's lock."""
    clock = clock or LoopClock()
    paths = config.paths
    await asyncio.to_thread(_prepare_run_dir, paths)
    journal = await Journal.open(paths.journal)
    started = clock.now()
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=config.connect_timeout_s, sock_read=config.read_timeout_s
    )
    connector = aiohttp.TCPConnector(limit=config.job.concurrency + MAX_POLLERS + MAX_WRITERS)
    fatal: FatalApiError | None = None
    interrupted = False
    digests = FileDigests()
    emit(
        "run_started",
        run_dir=str(paths.root),
        rows=total_rows,
        model=config.job.model,
        concurrency=config.job.concurrency,
    )
    with Progress(total_rows, enabled=config.show_progress) as progress:
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            rate = config.job.rate_limit
            client = ModellixClient(
                session,
                config.endpoint,
                clock,
                retry=config.retry,
                rate_limiter=RequestRateLimiter(rate, clock) if rate else None,
            )
            run = _Run(config, client, journal, clock, progress, digests)
            client.load = run.slots  # 429s and clean answers move the in-flight limit
            try:
                interrupted = await _run_until_stopped(run, stop)
            except* FatalApiError as group:
                fatal = _first_fatal(group)
                log.error("run stopped: %s", fatal)
                emit("run_stopped", reason=fatal.category.value, message=str(fatal))
            finally:
                await asyncio.shield(journal.close())
    if interrupted:
        log.warning("interrupted: unfinished rows stay pending; run again to continue")
        emit("run_stopped", reason="interrupted", message="unfinished rows stay pending")
    stopped_by = "interrupted" if interrupted else None
    if fatal is not None:
        stopped_by = fatal.category.value
    elif run.halted is not None:
        stopped_by = STOPPED_BY_MAX_UNKNOWN
    summary = await asyncio.shield(_write_results(run, clock.now() - started, stopped_by))
    emit(
        "run_finished",
        statuses=dict(summary.counts.statuses),
        report=str(paths.report),
        paid_submissions=summary.stats.paid_submissions,
        wall_time_s=round(summary.wall_time_s, 3),
    )
    return RunOutcome(summary, fatal, interrupted, run.halted)


async def _run_until_stopped(run: _Run, stop: asyncio.Event | None) -> bool:
    """Run the stages to their end, or cancel them when `stop` is set; True if stopped."""
    if stop is None:
        await run.run_stages()
        return False
    stages = asyncio.create_task(run.run_stages())
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({stages, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (stopper, stages):
            task.cancel()
        await asyncio.wait({stages, stopper})
    if stages.cancelled():
        return True
    stages.result()  # the stages' own exception, if any
    return False


def _prepare_run_dir(paths: RunPaths) -> None:
    """outputs/ exists, and no file a killed run was writing is left half-made."""
    paths.outputs.mkdir(parents=True, exist_ok=True)
    remove_partial_files(paths.root)


def _first_fatal(group: BaseExceptionGroup[FatalApiError]) -> FatalApiError:
    for exc in group.exceptions:
        if isinstance(exc, FatalApiError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            return _first_fatal(exc)
    raise group


async def _write_results(run: _Run, wall_time_s: float, stopped_by: str | None) -> RunSummary:
    paths = run.config.paths

    def write() -> RunSummary:
        with JournalIndex.build(paths.journal) as index:
            counts = write_report(paths, iter_rows(run.config.job), index, run.digests)
        summary = RunSummary(
            counts=counts,
            stats=run.stats,
            requests=run.client.counts.to_json(),
            bytes_downloaded=run.client.counts.bytes_downloaded,
            wall_time_s=wall_time_s,
            finished_at=utc_now_iso(),
            concurrency=run.config.job.concurrency,
            peak_in_flight=run.slots.peak,
            stopped_by=stopped_by,
            source=str(run.config.job.source.absolute()),
            manifest=str(run.config.job.manifest.absolute()),
            concurrency_settled=run.slots.limit,
            concurrency_lowest=min(run.slots.max_in_flight, run.slots.adaptive.lowest),
        )
        summary.write(paths)
        return summary

    return await asyncio.to_thread(write)
