"""What a run nobody watches leaves for the people and the machines around it:
the metrics file and the progress events while it goes, the history line and
the last metrics when it ends, and one message to whoever is on call.

- `watch` runs beside the stages, in the run's TaskGroup, until they end
  (runner.run_stages cancels it): it writes `--metrics-file` every 15 s
  (report/metrics.py) and emits a `progress` event every 30 s (done, total,
  rate, ETA, spend) when events are logged (`--log-format json`, or `-v`).
  It keeps the wall clock's pace, on the loop's own timer: what it paces is
  what a scraper and a log reader see, not a decision of the run (those
  read the run's clock: the deadline, polls, back-offs).
- `close_run` appends the run's line to the history (state/run_history.py),
  durably, however the run ended, and writes the last metrics.
- `announced` sends the one message per run of `--notify` (report/notify.py)
  when `start_run` ends, however it ends, a refusal included.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from batchedit.clock import utc_now_iso
from batchedit.errors import SourceError, UsageError
from batchedit.events import emit, events_enabled
from batchedit.manifest.job import JobSettings
from batchedit.pipeline.config import RunConfig, RunOutcome, run_exit_code
from batchedit.pipeline.context import RunServices
from batchedit.pipeline.stop import StopReason
from batchedit.records import Status
from batchedit.report.counts import ReportCounts
from batchedit.report.metrics import RunFigures, write_metrics
from batchedit.report.notify import Message, refusal_message, run_message, send_message
from batchedit.state.run_history import RunEntry, RunHistory, append_run, read_history
from batchedit.state.rundir import RunPaths

log = logging.getLogger(__name__)


# -- while the run goes ------------------------------------------------------


async def watch(run: RunServices, config: RunConfig, total_rows: int) -> None:
    """The metrics file and the progress events, until cancelled."""
    metrics_file = config.job.metrics_file
    progress = events_enabled()
    if metrics_file is None and not progress:
        return
    loop = asyncio.get_running_loop()
    history = RunHistory() if metrics_file is None else await _history(config.paths)
    started = loop.time()
    next_metrics = started if metrics_file is not None else None
    next_progress = started + config.progress_interval_s if progress else None
    while True:
        now = loop.time()
        if metrics_file is not None and next_metrics is not None and now >= next_metrics:
            await _write_metrics(metrics_file, figures(run, config, total_rows, history))
            next_metrics = now + config.metrics_interval_s
        if next_progress is not None and now >= next_progress:
            emit("progress", **progress_fields(run, now - started))
            next_progress = now + config.progress_interval_s
        due = min(at for at in (next_metrics, next_progress) if at is not None)
        await _pause(due - loop.time())


async def _pause(seconds: float) -> None:
    """Wait on the loop's own timer (see the module)."""
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()
    timer = loop.call_later(max(0.0, seconds), woken.set_result, None)
    try:
        await woken
    finally:
        timer.cancel()


def progress_fields(run: RunServices, elapsed_s: float) -> dict[str, object]:
    """The `progress` event: rows done of this run's total, the rate so far,
    the time left at that rate, and the spend."""
    progress = run.progress
    done, total = progress.done, progress.total_work
    rate_per_s = done / elapsed_s if elapsed_s > 0 else 0.0
    spend = run.stats.spend
    return {
        "done": done,
        "total": total,
        "rate_per_s": round(rate_per_s, 3),
        "eta_s": round((total - done) / rate_per_s, 1) if rate_per_s > 0 else None,
        "in_flight": progress.in_flight,
        "failed": progress.failed,
        "paid_submissions": run.stats.paid_submissions,
        "spend": None if spend is None else spend.amount,
        "currency": None if spend is None else spend.currency,
    }


def figures(
    run: RunServices,
    config: RunConfig,
    total_rows: int,
    history: RunHistory,
    counts: ReportCounts | None = None,
) -> RunFigures:
    """The run's figures for the metrics file: rows by status from the report
    (`counts`, at the end) or, while it goes, from what finished so far (the
    rest pending); the last run and the last success from the history."""
    if counts is not None:
        statuses = {status.value: counts.statuses[status] for status in Status}
    else:
        seen = run.progress.statuses
        statuses = {status.value: seen[status] for status in Status}
        statuses[Status.PENDING.value] += max(0, total_rows - sum(seen.values()))
    spend = run.stats.spend
    last, success = history.last, history.last_completed
    return RunFigures(
        run_dir=str(config.paths.root.absolute()),
        statuses=statuses,
        paid_submissions=run.stats.paid_submissions,
        unknown_outcomes=run.gate.unknown_outcomes,
        requests=run.client.counts.to_json(),
        rate_limited=run.rate.rate_limited_count,
        latencies_s=list(run.stats.latencies_s),  # a copy: the writer's thread sorts it
        running=counts is None,
        started_s=_unix_s(run.stats.started_at),
        spend=None if spend is None else spend.amount,
        currency="" if spend is None else spend.currency,
        last_exit_code=None if last is None else last.exit_code,
        last_success_s=None if success is None else _unix_s(success.ended_at),
    )


async def _write_metrics(path: Path, snapshot: RunFigures) -> None:
    """A failed write is logged; the run goes on (the file is only a view)."""
    try:
        await asyncio.to_thread(write_metrics, path, snapshot)
    except OSError as exc:
        log.warning("metrics file %s not written: %s", path, exc.strerror or exc)


async def _history(paths: RunPaths) -> RunHistory:
    try:
        return await asyncio.to_thread(read_history, paths)
    except (OSError, SourceError) as exc:
        log.warning("history of runs not read: %s", exc)
        return RunHistory()


def _unix_s(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


# -- when it ends --------------------------------------------------------------


async def close_run(
    run: RunServices, config: RunConfig, outcome: RunOutcome, *, wall_time_s: float, total_rows: int
) -> RunOutcome:
    """The run's line in the history and the last metrics; the outcome, a stop
    by the spend cap or the deadline naming the rows it left pending."""
    written = outcome.written
    counts = None if written is None else written.counts
    if counts is not None and outcome.stop in (StopReason.MAX_SPEND, StopReason.DEADLINE):
        pending = counts.statuses[Status.PENDING]
        outcome = replace(outcome, why=f"{outcome.why} ({pending} row(s) left pending)")
    spend = run.stats.spend
    entry = RunEntry(
        started_at=run.stats.started_at,
        ended_at=utc_now_iso(),
        wall_time_s=wall_time_s,
        exit_code=run_exit_code(outcome),
        paid_submissions=run.stats.paid_submissions,
        spend=None if spend is None else spend.amount,
        currency="" if spend is None else spend.currency,
        statuses=None if counts is None else counts.to_json()["statuses"],
        stopped_by=outcome.stopped_by,
    )
    metrics_file = config.job.metrics_file
    before = RunHistory() if metrics_file is None else await _history(config.paths)
    try:
        await asyncio.to_thread(append_run, config.paths, entry)
    except OSError as exc:
        log.warning("history of runs: this run's line not written: %s", exc.strerror or exc)
    if metrics_file is not None:
        after = RunHistory((*before.runs, entry))
        await _write_metrics(metrics_file, figures(run, config, total_rows, after, counts))
    return outcome


# -- one message per run -------------------------------------------------------


@dataclass(slots=True)
class Ending:
    """What `start_run` hands back to `announced`: its outcome, once it has one."""

    outcome: RunOutcome | None = None


@asynccontextmanager
async def announced(job: JobSettings) -> AsyncIterator[Ending]:
    """Around `start_run`: one message to the job's `notify` URLs when it ends,
    however it ends (a refusal or the lock: exit 2; a failure before the run:
    exit 4; a cancelled caller: 130). A message that cannot be sent changes
    nothing."""
    ending = Ending()
    if not job.notify:
        yield ending
        return
    source, run_dir = str(job.source), None if job.output_dir is None else job.output_dir
    shown_dir = None if run_dir is None else str(run_dir)
    try:
        yield ending
    except (UsageError, SourceError) as exc:
        await _send(job, refusal_message(source, shown_dir, 2, str(exc)))
        raise
    except asyncio.CancelledError:
        if run_dir is not None:
            cancelled = "the caller cancelled the run; state is saved, the report written"
            message = run_message(RunPaths(run_dir), 130, None, cancelled)
            await asyncio.shield(_send(job, message))
        raise
    except Exception as exc:
        await _send(job, refusal_message(source, shown_dir, 4, f"stopped: {exc}"))
        raise
    outcome = ending.outcome
    if outcome is not None and run_dir is not None:
        why = outcome.why
        if outcome.written is None:
            unwritten = f"report.jsonl and summary.json not written: {outcome.report_error}"
            why = unwritten if why is None else f"{why}; {unwritten}"
        message = run_message(RunPaths(run_dir), run_exit_code(outcome), outcome.written, why)
        await _send(job, message)


async def _send(job: JobSettings, message: Message) -> None:
    failed = await send_message(job.notify, message)
    if failed:
        log.warning("%d notification(s) of %d could not be sent", failed, len(job.notify))
