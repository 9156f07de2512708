"""The pipeline of DESIGN.md, wired: producer -> submitters -> pollers -> writers.

    rows (streamed) --rows_q--> submitters --timetable--> pollers --done_q--> writers
                                  |  slot taken                 | slot given back
                                  v                             v
                              journal: submitted            journal: finished

Each stage has its module (producer.py, submitters.py, pollers.py,
writers.py) and shares one RunContext. Stages are started in one TaskGroup,
joined by bounded queues and ended by sentinels; the number of coroutines
depends on the concurrency, never on the number of rows. A row's failure
becomes a report record; only a fatal API condition (401, 402) or a
programmer error propagates, and then the journal is closed and the report
written all the same.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from batchedit.api.client import ModellixClient
from batchedit.api.ratelimit import RequestRateLimiter
from batchedit.clock import Clock, LoopClock, utc_now_iso
from batchedit.errors import FatalApiError
from batchedit.events import emit
from batchedit.fsutil import remove_partial_files
from batchedit.manifest.job import iter_rows
from batchedit.pipeline.config import RunConfig, RunOutcome
from batchedit.pipeline.context import MAX_POLLERS, MAX_WRITERS, Done, RunContext
from batchedit.pipeline.planning import Unreadable
from batchedit.pipeline.pollers import Pollers
from batchedit.pipeline.producer import produce
from batchedit.pipeline.resume import RowPlan
from batchedit.pipeline.submitters import Submitters
from batchedit.pipeline.writers import Writers
from batchedit.report.progress import Progress
from batchedit.report.report_file import write_report
from batchedit.report.summary import RunSummary
from batchedit.state.fingerprint import FileDigests
from batchedit.state.history import JournalIndex
from batchedit.state.journal import Journal
from batchedit.state.rundir import RunPaths

__all__ = ["RunConfig", "RunOutcome", "run_pipeline"]

log = logging.getLogger(__name__)

STOPPED_BY_MAX_UNKNOWN = "max_unknown"


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
            run = RunContext.create(config, client, journal, clock, progress, digests)
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


async def run_stages(run: RunContext) -> None:
    """The four stages in one TaskGroup, joined by bounded queues."""
    rows_q: asyncio.Queue[RowPlan | Unreadable | None] = asyncio.Queue(maxsize=2 * run.submitters)
    done_q: asyncio.Queue[Done | None] = asyncio.Queue(maxsize=2 * run.writers)
    async with asyncio.TaskGroup() as group:
        group.create_task(produce(run, rows_q))
        group.create_task(Submitters(run).run(rows_q))
        group.create_task(Pollers(run).run(done_q))
        group.create_task(Writers(run).run(done_q))


async def _run_until_stopped(run: RunContext, stop: asyncio.Event | None) -> bool:
    """Run the stages to their end, or cancel them when `stop` is set; True if stopped."""
    if stop is None:
        await run_stages(run)
        return False
    stages = asyncio.create_task(run_stages(run))
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


async def _write_results(run: RunContext, wall_time_s: float, stopped_by: str | None) -> RunSummary:
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
