"""The shared parts of one run, handed to every stage: the client, the journal,
the in-flight slots, the poll timetable, the output store, the counters, and
whether submitting has been halted."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from batchedit.api.client import ModellixClient
from batchedit.api.inflight import InFlightSlots
from batchedit.api.task_state import TaskState
from batchedit.clock import Clock, utc_now_iso
from batchedit.errors import ApiError
from batchedit.pipeline.config import RunConfig
from batchedit.pipeline.finishing import RowEnds
from batchedit.pipeline.outputs import OutputStore
from batchedit.pipeline.scheduler import InFlightTask, PollTimetable
from batchedit.pipeline.upload_cache import UPLOADS_FILE, UploadCache
from batchedit.pipeline.uploads import ImageUploader
from batchedit.report.progress import Progress
from batchedit.report.summary import RunStats
from batchedit.state.fingerprint import FileDigests
from batchedit.state.journal import Journal

log = logging.getLogger(__name__)

MAX_POLLERS = 16
MAX_WRITERS = 64

#: A terminal task and what ended it, from the pollers to the writers.
Done = tuple[InFlightTask, TaskState | ApiError]


@dataclass(eq=False, slots=True)
class RunContext:
    config: RunConfig
    client: ModellixClient
    journal: Journal
    clock: Clock
    progress: Progress
    digests: FileDigests
    uploader: ImageUploader
    slots: InFlightSlots
    timetable: PollTimetable
    store: OutputStore
    stats: RunStats
    finish: RowEnds
    submitters: int
    pollers: int
    writers: int
    unknown_rows: int = 0
    halted: str | None = None  # why submitting stopped early, and what to do

    @classmethod
    def create(
        cls,
        config: RunConfig,
        client: ModellixClient,
        journal: Journal,
        clock: Clock,
        progress: Progress,
        digests: FileDigests,
    ) -> RunContext:
        concurrency = config.job.concurrency
        uploads = UploadCache(config.paths.state_dir / UPLOADS_FILE, config.endpoint.base_url)
        slots = InFlightSlots(max_in_flight=concurrency)
        return cls(
            config=config,
            client=client,
            journal=journal,
            clock=clock,
            progress=progress,
            digests=digests,
            uploader=ImageUploader(client, digests, uploads),
            slots=slots,
            timetable=PollTimetable(
                clock, config.poll_policy(), requests_per_s=config.job.rate_limit
            ),
            store=OutputStore(config.paths.root, client, config.job.output),
            stats=RunStats(started_at=utc_now_iso()),
            finish=RowEnds(journal, progress, slots, config.paths, config.job.output),
            submitters=concurrency,
            pollers=min(MAX_POLLERS, concurrency),
            writers=min(MAX_WRITERS, concurrency),
        )

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
