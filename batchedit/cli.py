"""The command line: the only module that knows argv, exit codes and `asyncio.run`.

    batchedit run SOURCE [options]      process a job file or a bare manifest
    batchedit validate SOURCE           check every row offline
    batchedit simulate [options]        serve the built-in simulator on loopback

Exit codes (CONTRACT.md): 0 every row succeeded, 1 some rows did not, 2 usage
or input errors with nothing submitted, 3 a fatal API condition.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from . import __version__
from .columns import parse_column_option
from .endpoint import Endpoint, endpoint_from_env
from .errors import SourceError, UsageError
from .job import JobSettings, apply_overrides, iter_rows, load_job, validate_job
from .pipeline import RunConfig, RunOutcome, run_pipeline
from .records import InvalidRow, Problem
from .rundir import RunPaths
from .simulator import SimOptions, parse_latency, running_simulator, serve

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_FATAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
SIMULATED_KEY = "simulated-key"
DEFAULT_SIM_LATENCY_S = (0.2, 1.5)
MAX_PROBLEMS_SHOWN = 50

log = logging.getLogger("batchedit")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batchedit",
        description="Batch image edits through the Modellix API.",
    )
    parser.add_argument("--version", action="version", version=f"batchedit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every row's progress")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="process a job file or a bare manifest")
    run.add_argument("source", type=Path, metavar="SOURCE", help="job file (YAML) or manifest")
    run.add_argument("--out", type=Path, dest="output_dir", help="the run directory")
    run.add_argument("--manifest", type=Path, help="the manifest, instead of the job file's")
    run.add_argument("--model", help="model slug (default google/nano-banana-pro-edit)")
    run.add_argument("--concurrency", type=int, help="tasks in flight at the service")
    run.add_argument("--poll-interval", type=float, dest="poll_interval_s", help="seconds")
    _add_manifest_options(run)
    run.add_argument("--strict", action="store_true", help="refuse the run if any row is invalid")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_simulate_options(run)

    validate = commands.add_parser("validate", help="check every row offline")
    validate.add_argument("source", type=Path, metavar="SOURCE")
    _add_manifest_options(validate)

    simulate = commands.add_parser("simulate", help="serve the built-in simulator")
    simulate.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    simulate.add_argument("--port", type=int, default=8787)
    _add_simulator_options(simulate, prefix="")
    return parser


def _add_manifest_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="read FIELD (id, prompt, image, ...) from the manifest's COLUMN; "
        "id may be a template such as id={sku}-{colour} (repeatable)",
    )
    parser.add_argument("--delimiter", help="CSV delimiter: ',', ';' or 'tab' (default: sniffed)")
    parser.add_argument(
        "--allow-model",
        action="append",
        default=[],
        metavar="SLUG",
        help="send this model slug although batchedit does not know it (repeatable)",
    )


def _manifest_overrides(args: argparse.Namespace) -> dict[str, object]:
    try:
        columns = parse_column_option(args.column) if args.column else None
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    return {
        "columns": columns,
        "delimiter": args.delimiter,
        "allow_models": args.allow_model or None,
    }


def _add_simulate_options(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--simulate",
        action="store_true",
        help="start the built-in simulator on a free loopback port and use it (free)",
    )
    _add_simulator_options(run, prefix="sim-")


def _add_simulator_options(parser: argparse.ArgumentParser, *, prefix: str) -> None:
    group = parser.add_argument_group("simulator" if prefix == "" else "simulator (--simulate)")
    group.add_argument(f"--{prefix}latency", type=parse_latency, default=None, metavar="S[-S]")
    group.add_argument(f"--{prefix}fail-rate", type=float, default=0.0, metavar="FRACTION")
    group.add_argument(f"--{prefix}seed", type=int, default=None)
    if prefix:
        return
    group.add_argument("--error-rate", type=float, default=0.0, metavar="FRACTION")
    group.add_argument("--rate-limit", type=float, default=None, metavar="PER_SECOND")
    group.add_argument("--max-concurrent", type=int, default=None)
    group.add_argument("--api-key", default=None, help="accept only this key")
    group.add_argument("--balance", type=int, default=None, help="paid tasks before 402")
    group.add_argument("--expire-after", type=float, default=86400.0, metavar="SECONDS")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "validate":
            return command_validate(args)
        if args.command == "simulate":
            return command_simulate(args)
        return command_run(args)
    except (UsageError, SourceError) as exc:
        print(f"batchedit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def command_validate(args: argparse.Namespace) -> int:
    job = apply_overrides(load_job(args.source), **_manifest_overrides(args))
    problems = validate_job(job)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {args.source}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def command_simulate(args: argparse.Namespace) -> int:
    try:
        options = SimOptions(
            latency_s=args.latency or DEFAULT_SIM_LATENCY_S,
            fail_rate=args.fail_rate,
            error_rate=args.error_rate,
            rate_limit=args.rate_limit,
            max_concurrent=args.max_concurrent,
            api_key=args.api_key,
            balance=args.balance,
            expire_after_s=args.expire_after,
            seed=args.seed,
        )
    except ValueError as exc:
        raise UsageError(f"simulate: {exc}") from exc
    serve(options, host=args.host, port=args.port)
    return EXIT_OK


def _sim_options(args: argparse.Namespace) -> SimOptions:
    """The in-process simulator of `run --simulate`."""
    try:
        return SimOptions(
            latency_s=args.sim_latency or DEFAULT_SIM_LATENCY_S,
            fail_rate=args.sim_fail_rate,
            seed=args.sim_seed,
        )
    except ValueError as exc:
        raise UsageError(f"--simulate: {exc}") from exc


@dataclass(frozen=True, slots=True)
class RowTally:
    """A first, offline pass over the manifest: what the run will face."""

    valid: int
    invalid: int
    problems: tuple[Problem, ...]


def tally_rows(job: JobSettings) -> RowTally:
    valid = invalid = 0
    problems: list[Problem] = []
    for row in iter_rows(job):
        if isinstance(row, InvalidRow):
            invalid += 1
            if len(problems) < MAX_PROBLEMS_SHOWN:
                problems.extend(row.problems)
        else:
            valid += 1
    return RowTally(valid, invalid, tuple(problems))


def command_run(args: argparse.Namespace) -> int:
    job = apply_overrides(
        load_job(args.source),
        manifest=args.manifest,
        model=args.model,
        output_dir=args.output_dir,
        concurrency=args.concurrency,
        poll_interval_s=args.poll_interval_s,
        **_manifest_overrides(args),
    )
    if job.output_dir is None:
        raise UsageError("no run directory: give --out DIR or `output_dir:` in the job file")
    tally = tally_rows(job)
    for problem in tally.problems:
        print(problem, file=sys.stderr)
    if tally.invalid and args.strict:
        print(
            f"batchedit: --strict: {tally.invalid} invalid row(s); nothing was submitted",
            file=sys.stderr,
        )
        return EXIT_USAGE
    paths = RunPaths(job.output_dir)
    sim_options = _sim_options(args) if args.simulate else None
    show_progress = not args.no_progress and sys.stderr.isatty()
    with logging_redirect_tqdm():
        outcome = asyncio.run(_run(job, paths, sim_options, tally, show_progress))
    for line in outcome.summary.human_lines(paths):
        print(line)
    if outcome.fatal is not None:
        print(f"batchedit: run stopped: {outcome.fatal}", file=sys.stderr)
    return outcome.exit_code


async def _run(
    job: JobSettings,
    paths: RunPaths,
    sim_options: SimOptions | None,
    tally: RowTally,
    show_progress: bool,
) -> RunOutcome:
    async with AsyncExitStack() as stack:
        if sim_options is not None:
            simulator = await stack.enter_async_context(
                running_simulator(sim_options, scratch_dir=paths.state_dir)
            )
            endpoint = Endpoint(simulator.base_url, SIMULATED_KEY)
        else:
            endpoint = endpoint_from_env()
        config = RunConfig(job, paths, endpoint, show_progress=show_progress)
        return await run_pipeline(config, total_rows=tally.valid + tally.invalid)
    raise AssertionError("unreachable")
