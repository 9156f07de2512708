"""Starting a run, for `batchedit run` and `batchedit retry`: the steps between
a parsed command line and the pipeline.

In order: take the run directory's lock (a second run at once exits 2); plan
every row against the journal (`planning.survey`) so the run knows before the
first request how many paid submissions it will make; refuse under `--strict`
or the cost guard with nothing sent; remember how the run was started (for
`retry`); then run the pipeline with SIGINT and SIGTERM turned into a clean
stop. A second signal exits at once: every file is written aside and renamed,
so even then none is left half-written.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import TextIO

from tqdm.contrib.logging import logging_redirect_tqdm

from batchedit.api.endpoint import Endpoint, endpoint_from_env
from batchedit.eventloop import run_coroutine
from batchedit.events import add_secret, notice, say
from batchedit.manifest.decoding import DECODED_FILE
from batchedit.manifest.job import JobSettings
from batchedit.pipeline.planning import Survey, survey
from batchedit.pipeline.resume import RetryScope
from batchedit.pipeline.runner import RunConfig, RunOutcome, run_pipeline
from batchedit.simulator import SimOptions, running_simulator
from batchedit.state.fingerprint import FileDigests
from batchedit.state.invocation import Invocation, save_invocation
from batchedit.state.lock import run_lock
from batchedit.state.prompt_notes import add_notes, load_prompt_notes, save_prompt_notes
from batchedit.state.rundir import RunPaths

log = logging.getLogger(__name__)

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130
SIMULATED_KEY = "simulated-key"
#: In a terminal, a run that would pay for more than this many tasks asks first.
CONFIRM_ABOVE = 100
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
IO_THREADS = 32


@dataclass(frozen=True, slots=True)
class LaunchOptions:
    strict: bool = False
    show_progress: bool = False
    assume_yes: bool = False  # --yes: never ask
    interactive: bool = False  # stdin is a terminal: asking is possible
    retry_rows: RetryScope | None = None  # retry: the rows to run again
    #: retry: text to add to these rows' prompts (review notes), kept for later runs
    add_to_prompts: Mapping[str, str] = field(default_factory=dict)
    simulate: SimOptions | None = None  # run against the in-process simulator


Confirm = Callable[[str], bool]


def launch(
    job: JobSettings,
    invocation: Invocation,
    options: LaunchOptions,
    *,
    confirm: Confirm,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run `job` into its run directory; the exit code of CONTRACT.md."""
    out, err = out or sys.stdout, err or sys.stderr
    if job.output_dir is None:
        raise AssertionError("the CLI checks that a run directory was given")
    paths = RunPaths(job.output_dir)
    new_run_dir = not paths.root.exists()
    with run_lock(paths):
        notes = add_notes(load_prompt_notes(paths), options.add_to_prompts)
        job = replace(job, prompt_suffixes={**job.prompt_suffixes, **notes})
        planned = survey(job, paths, FileDigests(), retry=options.retry_rows)
        for problem in planned.problems:  # before the question: decide seeing them
            notice("problem", str(problem), file=err)
        refusal = refusal_reason(job, planned, options, confirm)
        if refusal is not None:
            notice("refused", f"batchedit: {refusal}; nothing was submitted", file=err)
            if new_run_dir:
                _remove_empty_run_dir(paths)
            return EXIT_USAGE
        save_invocation(paths, invocation)
        if options.add_to_prompts:
            save_prompt_notes(paths, notes)  # before any submit: later runs ask the same
        log.info("plan: %s", ", ".join(f"{n} to {a}" for a, n in planned.actions.items()))
        with logging_redirect_tqdm():
            outcome = run_coroutine(_run(job, paths, options, planned, err))
    for line in outcome.summary.human_lines(paths):
        say(line, file=out)  # a closed stdout (`| head`) changes nothing, exit code included
    if outcome.local_failure is not None:
        notice(
            "stopped",
            f"batchedit: run stopped: {outcome.local_failure}; nothing more was submitted. "
            "Free the space (or fix the permissions), then run the same command again",
            file=err,
        )
    if outcome.fatal is not None:
        notice("stopped", f"batchedit: run stopped: {outcome.fatal}", file=err)
    if outcome.halted is not None:
        notice("stopped", f"batchedit: {outcome.halted}", file=err)
    if outcome.interrupted:
        notice("stopped", "batchedit: interrupted; state is saved, run again to continue", file=err)
    return outcome.exit_code


def _remove_empty_run_dir(paths: RunPaths) -> None:
    """Leave no trace of a refused first run: just the lock (and the decode
    verdicts of its images) were made."""
    with suppress(OSError):  # rmdir refuses a folder that holds anything else
        paths.lock.unlink()
        (paths.state_dir / DECODED_FILE).unlink(missing_ok=True)
        paths.state_dir.rmdir()
        paths.root.rmdir()


def refusal_reason(
    job: JobSettings, planned: Survey, options: LaunchOptions, confirm: Confirm
) -> str | None:
    """Why the run must not start, or None: `--strict`, then the cost guard."""
    if options.strict and planned.invalid:
        return f"--strict: {planned.invalid} invalid row(s)"
    paid = planned.paid_submissions
    if job.max_tasks is not None and paid > job.max_tasks:
        return (
            f"this run would make {paid} paid submissions, more than max_tasks "
            f"{job.max_tasks}; raise --max-tasks to go ahead"
        )
    units = planned.paid_units
    if options.simulate is not None or options.assume_yes or units <= CONFIRM_ABOVE:
        return None
    if not options.interactive:
        if job.max_tasks is not None:
            return None  # a scheduled run bounded by max_tasks needs no question
        return (
            f"this run would make {paid} paid submissions and there is no terminal to ask "
            f"(more than {CONFIRM_ABOVE} needs a yes): add --max-tasks {paid} (or max_tasks: "
            f"{paid} in the job file) to cap what it may pay for, or --yes to go ahead"
        )
    return None if confirm(confirm_question(planned)) else "not confirmed"


def confirm_question(planned: Survey) -> str:
    """The cost guard's question, naming the re-made rows and, when tasks make
    several images, the paid images too."""
    paid = planned.paid_submissions
    again = (
        f" ({planned.resubmits} re-made: files gone, results expired)" if planned.resubmits else ""
    )
    images = ""
    if planned.multi_output_rows:
        images = (
            f" making {planned.paid_images} paid images ({planned.multi_output_rows} "
            "row(s) ask for more than one image per task: n > 1)"
        )
    return (
        f"This run will make {paid} paid submissions{again} to the Modellix API{images}. "
        "Go ahead? [y/N] "
    )


async def _run(
    job: JobSettings, paths: RunPaths, options: LaunchOptions, planned: Survey, err: TextIO
) -> RunOutcome:
    stop = asyncio.Event()
    # File work (fsync above all) waits in threads: more of them than the default
    # few let writes to disk overlap, which is what bounds a fast run.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="batchedit-io")
    )
    async with AsyncExitStack() as stack:
        stack.enter_context(_stop_on_signals(stop, err))
        if options.simulate is not None:
            simulator = await stack.enter_async_context(
                running_simulator(options.simulate, scratch_dir=paths.state_dir)
            )
            endpoint = Endpoint(simulator.base_url, SIMULATED_KEY)
        else:
            endpoint = endpoint_from_env()
        add_secret(endpoint.api_key)  # no log line may show it, whatever the format
        config = RunConfig(
            job,
            paths,
            endpoint,
            show_progress=options.show_progress,
            retry_rows=options.retry_rows,
            planned_submits=planned.paid_submissions,
        )
        return await run_pipeline(config, total_rows=planned.rows, stop=stop)
    raise AssertionError("unreachable")


@contextmanager
def _stop_on_signals(stop: asyncio.Event, err: TextIO) -> Iterator[None]:
    """SIGINT/SIGTERM: the first sets `stop`, a second exits at once."""
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
