"""`batchedit run SOURCE` and `batchedit retry RUN_DIR`: a job parsed from argv
and the job file, handed to the pipeline's launcher."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from batchedit.api.endpoint import Endpoint, endpoint_from_env
from batchedit.cli.exits import EXIT_OK
from batchedit.cli.launching import launch
from batchedit.cli.options import (
    REJECTED,
    RETRYABLE,
    add_launch_options,
    add_output_options,
    add_setting_flags,
    parse_categories,
    parse_retry_selection,
    setting_overrides,
)
from batchedit.cli.simulate import (
    add_simulate_options,
    sim_from_settings,
    sim_options,
    sim_settings,
)
from batchedit.errors import UsageError
from batchedit.manifest.job import apply_overrides, load_job
from batchedit.manifest.settings import RETRY, RUN
from batchedit.pipeline.launch import LaunchOptions
from batchedit.pipeline.plan.lost_state import state_folder_gone
from batchedit.pipeline.plan.resume import RetryScope
from batchedit.pipeline.poll.latency_store import user_cache_dir
from batchedit.records import Status, Verdict
from batchedit.report.decisions import clean_note
from batchedit.report.review import load_run
from batchedit.simulator import SimOptions
from batchedit.state.binding import read_binding
from batchedit.state.invocation import Invocation, load_invocation
from batchedit.state.rundir import RunPaths, refuse_a_file


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="process a job file or a bare manifest",
        description="Process a job file or a bare manifest into its run directory; "
        "a re-run resumes it and pays only for what changed.",
    )
    run.add_argument("source", type=Path, metavar="SOURCE", help="job file (YAML) or manifest")
    add_setting_flags(run, RUN)
    add_output_options(run)
    run.add_argument("--strict", action="store_true", help="refuse the run if any row is invalid")
    run.add_argument(
        "--new-source",
        action="store_true",
        help="run SOURCE into a run directory another job file or manifest made (default: "
        "refused, exit 2); the directory is then bound to SOURCE",
    )
    run.add_argument(
        "--rebuild-state",
        action="store_true",
        help="the run directory's journal is lost (deleted, emptied, unreadable): rebuild it "
        "from report.jsonl, settling every row whose outputs verify by sha256, then run",
    )
    add_launch_options(run)
    add_simulate_options(run)
    run.set_defaults(handler=command_run)

    retry = commands.add_parser(
        "retry",
        help="re-run the rows of an earlier run that failed",
        description="Re-run, with the same source and settings, the rows of RUN_DIR "
        "now in the statuses asked for.",
    )
    retry.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    retry.add_argument(
        "--status",
        type=parse_retry_selection,
        default=(frozenset({Status.FAILED}), False),
        metavar="S[,S]",
        help=f"statuses to re-run: {', '.join(RETRYABLE)}, or {REJECTED} (the rows rejected "
        "in review; paid) (default failed)",
    )
    notes = retry.add_mutually_exclusive_group()
    notes.add_argument(
        "--no-notes",
        action="store_true",
        help="send rejected rows again as they were, without their review notes",
    )
    notes.add_argument(
        "--prompt-suffix",
        metavar="TEXT",
        help="add TEXT to the prompt of every rejected row, instead of its note",
    )
    retry.add_argument(
        "--category",
        type=parse_categories,
        default=None,
        metavar="C[,C]",
        help="of the failed rows, re-run only those with these error categories (default: "
        "every category but content_policy, which the model would refuse again)",
    )
    add_setting_flags(retry, RETRY)
    add_launch_options(retry)
    retry.set_defaults(handler=command_retry)


def command_run(args: argparse.Namespace) -> int:
    overrides = setting_overrides(args)
    job = apply_overrides(load_job(args.source), **overrides)
    if job.output_dir is None:
        raise UsageError("no run directory: give --out DIR or `output_dir:` in the job file")
    simulate = sim_options(args) if args.simulate else None
    invocation = Invocation(
        source=args.source.resolve(),
        overrides=overrides,
        simulate=None if simulate is None else sim_settings(simulate),
    )
    return launch(job, invocation, _launch_options(args, simulate), confirm=ask)


def command_retry(args: argparse.Namespace) -> int:
    """The source RUN_DIR is bound to, with the settings of its last run, limited
    to the rows now in the statuses asked for; the command line still wins."""
    refuse_a_file(args.run_dir, "retry")
    gone = state_folder_gone(args.run_dir)
    if gone is not None:
        raise UsageError(gone)
    invocation = load_invocation(args.run_dir)
    bound = read_binding(RunPaths(args.run_dir))
    if bound is not None:
        invocation = replace(invocation, source=bound.path)
    # The last run's --max-tasks is not carried over: a cap that suited it (0 on a
    # re-run that paid nothing) is no rule for paying for the rows retried now,
    # which the cost guard weighs as it does for `run` (and --max-tasks here caps).
    inherited = {k: v for k, v in invocation.overrides.items() if k != "max_tasks"}
    overrides = {**inherited, **setting_overrides(args)}
    overrides["output_dir"] = str(args.run_dir.resolve())
    job = apply_overrides(load_job(invocation.source), **overrides)
    simulate = None if invocation.simulate is None else sim_from_settings(invocation.simulate)
    statuses, rejected = args.status
    if args.category is not None and Status.FAILED not in statuses:
        raise UsageError("retry: --category selects among failed rows; add --status failed")
    scope, added = RetryScope(statuses, categories=args.category), {}
    if args.prompt_suffix is not None and not rejected:
        raise UsageError("--prompt-suffix applies to rows rejected in review: --status rejected")
    if rejected:
        chosen = _rejected_rows(args.run_dir, args.no_notes, args.prompt_suffix)
        if not chosen and not statuses:
            print(f"nothing to retry: no row of {args.run_dir} is rejected in review")
            return EXIT_OK
        scope = RetryScope(statuses, frozenset(chosen), args.category)
        added = {row_id: text for row_id, text in chosen.items() if text}
    options = _launch_options(args, simulate, retry_rows=scope, add_to_prompts=added)
    return launch(job, invocation, options, confirm=ask)


def _rejected_rows(run_dir: Path, no_notes: bool, suffix: str | None) -> dict[str, str]:
    """The rows whose result is rejected now, each with the text for its prompt."""
    run = load_run(run_dir)
    chosen: dict[str, str] = {}
    for record in run.records:
        if record.decision is not Verdict.REJECTED:
            continue
        decision = run.decisions.get(record.id)
        note = "" if no_notes or decision is None else decision.note
        chosen[record.id] = clean_note(suffix) if suffix is not None else note
    return chosen


def _launch_options(
    args: argparse.Namespace,
    simulate: SimOptions | None,
    retry_rows: RetryScope | None = None,
    add_to_prompts: Mapping[str, str] | None = None,
) -> LaunchOptions:
    endpoint: Endpoint | None = None
    if simulate is None:  # a missing key is said now, before anything is made
        endpoint = endpoint_from_env(key_file=args.api_key_file)
    return LaunchOptions(
        endpoint=endpoint,
        strict=getattr(args, "strict", False),
        show_progress=not args.no_progress and sys.stderr.isatty(),
        assume_yes=args.yes,
        interactive=sys.stdin.isatty(),
        retry_rows=retry_rows,
        add_to_prompts=add_to_prompts or {},
        simulate=simulate,
        # A simulator's timings are not a service's: --simulate keeps them in the run only.
        latency_cache_dir=None if args.no_latency_cache or simulate else user_cache_dir(),
        new_source=getattr(args, "new_source", False),
        rebuild_state=getattr(args, "rebuild_state", False),
    )


def ask(question: str) -> bool:
    """A yes/no question on the terminal (stdin is one); anything but yes is no.
    Shown where the person at it sees it: stderr, else stdout, else the
    controlling terminal, since `run ... 2>err.log` still has someone to ask."""
    with contextlib.ExitStack() as stack:
        screen: TextIO = sys.stderr
        if not sys.stderr.isatty():
            if sys.stdout.isatty():
                screen = sys.stdout
            else:
                with contextlib.suppress(OSError):
                    screen = stack.enter_context(open("/dev/tty", "w", encoding="utf-8"))
        try:
            print(question, end="", file=screen, flush=True)
            answer = input()
        except (EOFError, OSError):
            return False
    return answer.strip().lower() in {"y", "yes"}
