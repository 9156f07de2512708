"""What the simulator's handlers share for the life of one app.

The state is plain data; this adds the running parts that need an event
loop (the client session for loopback inputs, the background render jobs,
the folder of rendered results) and owns their clean-up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from batchedit.simulator.prerendered import PrerenderedResults
from batchedit.simulator.realistic import paint_photo
from batchedit.simulator.state import SimState
from batchedit.simulator.store import SimStore, Snapshot

log = logging.getLogger(__name__)

#: The simulator's store is written at most this often while it runs.
SAVE_EVERY_S = 2.0


@dataclass(slots=True)
class SimContext:
    state: SimState
    jobs: set[asyncio.Task[None]] = field(default_factory=set)
    session: aiohttp.ClientSession | None = None
    result_dir: Path | None = None
    scratch_dir: Path | None = None  # where result_dir is made; None: the system's temp
    store: SimStore | None = None  # `run --simulate`: tasks and results kept on disk
    prerendered: PrerenderedResults = field(default_factory=PrerenderedResults)
    #: `--result-profile realistic`: photo-like files at real sizes, one per shape.
    realistic: PrerenderedResults = field(default_factory=lambda: PrerenderedResults(paint_photo))

    def save_soon(self) -> None:
        """After a change: write the store, at most every SAVE_EVERY_S, so a killed
        run loses little of it (stopping writes it once more). No timer runs:
        changes trigger the writes."""
        store = self.store
        if store is None or store.saving:
            return
        now = time.monotonic()
        if now - store.saved_at < SAVE_EVERY_S:
            return
        store.saving, store.saved_at = True, now
        self.start_job(self._write(store, store.snapshot(self.state)))

    @staticmethod
    async def _write(store: SimStore, snapshot: Snapshot) -> None:
        try:
            await asyncio.to_thread(store.write, snapshot)
        finally:
            store.saving = False

    def start_job(self, job: Coroutine[Any, Any, None]) -> None:
        """Run `job` in the background, tracked so clean-up can cancel and await it."""
        task = asyncio.create_task(job)
        self.jobs.add(task)
        task.add_done_callback(self._job_done)

    def _job_done(self, task: asyncio.Task[None]) -> None:
        self.jobs.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator background job failed", exc_info=task.exception())

    async def stop_jobs(self) -> None:
        jobs = list(self.jobs)
        for task in jobs:
            task.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    def require_session(self) -> aiohttp.ClientSession:
        if self.session is None:
            raise RuntimeError("the simulator app is not running")
        return self.session

    def require_result_dir(self) -> Path:
        if self.result_dir is None:
            raise RuntimeError("the simulator app is not running")
        return self.result_dir


CONTEXT = web.AppKey("batchedit_simulator", SimContext)
API_KEY = web.RequestKey("batchedit_simulator_api_key", str)
