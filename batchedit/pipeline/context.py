"""What the stages share, made once per run: the services (the client, the
journal, the in-flight slots, the poll timetable, the output store, the
counters, the submit gate) and the small frozen settings each stage reads.

Each stage is handed the services and its own settings by its constructor;
no stage reaches into the job's settings, and nothing is wired after
construction (the client hears load feedback from the slots it is built with).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from batchedit.api.client import ModellixClient
from batchedit.api.inflight import InFlightSlots
from batchedit.api.ratelimit import RateLearner
from batchedit.api.throttle import LoadGovernor
from batchedit.clock import Clock, utc_now_iso
from batchedit.manifest.input_prep import PREPARED_DIR
from batchedit.pipeline.config import RunConfig
from batchedit.pipeline.poll.scheduler import PollTimetable
from batchedit.pipeline.produce.upload_cache import UPLOADS_FILE, UploadCache
from batchedit.pipeline.produce.uploads import ImageUploader
from batchedit.pipeline.submit.gate import GateSettings, SubmitGate
from batchedit.pipeline.submit.task_ids import TaskIds
from batchedit.pipeline.write.finishing import RowEnds
from batchedit.pipeline.write.outputs import OutputStore
from batchedit.report.progress import Progress
from batchedit.report.spend import SpendTally
from batchedit.report.summary import RunStats
from batchedit.state.fingerprint import FileDigests
from batchedit.state.journal import Journal

MAX_POLLERS = 16
MAX_WRITERS = 64
#: The most submitter coroutines a run starts, whatever the concurrency.
MAX_SUBMITTERS = 1024


@dataclass(frozen=True, slots=True)
class Workers:
    """How many coroutines each stage runs: set by the concurrency, never by the rows."""

    submitters: int
    pollers: int
    writers: int

    @classmethod
    def for_concurrency(cls, concurrency: int, rows: int | None = None) -> Workers:
        """A submitter per task in flight, but never more than there are rows to
        work on nor MAX_SUBMITTERS: `--concurrency 1000000` on two rows makes
        two coroutines, not a million."""
        work = concurrency if rows is None else max(1, rows)
        submitters = min(concurrency, MAX_SUBMITTERS, work)
        return cls(submitters, min(MAX_POLLERS, submitters), min(MAX_WRITERS, submitters))


@dataclass(frozen=True, slots=True)
class RunServices:
    """The shared parts of one run; each is an object with its own job."""

    client: ModellixClient
    journal: Journal
    clock: Clock
    progress: Progress
    digests: FileDigests
    uploader: ImageUploader
    slots: InFlightSlots
    rate: RateLearner  # the request budget, fixed or learned
    timetable: PollTimetable
    store: OutputStore
    stats: RunStats
    finish: RowEnds
    gate: SubmitGate
    workers: Workers
    task_ids: TaskIds  # every task id of this run, and the rows given one twice

    @classmethod
    def create(
        cls,
        config: RunConfig,
        session: aiohttp.ClientSession,
        journal: Journal,
        clock: Clock,
        progress: Progress,
        *,
        planned_submits: int,
        digests: FileDigests,
        stop: asyncio.Event | None = None,
        rows: int | None = None,
    ) -> RunServices:
        job = config.job
        slots = InFlightSlots(max_in_flight=job.concurrency)
        # The request budget: `--rate-limit`, or learned from the answers (ratelimit.py);
        # each answer moves the budget or the in-flight limit, as its kind says.
        rate = RateLearner(clock, fixed_rate_per_s=job.rate_limit)
        client = ModellixClient(
            session,
            config.endpoint,
            clock,
            retry=config.retry,
            limits=config.limits(),
            rate_limiter=rate,
            load=LoadGovernor(rate, slots, clock),
        )
        uploads = UploadCache(config.paths.state_dir / UPLOADS_FILE, config.endpoint.base_url)
        stats = RunStats(started_at=utc_now_iso(), spend=SpendTally.for_table(job.prices))
        deadline = job.deadline  # a time of day or a moment is read now, as the run starts
        deadline_at = None if deadline is None else clock.now() + deadline.seconds_left()
        return cls(
            client=client,
            journal=journal,
            clock=clock,
            progress=progress,
            digests=digests,
            uploader=ImageUploader(
                client,
                digests,
                uploads,
                prepared_dir=config.paths.state_dir / PREPARED_DIR if job.inputs.prepare else None,
            ),
            slots=slots,
            rate=rate,
            # Polls are metered once, by the client's meter; the timetable reads it.
            timetable=PollTimetable(clock, config.poll_policy(rate), meter=rate),
            store=OutputStore(
                config.paths.root, client, job.output, strict_checks=job.strict_checks
            ),
            stats=stats,
            finish=RowEnds(
                journal, progress, slots, config.paths, job.output, lambda: client.origin
            ),
            gate=SubmitGate(
                GateSettings(
                    max_unknown=job.max_unknown.limit(planned_submits),
                    budget=job.max_unknown,
                    planned_submits=planned_submits,
                    brake=job.halt_on_failure,
                    breaker=config.breaker,
                    stop_grace_s=config.stop_grace_s,
                    prices=job.prices,
                    max_spend=job.max_spend,
                    deadline_at=deadline_at,
                    deadline_grace_s=job.deadline_grace,
                    deadline_text=str(deadline or ""),
                ),
                clock,
                stop=stop,
                stats=stats,
            ),
            workers=Workers.for_concurrency(job.concurrency, rows),
            task_ids=TaskIds(),
        )
