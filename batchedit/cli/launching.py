"""`run` and `retry` from the command line: the pipeline's start (`start_run`)
in an event loop of our own, its ending told on stdout and stderr, the exit
code of CONTRACT.md, and SIGINT/SIGTERM turned into a clean stop.

A second signal exits at once: every file is written aside and renamed, so
even then none is left half-written."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from tqdm.contrib.logging import logging_redirect_tqdm

from batchedit.cli.exits import EXIT_INTERRUPTED, EXIT_LOCAL, EXIT_USAGE, run_exit_code
from batchedit.errors import InternalError, LocalFailure, SourceError, UsageError
from batchedit.eventloop import run_coroutine
from batchedit.events import notice, say
from batchedit.manifest.job import JobSettings
from batchedit.pipeline.config import RunOutcome
from batchedit.pipeline.launch import Confirm, LaunchOptions, StopSignals, start_run
from batchedit.pipeline.plan.run_plan import RunPlan
from batchedit.pipeline.runner import as_local_failure
from batchedit.pipeline.stop import RunRefused, StopReason
from batchedit.records import Status
from batchedit.state.invocation import Invocation
from batchedit.state.rundir import RunPaths

log = logging.getLogger(__name__)

NOTHING_LOST = (
    "state is saved: free the space (or fix the permissions), then run the same command "
    "again to continue"
)
AFTER_A_BUG = "state is saved: run the same command again to continue"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def launch(
    job: JobSettings,
    invocation: Invocation,
    options: LaunchOptions,
    *,
    confirm: Confirm,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run `job` into its run directory from the command line, in a loop of its
    own; the exit code of CONTRACT.md."""
    out, err = out or sys.stdout, err or sys.stderr
    signals = None
    if threading.current_thread() is threading.main_thread():
        signals = _signal_handling(err)
    try:
        with logging_redirect_tqdm():
            started = run_coroutine(
                start_run(
                    job,
                    invocation,
                    options,
                    confirm=confirm,
                    err=err,
                    own_loop=True,
                    stop_signals=signals,
                )
            )
    except RunRefused as exc:
        notice("refused", f"batchedit: {exc}; nothing was submitted", file=err)
        return EXIT_USAGE
    except (UsageError, SourceError):
        raise
    except Exception as exc:  # the edge: any other failure is one line, exit 4
        failure = as_local_failure(exc)
        log.debug("stopped by %s", type(exc).__name__, exc_info=exc)
        notice("stopped", f"batchedit: stopped: {failure}; {_advice(failure)}", file=err)
        return EXIT_LOCAL
    outcome, plan = started
    _tell_ending(job, outcome, plan, out, err)
    return run_exit_code(outcome)


def _tell_ending(
    job: JobSettings, outcome: RunOutcome, plan: RunPlan, out: TextIO, err: TextIO
) -> None:
    """The closing lines on stdout, and on stderr the stop, if any, once."""
    assert job.output_dir is not None  # start_run refuses a job without one
    if outcome.written is not None:
        # Shown as the user would type it: runs/catalog, not jobs/catalog/../../runs/catalog.
        lines = outcome.written.human_lines(RunPaths(Path(os.path.normpath(job.output_dir))))
        pending = outcome.written.counts.statuses.get(Status.PENDING, 0)
        lines.insert(1, plan.closing_line(pending=pending))
        for line in lines:
            say(line, file=out)  # a closed stdout (`| head`) changes nothing, exit code included
    else:
        notice(
            "stopped",
            f"batchedit: report.jsonl and summary.json not written: {outcome.report_error}",
            file=err,
        )
    if outcome.stop is not None:
        notice("stopped", f"batchedit: {_stop_line(outcome.stop, outcome.why or '')}", file=err)


def _stop_line(stop: StopReason, why: str) -> str:
    if stop is StopReason.LOCAL_FAILURE:
        return f"run stopped: {why}; nothing more was submitted. {NOTHING_LOST}"
    if stop is StopReason.INTERNAL_ERROR:
        return f"run stopped: {why}; nothing more was submitted. {AFTER_A_BUG}"
    if stop is StopReason.FATAL_API:
        return f"run stopped: {why}"
    return why  # the guards and the interruption say what happened and what to do


def _advice(failure: LocalFailure) -> str:
    return AFTER_A_BUG if isinstance(failure, InternalError) else NOTHING_LOST


def _signal_handling(err: TextIO) -> StopSignals:
    """The context the pipeline enters once it starts: SIGINT/SIGTERM set its
    stop event, a second one exits at once."""

    @contextmanager
    def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
        loop = asyncio.get_running_loop()

        def on_signal(signum: int) -> None:
            # The flag first, the words after: a stderr whose reader went with the
            # same Ctrl-C (`| tee`) fails the write, and that must not undo the stop.
            name = signal.Signals(signum).name
            if stop.is_set():
                say(f"\nbatchedit: {name} again: exiting now", file=err)
                os._exit(EXIT_INTERRUPTED)
            stop.set()
            say(f"\nbatchedit: {name}: stopping, saving state (again to exit at once)", file=err)

        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            yield
        finally:
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)

    return stop_on_signals
