"""Starting a run, for `batchedit run`, `batchedit retry` and the Python API:
the steps between parsed settings and the pipeline.

In order: take the run directory's lock (a second run at once exits 2); refuse
a source other than the one the directory is bound to (`source_check.py`);
refuse a directory whose journal is lost, or rebuild it when asked
(`lost_state.py`); plan
every row against the journal (`planning.survey_run`, which also drafts the
report for the run to finish) so the run knows before the first request how
many paid submissions it will make; print the problems (grouped) and the plan
in one line; refuse under `--strict`, when every row
is invalid, or under a cost guard, with nothing sent and nothing left behind;
remember how the run was started (for `retry`); then run the pipeline.

`launch` is the command line's: a loop of its own, SIGINT and SIGTERM turned
into a clean stop (a second signal exits at once: every file is written aside
and renamed, so even then none is left half-written). `start_run` is the same
inside a caller's loop (`batchedit.arun`), where cancelling stops it cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import shutil
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from batchedit.api.endpoint import Endpoint, endpoint_from_env
from batchedit.errors import (
    UsageError,
)
from batchedit.events import add_secret, notice
from batchedit.manifest.job import JobSettings
from batchedit.origins import SIMULATE, Origin
from batchedit.pipeline.nightly import announced
from batchedit.pipeline.plan.guard_words import COMMAND_LINE, GuardWords
from batchedit.pipeline.plan.local_images import remove_unstarted_run_dir
from batchedit.pipeline.plan.lost_state import recover_state
from batchedit.pipeline.plan.planning import Survey, SurveyedRun, as_the_run_dir_asks, survey_run
from batchedit.pipeline.plan.resume import RetryScope
from batchedit.pipeline.plan.run_plan import RunPlan, cost_refusal, plan_from_survey
from batchedit.pipeline.plan.source_check import bind_run_dir, source_refusal
from batchedit.pipeline.runner import RunConfig, RunOutcome, run_pipeline
from batchedit.pipeline.stop import RunRefused
from batchedit.simulator import SCRATCH_PREFIX, SimOptions, running_simulator
from batchedit.state.fingerprint import FileDigests
from batchedit.state.invocation import Invocation, save_invocation
from batchedit.state.lock import RunLock, run_lock
from batchedit.state.prompt_notes import save_prompt_notes
from batchedit.state.rundir import RunPaths, refuse_a_file

log = logging.getLogger(__name__)

SIMULATED_KEY = "simulated-key"  # a stand-in, never a user's: the simulator's store may hold it
#: In a terminal, a run that would pay for more than this many tasks asks first.
CONFIRM_ABOVE = 100
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
    endpoint: Endpoint | None = None  # None: from the environment (unless simulating)
    latency_cache_dir: Path | None = None  # the per-user cache of task durations; None: unused
    new_source: bool = False  # --new-source: run another source into a bound run directory
    rebuild_state: bool = False  # --rebuild-state: a lost journal rebuilt from report.jsonl
    words: GuardWords = COMMAND_LINE  # how refusals name what to give: flags, or keywords


Confirm = Callable[[str], bool]
#: The command line's signal handling, entered once the pipeline starts (not
#: while planning, where Ctrl-C interrupts at once): given the run's stop event.
StopSignals = Callable[[asyncio.Event], AbstractContextManager[None]]


async def start_run(
    job: JobSettings,
    invocation: Invocation,
    options: LaunchOptions,
    *,
    confirm: Confirm,
    err: TextIO | None,
    own_loop: bool,
    stop_signals: StopSignals | None = None,
) -> tuple[RunOutcome, RunPlan]:
    """Lock, plan, check the guards, run; then `--notify`'s one message, however
    it ended (nightly.announced). `err` None keeps problems and the plan in the
    log (the Python API); `own_loop` False (a caller's loop, a notebook) leaves
    the loop's executor and signal handlers alone: cancelling the caller's task
    then stops the run cleanly, as SIGINT does."""
    async with announced(job) as ending:
        ending.outcome, plan = await _start_run(
            job,
            invocation,
            options,
            confirm=confirm,
            err=err,
            own_loop=own_loop,
            stop_signals=stop_signals,
        )
    return ending.outcome, plan


async def _start_run(
    job: JobSettings,
    invocation: Invocation,
    options: LaunchOptions,
    *,
    confirm: Confirm,
    err: TextIO | None,
    own_loop: bool,
    stop_signals: StopSignals | None,
) -> tuple[RunOutcome, RunPlan]:
    if job.output_dir is None:
        raise UsageError("no run directory: give --out DIR or `output_dir:` in the job file")
    endpoint = None if options.simulate is not None else options.endpoint or endpoint_from_env()
    # Whose results settle rows here (origins.py): known before anything is asked.
    origin = SIMULATE if endpoint is None else endpoint.origin
    paths = RunPaths(job.output_dir)
    refuse_a_file(paths.root)
    new_run_dir = not paths.root.exists()
    with run_lock(paths, claim=False) as lock:
        refused = source_refusal(paths, invocation.source, new_source=options.new_source)
        if refused is not None:
            raise RunRefused(refused)
        job, notes = as_the_run_dir_asks(job, paths, options.add_to_prompts)
        surveyed: SurveyedRun | None = None
        try:
            surveyed = await _survey(job, paths, options, origin, lock, err, own_loop=own_loop)
            planned = surveyed.survey
            plan = plan_from_survey(job, planned)
            _tell(job, planned, plan, err)
            # Asked on the loop's own thread, which has nothing else to do yet:
            # Ctrl-C at the question then interrupts at once, where a worker
            # thread blocked in input() would hold the exit until Enter.
            refusal = refusal_reason(job, planned, options, confirm)
            if refusal is not None:
                raise RunRefused(refusal)
        except BaseException:
            # Refused, or stopped while planning (Ctrl-C, a bug): a folder this
            # run made is left as it was found, without even its lock or draft.
            if surveyed is not None:
                surveyed.discard()
            if new_run_dir:
                remove_unstarted_run_dir(paths)
            raise
        try:
            save_invocation(paths, invocation)
            bind_run_dir(paths, invocation.source)
            if options.add_to_prompts:
                save_prompt_notes(paths, notes)  # before any submit: later runs ask the same
            outcome = await _run(
                job, paths, options, surveyed, endpoint, own_loop=own_loop, signals=stop_signals
            )
        finally:
            surveyed.index.close()  # the run has closed it already
    return outcome, plan


async def _survey(
    job: JobSettings,
    paths: RunPaths,
    options: LaunchOptions,
    origin: Origin,
    lock: RunLock,
    err: TextIO | None,
    *,
    own_loop: bool,
) -> SurveyedRun:
    """A lost journal refused, or rebuilt when asked (`lost_state.py`), then the
    plan of every row against `origin` (`planning.survey_run`). In a loop of our
    own nothing else runs yet, so it runs right here (Ctrl-C stops it at once);
    in a caller's loop, in a thread, since it hashes files and the caller's
    other tasks go on."""

    def work() -> SurveyedRun:
        recover_state(
            paths,
            job.source,
            claim=lock.claim,
            tell=lambda line: _say(line, "rebuilt", err),
            rebuild=options.rebuild_state,
            retrying=options.retry_rows is not None,
            new_source=options.new_source,
        )
        return survey_run(job, paths, FileDigests(), origin=origin, retry=options.retry_rows)

    return work() if own_loop else await asyncio.to_thread(work)


def _say(
    line: str, event: str, err: TextIO | None, fields: dict[str, object] | None = None
) -> None:
    """A line before the run: on stderr from the command line, else in the log."""
    if err is None:
        log.warning("%s", line)
    else:
        notice(event, line, file=err, fields=fields)


#: At most this many grouped problem lines before a run; the rest are counted.
PROBLEM_LINES = 10


def _tell(job: JobSettings, planned: Survey, plan: RunPlan, err: TextIO | None) -> None:
    """The grouped problems and the plan line, before anything is sent."""
    full = f"every problem: batchedit validate {shlex.quote(str(job.source))}"
    groups = list(planned.problems.groups.values())[:PROBLEM_LINES]
    lines = planned.problems.lines(limit=PROBLEM_LINES, full_list=full)
    for number, line in enumerate(lines):
        group = groups[number] if number < len(groups) else None
        _say(line, "problem", err, group.to_json() if group is not None else {})
    if err is None:
        log.info("%s", plan.line())
    else:
        notice("plan", plan.line(), file=err, fields=plan.to_json())
    for note in plan.notes():  # why rows are paid for again, or left alone
        if err is None:
            log.warning("%s", note)
        else:
            notice("plan_note", note, file=err)


def refusal_reason(
    job: JobSettings, planned: Survey, options: LaunchOptions, confirm: Confirm
) -> str | None:
    """Why the run must not start, or None: `--strict`, a run of invalid rows
    only, the cost guards, then the question in a terminal."""
    if options.strict and planned.invalid:
        return f"--strict: {planned.invalid} invalid row(s)"
    if planned.rows and planned.invalid == planned.rows:
        return (
            f"every row of {job.manifest} is invalid ({planned.rows} rows); "
            f"batchedit validate {shlex.quote(str(job.source))} lists the problems"
        )
    paid, words = planned.paid_submissions, options.words
    if job.max_tasks is not None and paid > job.max_tasks:
        return (
            f"this run would make {paid} paid submissions, more than max_tasks "
            f"{job.max_tasks}; raise it to go ahead ({words.setting('max_tasks', paid)})"
        )
    too_costly = cost_refusal(job, plan_from_survey(job, planned), words)
    if too_costly is not None:
        return too_costly
    units = planned.paid_units
    if options.simulate is not None or options.assume_yes or units <= CONFIRM_ABOVE:
        return None
    if not options.interactive:
        if job.max_tasks is not None or job.max_spend is not None:
            return None  # a scheduled run bounded by max_tasks or max_spend needs no question
        return (
            f"this run would make {paid} paid submissions and {words.nobody_to_ask} "
            f"(more than {CONFIRM_ABOVE} needs a yes): give {words.setting('max_tasks', paid)} "
            f"(or max_tasks: {paid} in the job file), or {words.setting('max_spend', 'AMOUNT')} "
            f"with a price table, to cap what it may pay for, or {words.yes} to go ahead"
        )
    return None if confirm(confirm_question(planned)) else "not confirmed"


def confirm_question(planned: Survey) -> str:
    """The cost guard's question, naming the re-made rows and, when tasks make
    several images, the paid images too."""
    paid = planned.paid_submissions
    why = []
    if planned.resubmits:
        why.append(f"{planned.resubmits} re-made: files gone, results expired")
    if planned.replaced:
        why.append(f"{planned.replaced} holding another origin's results")
    again = f" ({'; '.join(why)})" if why else ""
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
    job: JobSettings,
    paths: RunPaths,
    options: LaunchOptions,
    surveyed: SurveyedRun,
    endpoint: Endpoint | None,
    *,
    own_loop: bool,
    signals: StopSignals | None,
) -> RunOutcome:
    stop = asyncio.Event()
    if own_loop:
        # File work (fsync above all) waits in threads: more of them than the
        # default few let writes to disk overlap, which is what bounds a fast run.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="batchedit-io")
        )
    async with AsyncExitStack() as stack:
        if signals is not None:
            stack.enter_context(signals(stop))
        if options.simulate is not None:
            # A simulated run killed earlier (kill -9, a second signal) could not
            # remove its scratch folder of rendered results: this run, holding
            # the lock, does.
            await asyncio.to_thread(_remove_stale_scratch, paths.state_dir)
            simulator = await stack.enter_async_context(
                running_simulator(options.simulate, store_dir=paths.simulator_store)
            )
            endpoint = Endpoint(simulator.base_url, SIMULATED_KEY, in_process_simulator=True)
        if endpoint is None:
            raise AssertionError("start_run resolves the endpoint unless simulating")
        add_secret(endpoint.api_key)  # no log line may show it, whatever the format
        planned = surveyed.survey
        config = RunConfig(
            job,
            paths,
            endpoint,
            show_progress=options.show_progress,
            retry_rows=options.retry_rows,
            planned_submits=planned.paid_submissions,
            latency_cache_dir=options.latency_cache_dir,
        )
        pipeline = run_pipeline(
            config,
            total_rows=planned.rows,
            work=planned.work,
            submits=planned.paid_submissions,
            stop=stop,
            surveyed=surveyed,
        )
        return await _until_done(pipeline, stop)
    raise AssertionError("unreachable")


async def _until_done(pipeline: Coroutine[Any, Any, RunOutcome], stop: asyncio.Event) -> RunOutcome:
    """The pipeline's outcome; a cancelled caller stops it as a signal would,
    and waits for the report to be written before the cancellation goes on."""
    task = asyncio.create_task(pipeline)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        stop.set()
        await task
        raise


def _remove_stale_scratch(state_dir: Path) -> None:
    for folder in state_dir.glob(f"{SCRATCH_PREFIX}*"):
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
