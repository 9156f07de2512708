"""The pipeline of DESIGN.md, wired: producer -> submitters -> pollers -> writers.

    rows (streamed) --rows_q--> submitters --timetable--> pollers --done_q--> writers
                                  |  slot taken                 | slot given back
                                  v                             v
                              journal: submitted            journal: finished

Each stage has its module (producer.py, submitters.py, pollers.py,
writers.py) and is handed the run's services (context.py) and its own
settings. Stages are started in one TaskGroup, joined by bounded queues and
ended by sentinels; the number of coroutines depends on the concurrency (and
never exceeds the rows), never on the number of rows. A row's failure becomes
a report record; only a fatal API condition (401, 402, a wait too long), a
local failure (a disk that is full or read-only, a journal that no longer
takes lines) or a programmer error propagates, and then, however it ended
(invariant 11), the journal is closed and the report written all the same,
when the disk allows; when it does not, the outcome says why. A local failure
and an internal error end the run with exit 4; the traceback of an internal
error goes to the log at debug level, its cause in one line to the user.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from functools import partial
from typing import TypeVar
from urllib.parse import urlsplit

import aiohttp

from batchedit.api.download import DownloadPolicy
from batchedit.api.guarded_resolver import GuardedResolver
from batchedit.clock import Clock, LoopClock, utc_now_iso
from batchedit.errors import FatalApiError, InternalError, LocalFailure
from batchedit.events import emit
from batchedit.fsutil import remove_partial_files
from batchedit.pipeline.config import RunConfig, RunOutcome
from batchedit.pipeline.context import MAX_POLLERS, MAX_WRITERS, RunServices
from batchedit.pipeline.nightly import close_run, watch
from batchedit.pipeline.plan.planning import SurveyedRun, survey_run
from batchedit.pipeline.poll.latency_store import load_samples, save_samples
from batchedit.pipeline.poll.pollers import Done, Pollers, PollSettings
from batchedit.pipeline.poll.scheduler import LatencyAwarePolicy
from batchedit.pipeline.produce.producer import ProduceSettings, produce
from batchedit.pipeline.produce.purge import delete_uploads_after_run
from batchedit.pipeline.produce.row_queue import REORDER_ROWS, RowQueue
from batchedit.pipeline.stop import PRECEDENCE, StopReason
from batchedit.pipeline.submit.gate import SubmitGate
from batchedit.pipeline.submit.submitters import Submitters
from batchedit.pipeline.write.writers import Writers
from batchedit.redact import scrub
from batchedit.report.draft import finish_report
from batchedit.report.progress import Progress
from batchedit.report.summary import RunSummary
from batchedit.state.fingerprint import FileDigests
from batchedit.state.journal import Journal
from batchedit.state.rundir import RunPaths

__all__ = ["RunConfig", "RunOutcome", "run_pipeline"]

log = logging.getLogger(__name__)

E = TypeVar("E", bound=BaseException)


async def run_pipeline(
    config: RunConfig,
    *,
    total_rows: int,
    work: int | None = None,
    submits: int | None = None,
    clock: Clock | None = None,
    stop: asyncio.Event | None = None,
    surveyed: SurveyedRun | None = None,
) -> RunOutcome:
    """Run the job into its run directory and write report.jsonl and summary.json,
    however the run ends. Setting `stop` (the CLI does on SIGINT or SIGTERM)
    stops submitting and polling at once; what is known is in the journal, and
    unfinished rows come out `pending` for a re-run to pick up. `work` and
    `submits` (the plan's rows to act on and paid submissions) are the
    progress bars' totals; without them, every row.

    `surveyed` is the launch's survey, whose journal index and drafted report
    the run goes on with (so the manifest and the journal are read once);
    without it the run surveys first. The caller holds the run directory's
    lock; the index is closed here."""
    clock = clock or LoopClock()
    paths = config.paths
    if surveyed is None:
        surveyed = await asyncio.to_thread(
            partial(
                survey_run,
                config.job,
                paths,
                FileDigests(),
                origin=config.endpoint.origin,
                retry=config.retry_rows,
            )
        )
    try:
        totals = (total_rows, work, submits)
        return await _run_surveyed(config, totals, clock, stop, surveyed)
    finally:
        await asyncio.to_thread(surveyed.index.close)


async def _run_surveyed(
    config: RunConfig,
    totals: tuple[int, int | None, int | None],
    clock: Clock,
    stop: asyncio.Event | None,
    surveyed: SurveyedRun,
) -> RunOutcome:
    paths = config.paths
    total_rows, work, submits = totals
    try:
        await asyncio.to_thread(_prepare_run_dir, paths)
        journal = await Journal.open(paths.journal)
    except OSError as exc:  # nothing was sent yet, and nothing can be journaled
        raise as_local_failure(exc) from exc
    started = clock.now()
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=config.connect_timeout_s, sock_read=config.read_timeout_s
    )
    # Every name the session connects to, but the API's, is held to the download
    # policy at connect time too (a DNS answer changed since the check).
    resolver = GuardedResolver(
        DownloadPolicy.for_origin(config.endpoint.base_url, config.limits()),
        api_host=urlsplit(config.endpoint.base_url).hostname or "",
    )
    connector = aiohttp.TCPConnector(
        limit=config.job.concurrency + MAX_POLLERS + MAX_WRITERS, resolver=resolver
    )
    fatal: FatalApiError | None = None
    local_failure: LocalFailure | None = None
    interrupted = False
    emit(
        "run_started",
        run_dir=str(paths.root),
        rows=total_rows,
        model=config.job.model,
        concurrency=config.job.concurrency,
    )
    work_total = total_rows if work is None else work
    submit_total = work_total if submits is None else submits
    with Progress(work_total, submits=submit_total, enabled=config.show_progress) as progress:
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            planned = config.planned_submits
            run = RunServices.create(
                config,
                session,
                journal,
                clock,
                progress,
                planned_submits=total_rows if planned is None else planned,
                digests=surveyed.digests,  # the survey's: one hash cache a run
                stop=stop,
                rows=total_rows,
            )
            await asyncio.to_thread(_warm_start, run, config)
            try:
                interrupted = await _run_until_stopped(run, config, stop, surveyed)
            except* FatalApiError as group:
                fatal = _first_of(group, FatalApiError)
                # The launcher says it on stderr, once; the log keeps it for -v.
                log.info("run stopped: %s", fatal)
                emit("run_stopped", reason=fatal.category.value, message=str(fatal))
            except* Exception as group:
                # A local failure (disk, permissions) or an internal error: the
                # run stops, the report is still written (invariant 11).
                cause = _first_leaf(group)
                local_failure = as_local_failure(cause)
                log.debug("run stopped by %s", type(cause).__name__, exc_info=cause)
                # The launcher says it on stderr, once; the log keeps it for -v.
                log.info("run stopped: %s", local_failure)
                emit("run_stopped", reason="local_failure", message=str(local_failure))
            finally:
                closing = await _close_journal(journal)
                local_failure = local_failure or closing
            finished = not interrupted and fatal is None and local_failure is None
            if finished and run.gate.halted is None and config.job.uploads.after_run:
                await delete_uploads_after_run(run.client, config.paths)
    if interrupted:
        log.warning("interrupted: unfinished rows stay pending; run again to continue")
        emit("run_stopped", reason="interrupted", message="unfinished rows stay pending")
    ended = _outcome(fatal, local_failure, run.gate, interrupted=interrupted)
    wall_time_s = clock.now() - started
    try:
        summary = await asyncio.shield(
            _write_results(run, config, surveyed, wall_time_s, ended.stopped_by)
        )
    except (OSError, LocalFailure) as exc:
        reason = as_local_failure(exc)
        log.info("report not written: %s", reason)
        ended = _outcome(fatal, local_failure or reason, run.gate, interrupted=interrupted)
        ended = replace(ended, report_error=str(reason))
    else:
        emit(
            "run_finished",
            statuses=summary.counts.to_json()["statuses"],
            report=str(paths.report),
            paid_submissions=summary.stats.paid_submissions,
            spend=None if summary.stats.spend is None else summary.stats.spend.amount,
            wall_time_s=round(summary.wall_time_s, 3),
        )
        ended = replace(ended, written=summary)
    # However it ended: its line in the history, the last metrics (nightly.py).
    ending = close_run(run, config, ended, wall_time_s=wall_time_s, total_rows=total_rows)
    return await asyncio.shield(ending)


def _outcome(
    fatal: FatalApiError | None,
    local_failure: LocalFailure | None,
    gate: SubmitGate,
    *,
    interrupted: bool,
) -> RunOutcome:
    """How the run ended, its summary still to come: the one stop told, the
    first in `StopReason`'s order of precedence."""
    stops: dict[StopReason, str] = {}
    if local_failure is not None:
        internal = isinstance(local_failure, InternalError)
        stops[StopReason.INTERNAL_ERROR if internal else StopReason.LOCAL_FAILURE] = str(
            local_failure
        )
    if fatal is not None:
        stops[StopReason.FATAL_API] = str(fatal)
    if gate.halted is not None and gate.halted_by is not None:
        stops[gate.halted_by] = gate.halted
    if interrupted:
        stops[StopReason.INTERRUPTED] = "interrupted; state is saved, run again to continue"
    stop = next((reason for reason in PRECEDENCE if reason in stops), None)
    return RunOutcome(None, stop, None if stop is None else stops[stop], fatal)


def as_local_failure(exc: BaseException) -> LocalFailure:
    """Any exception that ends a run, as the one-line cause of an exit 4."""
    if isinstance(exc, LocalFailure):
        return exc
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return LocalFailure(f"{exc.strerror or type(exc).__name__}{where}")
    detail = scrub(str(exc), max_chars=200)
    return InternalError(
        f"internal error ({type(exc).__name__}{': ' + detail if detail else ''}); "
        "run with -v for the traceback, and please report it"
    )


async def _close_journal(journal: Journal) -> LocalFailure | None:
    """Close the journal, shielded; a failure to flush its last lines is a
    local failure of its own (the re-run reads what did reach the disk)."""
    try:
        await asyncio.shield(journal.close())
    except (OSError, LocalFailure) as exc:
        return as_local_failure(exc)
    return None


async def run_stages(run: RunServices, config: RunConfig, surveyed: SurveyedRun) -> None:
    """The four stages in one TaskGroup, joined by bounded queues."""
    workers = run.workers
    rows_q = RowQueue(
        max(2 * workers.submitters, REORDER_ROWS), run.timetable.policy.expected_duration_s
    )
    done_q: asyncio.Queue[Done | None] = asyncio.Queue(maxsize=2 * workers.writers)
    produce_settings = ProduceSettings(
        config.job,
        config.paths,
        config.retry_rows,
        surveyed.index,
        surveyed.survey.memo,
        surveyed.draft,
    )
    async with asyncio.TaskGroup() as group:
        # Beside the stages: the metrics file and the progress events, until they end.
        watcher = group.create_task(watch(run, config, surveyed.survey.rows))
        async with asyncio.TaskGroup() as stages:
            stages.create_task(produce(run, produce_settings, rows_q))
            stages.create_task(Submitters(run).run(rows_q))
            stages.create_task(Pollers(run, PollSettings(config.job.task_timeout)).run(done_q))
            stages.create_task(Writers(run).run(done_q))
        watcher.cancel()


async def _run_until_stopped(
    run: RunServices, config: RunConfig, stop: asyncio.Event | None, surveyed: SurveyedRun
) -> bool:
    """Run the stages to their end, or stop them when `stop` is set or the
    deadline's grace is over; True if stopped by `stop`.

    A stop shuts the gate at once (no submit leaves after it), gives the submits
    already on the wire their grace period to be answered, then cancels: the
    tasks still in flight stay pending with their task ids, for the next run."""
    give_up_at = run.gate.settings.give_up_at
    if stop is None and give_up_at is None:
        await run_stages(run, config, surveyed)
        return False
    stages = asyncio.create_task(run_stages(run, config, surveyed))
    stoppers: set[asyncio.Task[object]] = set()
    if stop is not None:
        stoppers.add(asyncio.create_task(stop.wait()))
    if give_up_at is not None:
        stoppers.add(asyncio.create_task(run.gate.overtime()))
    drainer: asyncio.Task[None] | None = None
    try:
        await asyncio.wait({stages, *stoppers}, return_when=asyncio.FIRST_COMPLETED)
        if not stages.done():
            drainer = asyncio.create_task(run.gate.drain())
            await asyncio.wait({stages, drainer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting = {stages, *stoppers} | ({drainer} if drainer is not None else set())
        for task in waiting:
            task.cancel()
        await asyncio.wait(waiting)
    if not stages.cancelled():
        stages.result()  # the stages' own exception, if any
    return stop is not None and stop.is_set()


def _warm_start(run: RunServices, config: RunConfig) -> None:
    """Latency-aware polling starts from what earlier runs learned (`latency_store.py`)."""
    policy = run.timetable.policy
    if not isinstance(policy, LatencyAwarePolicy):
        return
    origin, cache_dir = config.endpoint.base_url, config.latency_cache_dir
    for kind, durations in load_samples(config.paths.state_dir, origin, cache_dir).items():
        policy.model.warm(kind, durations)


def _prepare_run_dir(paths: RunPaths) -> None:
    """outputs/ exists, and no file a killed run was writing is left half-made."""
    paths.outputs.mkdir(parents=True, exist_ok=True)
    # What the run itself writes aside: its outputs, and files at the top of the
    # run and state folders. Not below those: a simulator of `--simulate`
    # keeps its store there, cleans it itself, and is already writing into it.
    remove_partial_files(paths.outputs)
    remove_partial_files(paths.root, recursive=False)
    remove_partial_files(paths.state_dir, recursive=False)


def _first_leaf(group: BaseExceptionGroup[Exception]) -> Exception:
    """The first exception in a (nested) group that is not itself a group."""
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _first_of(group: BaseExceptionGroup[E], kind: type[E]) -> E:
    """The first exception of `kind` in a (nested) exception group."""
    for exc in group.exceptions:
        if isinstance(exc, kind):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found: E = _first_of(exc, kind)
            return found
    raise group


async def _write_results(
    run: RunServices,
    config: RunConfig,
    surveyed: SurveyedRun,
    wall_time_s: float,
    stopped_by: str | None,
) -> RunSummary:
    paths = config.paths

    def write() -> RunSummary:
        index = surveyed.index
        index.catch_up()  # this run's own journal lines: the rest was read by the survey
        counts = finish_report(surveyed.draft, paths, index, config.job.prices)
        summary = RunSummary(
            counts=counts,
            stats=run.stats,
            requests=run.client.counts.to_json(),
            bytes_downloaded=run.client.counts.bytes_downloaded,
            wall_time_s=wall_time_s,
            finished_at=utc_now_iso(),
            concurrency=config.job.concurrency,
            peak_in_flight=run.slots.peak,
            stopped_by=stopped_by,
            source=str(config.job.source.absolute()),
            manifest=str(config.job.manifest.absolute()),
            concurrency_settled=run.slots.limit,
            concurrency_lowest=min(run.slots.max_in_flight, run.slots.adaptive.lowest),
            request_rate_per_s=run.rate.requests_per_s,
            request_rate_learned=not run.rate.fixed,
            rate_limited_answers=run.rate.rate_limited_count,
        )
        summary.write(paths)
        policy = run.timetable.policy
        if isinstance(policy, LatencyAwarePolicy):
            origin, cache_dir = config.endpoint.base_url, config.latency_cache_dir
            save_samples(paths.state_dir, origin, cache_dir, policy.model.samples())
        return summary

    return await asyncio.to_thread(write)
