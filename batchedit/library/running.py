"""`batchedit.run` and `batchedit.arun`: a job run to its end from Python.

`arun` runs in the caller's event loop (a notebook's, a service's): no
`asyncio.run`, no signal handlers, the loop's executor left alone; cancelling
the awaiting task stops the run as Ctrl-C would (state saved, report written)
and the cancellation then goes on. `run` is `arun` in a loop of its own (uvloop when
installed, as the CLI), for plain scripts; inside a running loop it says to use `arun` instead.

Both return the run's RunSummary (what summary.json holds: counts by status,
paid submissions, requests, wall time); `summary.stopped_by` says when a
fatal API answer, too many unknown outcomes or a cancellation ended it early.
A run that must not start (a cost guard, every row invalid, `strict`) raises
`RunRefused`, a UsageError, with nothing sent; a run whose report could not
be written (the disk) raises `ReportNotWritten`, a LocalFailure, after saving
what its journal holds. Neither returns an exit code: that is the command
line's (`cli/exits.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from pathlib import Path

from batchedit.api.endpoint import endpoint_from_env
from batchedit.errors import UsageError
from batchedit.eventloop import run_coroutine
from batchedit.library.settings import PathLike, job_from, recorded
from batchedit.pictures import return_large_allocations
from batchedit.pipeline.launch import LaunchOptions, start_run
from batchedit.pipeline.plan.guard_words import PYTHON
from batchedit.pipeline.plan.resume import RetryScope
from batchedit.records import Status
from batchedit.report.summary import RunSummary
from batchedit.state.invocation import Invocation


async def arun(
    source: PathLike,
    *,
    out: PathLike | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    strict: bool = False,
    only_statuses: Collection[Status | str] | None = None,
    new_source: bool = False,
    rebuild_state: bool = False,
    yes: bool = False,
    **settings: object,
) -> RunSummary:
    """Run the job file or manifest `source` into the run directory `out` (or
    the job's `output_dir:`), inside the running event loop.

    `base_url` and `api_key` default to MODELLIX_BASE_URL and the key the CLI
    would find (MODELLIX_API_KEY, then the official CLI's profile file).
    `settings` are job-file keys and win over the file. `only_statuses`
    re-runs just the rows now in those statuses, as `batchedit retry` does.
    `new_source` runs `source` into a run directory another source made
    (`--new-source`); without it that is refused (`RunRefused`).
    `rebuild_state` rebuilds a lost journal from report.jsonl first, as `run
    --rebuild-state` does; without it a run directory whose journal is lost
    raises StateLost (a RunRefused), nothing sent. Code has nobody to answer
    the cost guard's question: a run of more than 100 paid submissions is
    refused unless `max_tasks=` (or `max_spend=`) caps it or `yes=True` says
    to go ahead, as `--yes` does on the command line."""
    job = job_from(source, out=out, settings=settings)
    endpoint = endpoint_from_env(base_url=base_url, api_key=api_key)
    scope = None
    if only_statuses is not None:
        scope = RetryScope(statuses=frozenset(Status(s) for s in only_statuses))
    options = LaunchOptions(
        strict=strict,
        retry_rows=scope,
        endpoint=endpoint,
        new_source=new_source,
        rebuild_state=rebuild_state,
        assume_yes=yes,
        words=PYTHON,
    )
    invocation = Invocation(source=_absolute(source), overrides=recorded(settings, out))
    outcome, _ = await start_run(
        job, invocation, options, confirm=_never_asked, err=None, own_loop=False
    )
    return outcome.summary


def run(
    source: PathLike,
    *,
    out: PathLike | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    strict: bool = False,
    only_statuses: Collection[Status | str] | None = None,
    new_source: bool = False,
    rebuild_state: bool = False,
    yes: bool = False,
    **settings: object,
) -> RunSummary:
    """`arun` in an event loop of its own, for code that is not async (and,
    like the command line, with decoded pictures' memory given back when
    freed: pictures.return_large_allocations)."""
    if _in_running_loop():
        raise UsageError(
            "batchedit.run() was called inside a running event loop (a notebook?): "
            "use `await batchedit.arun(...)` there"
        )
    return_large_allocations()
    return run_coroutine(
        arun(
            source,
            out=out,
            base_url=base_url,
            api_key=api_key,
            strict=strict,
            only_statuses=only_statuses,
            new_source=new_source,
            rebuild_state=rebuild_state,
            yes=yes,
            **settings,
        )
    )


def _never_asked(question: str) -> bool:
    """Code has nobody to ask: a large run is bounded by `max_tasks=` or `yes=True` instead."""
    return False


def _absolute(source: PathLike) -> Path:
    return Path(source).resolve()


def _in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
