"""The command line: the only module that knows argv, exit codes and `asyncio.run`.

    batchedit run SOURCE [options]      process a job file or a bare manifest
    batchedit retry RUN_DIR [--status]  re-run the rows that ended failed (or unknown)
    batchedit status RUN_DIR            counts by status and error category, offline
    batchedit validate SOURCE           check every row offline
    batchedit report RUN_DIR [--html FILE] [--failed-csv FILE]
                                        review page; manifest of the rows that did not succeed
    batchedit report merge RUN_DIR... --out DIR
                                        the shards' reports as one, in manifest order
    batchedit simulate [options]        serve the built-in simulator on loopback

Exit codes (CONTRACT.md): 0 every row succeeded, 1 some rows did not, 2 usage
or input errors with nothing submitted, 3 a fatal API condition, 130 stopped
by SIGINT or SIGTERM with its state saved.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from batchedit import __version__
from batchedit.api.doctor import diagnose
from batchedit.errors import SourceError, UsageError
from batchedit.events import LOG_FORMATS, setup_logging
from batchedit.manifest.columns import parse_column_option
from batchedit.manifest.job import SETTING_NAMES, apply_overrides, load_job, validate_job
from batchedit.manifest.shard import parse_shard
from batchedit.pipeline.launch import LaunchOptions, launch
from batchedit.records import Status
from batchedit.report.failed_rows import NOT_SUCCEEDED, write_failed_csv
from batchedit.report.merge import command_merge
from batchedit.report.review import load_run, write_review
from batchedit.report.status import read_status, status_lines
from batchedit.simulator import SimOptions, parse_latency, serve
from batchedit.state.invocation import Invocation, Setting, load_invocation

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_FATAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEFAULT_SIM_LATENCY_S = (0.2, 1.5)

log = logging.getLogger("batchedit")

#: `batchedit report VERB ...` commands, dispatched on argv before argparse reads
#: `report RUN_DIR`: a run directory is never named like a verb here.
REPORT_VERBS: dict[str, Callable[[list[str]], int]] = {"merge": command_merge}


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
    run.add_argument(
        "--poll-interval",
        type=float,
        dest="poll_interval_s",
        metavar="S",
        help="poll every S seconds (default: latency-aware polling)",
    )
    run.add_argument(
        "--shard",
        type=_shard_option,
        metavar="K/N",
        help="process only shard K of N (by a hash of the row id); a bare N takes K from "
        "JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX or SLURM_ARRAY_TASK_ID",
    )
    _add_manifest_options(run)
    _add_output_options(run)
    run.add_argument("--rate-limit", type=float, metavar="PER_SECOND", help="API requests/s")
    run.add_argument(
        "--max-unknown", type=int, metavar="N", help="stop submitting after N unknown outcomes"
    )
    run.add_argument(
        "--task-timeout", type=float, metavar="SECONDS", help="each task's deadline from submit"
    )
    run.add_argument("--strict", action="store_true", help="refuse the run if any row is invalid")
    _add_launch_options(run)
    _add_simulate_options(run)

    retry = commands.add_parser("retry", help="re-run the rows of an earlier run that failed")
    retry.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    retry.add_argument(
        "--status",
        type=parse_statuses,
        default=frozenset({Status.FAILED}),
        metavar="S[,S]",
        help=f"statuses to re-run: {', '.join(RETRYABLE)} (default failed)",
    )
    retry.add_argument("--concurrency", type=int, help="tasks in flight at the service")
    _add_launch_options(retry)

    status = commands.add_parser("status", help="counts by status and error category, offline")
    status.add_argument("run_dir", type=Path, metavar="RUN_DIR")

    validate = commands.add_parser("validate", help="check every row offline")
    validate.add_argument("source", type=Path, metavar="SOURCE")
    _add_manifest_options(validate)

    _add_report_command(commands)

    doctor = commands.add_parser(
        "doctor", help="check the key, the API origin and the balance (never prints the key)"
    )
    doctor.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS")

    simulate = commands.add_parser("simulate", help="serve the built-in simulator")
    simulate.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    simulate.add_argument("--port", type=int, default=8787)
    _add_simulator_options(simulate, prefix="")
    return parser


def _shard_option(text: str) -> str:
    """`K/N` as given, or with K read from the job array now, so `retry` replays it."""
    try:
        return str(parse_shard(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


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


def _add_output_options(run: argparse.ArgumentParser) -> None:
    group = run.add_argument_group("outputs")
    group.add_argument(
        "--output-name", metavar="TEMPLATE", help='file name under outputs/, e.g. "{sku}/{id}"'
    )
    group.add_argument("--output-format", metavar="FORMAT", help="png, jpeg or webp")
    group.add_argument("--quality", type=int, metavar="1-100", help="jpeg/webp quality")
    group.add_argument(
        "--keep-original",
        action="store_true",
        default=None,
        help="also keep the service's own file when converting",
    )


def _output_overrides(args: argparse.Namespace) -> dict[str, Setting]:
    """--output-name, --output-format, --quality, --keep-original: the pieces of
    `output:` given, laid over the job file's by apply_overrides."""
    pieces: dict[str, Setting] = {
        "name": getattr(args, "output_name", None),
        "format": getattr(args, "output_format", None),
        "quality": getattr(args, "quality", None),
        "keep_original": getattr(args, "keep_original", None),
    }
    given = {name: value for name, value in pieces.items() if value is not None}
    return {"output": given} if given else {}


def _manifest_overrides(args: argparse.Namespace) -> dict[str, Setting]:
    """--column and --allow-model as JSON values, so `retry` can replay them."""
    given: dict[str, Setting] = {}
    if getattr(args, "column", None):
        try:
            given["columns"] = parse_column_option(args.column)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    if getattr(args, "allow_model", None):
        given["allow_models"] = list(args.allow_model)
    return given


def _add_launch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-tasks",
        type=int,
        dest="max_tasks",
        metavar="N",
        help="refuse to start if the run would make more than N paid submissions",
    )
    parser.add_argument(
        "--yes", action="store_true", help="do not ask before a large paid run in a terminal"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="json: one JSON object per event on stderr, for nightly logs",
    )


RETRYABLE = (Status.FAILED, Status.UNKNOWN, Status.PENDING)


def parse_statuses(text: str) -> frozenset[Status]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    allowed = {status.value for status in RETRYABLE}
    wrong = [name for name in names if name not in allowed]
    if wrong or not names:
        raise argparse.ArgumentTypeError(
            f"{', '.join(wrong) or 'nothing'}: give statuses among {', '.join(sorted(allowed))}"
        )
    return frozenset(Status(name) for name in names)


def _add_report_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report",
        help="a before/after review page; a manifest of the rows that did not succeed",
        description="With neither --html nor --failed-csv, writes RUN_DIR/review.html.",
    )
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    report.add_argument("--html", type=Path, metavar="FILE", help="write the review page here")
    report.add_argument(
        "--failed-csv", type=Path, metavar="FILE", help="write the rows that did not succeed"
    )
    report.add_argument(
        "--status",
        type=_report_statuses,
        default=NOT_SUCCEEDED,
        metavar="S[,S]",
        help="rows for --failed-csv (default: failed,unknown,invalid,pending)",
    )


def _report_statuses(text: str) -> frozenset[Status]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    allowed = [status.value for status in Status]
    wrong = [name for name in names if name not in allowed]
    if wrong or not names:
        raise argparse.ArgumentTypeError(
            f"{', '.join(wrong) or 'nothing'}: give statuses among {', '.join(allowed)}"
        )
    return frozenset(Status(name) for name in names)


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
    group.add_argument(
        "--prerendered",
        action="store_true",
        help="serve one ready-made image per output shape instead of editing (for benchmarks)",
    )
    group.add_argument(
        "--drop-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="submits whose task is created, then the connection dropped unanswered",
    )
    group.add_argument(
        "--malformed-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="200 answers replaced by a malformed body",
    )
    group.add_argument(
        "--truncate-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="result downloads cut short",
    )
    group.add_argument(
        "--slow-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="answers held back --slow-delay seconds",
    )
    group.add_argument("--slow-delay", type=float, default=2.0, metavar="SECONDS")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"] and len(argv) > 1 and argv[1] in REPORT_VERBS:
        return REPORT_VERBS[argv[1]](argv[2:])
    args = build_parser().parse_args(argv)
    setup_logging(getattr(args, "log_format", "text"), verbose=args.verbose)
    in_main_thread = threading.current_thread() is threading.main_thread()
    # SIGTERM as Ctrl-C while no run is going (planning, printing the end); a
    # run in progress handles both itself and stops cleanly.
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:
        return _dispatch(args)
    except (UsageError, SourceError) as exc:
        print(f"batchedit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "validate":
        return command_validate(args)
    if args.command == "report":
        return command_report(args)
    if args.command == "simulate":
        return command_simulate(args)
    if args.command == "status":
        return command_status(args.run_dir)
    if args.command == "retry":
        return command_retry(args)
    if args.command == "doctor":
        return command_doctor(args.timeout)
    return command_run(args)


def command_doctor(timeout_s: float) -> int:
    """Exit 0 when every check passed, 1 when one failed."""
    checks = asyncio.run(diagnose(os.environ, timeout_s=timeout_s))
    for check in checks:
        print(check.line())
    return EXIT_OK if all(check.ok for check in checks) else EXIT_SOME_FAILED


def command_validate(args: argparse.Namespace) -> int:
    job = apply_overrides(load_job(args.source), **_manifest_overrides(args))
    problems = validate_job(job)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {args.source}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def command_report(args: argparse.Namespace) -> int:
    run = load_run(args.run_dir)
    html: Path | None = args.html
    if html is None and args.failed_csv is None:
        html = args.run_dir / "review.html"
    if html is not None:
        page = write_review(run, html)
        print(f"review page: {page.path} ({page.rows} rows, {page.thumbnails} thumbnails)")
    if args.failed_csv is not None:
        failed = write_failed_csv(run, args.failed_csv, args.status)
        print(f"{failed.rows} row(s) that did not succeed: {failed.path}")
        if failed.from_report:
            print(f"  ({failed.from_report} rebuilt from the report: the manifest lost them)")
        if failed.rows:
            print(f"  check: batchedit validate {failed.path}")
            print(f"  run:   batchedit run {failed.path} --out {args.run_dir}-fix")
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
            prerendered=args.prerendered,
            drop_rate=args.drop_rate,
            malformed_rate=args.malformed_rate,
            truncate_rate=args.truncate_rate,
            slow_rate=args.slow_rate,
            slow_s=args.slow_delay,
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


def _sim_settings(options: SimOptions) -> dict[str, Setting]:
    return {
        "latency": list(options.latency_s),
        "fail_rate": options.fail_rate,
        "seed": options.seed,
    }


def _sim_from_settings(settings: Mapping[str, Setting]) -> SimOptions:
    latency = settings.get("latency")
    fail_rate = settings.get("fail_rate")
    seed = settings.get("seed")
    try:
        return SimOptions(
            latency_s=parse_latency("-".join(str(x) for x in latency))
            if isinstance(latency, list)
            else DEFAULT_SIM_LATENCY_S,
            fail_rate=float(fail_rate) if isinstance(fail_rate, int | float) else 0.0,
            seed=seed if isinstance(seed, int) else None,
        )
    except ValueError as exc:
        raise UsageError(f"the recorded simulator options are unusable: {exc}") from exc


def _overrides(args: argparse.Namespace) -> dict[str, Setting]:
    """The job settings given on the command line; paths made absolute so
    that `retry` finds them from any folder."""
    given = {**_manifest_overrides(args), **_output_overrides(args)}
    for name in SETTING_NAMES:
        value = getattr(args, name, None)
        if value is None or name in given:
            continue
        given[name] = str(Path(value).resolve()) if isinstance(value, Path) else value
    return given


def _launch_options(
    args: argparse.Namespace,
    simulate: SimOptions | None,
    only_statuses: frozenset[Status] | None = None,
) -> LaunchOptions:
    return LaunchOptions(
        strict=getattr(args, "strict", False),
        show_progress=not args.no_progress and sys.stderr.isatty(),
        assume_yes=args.yes,
        interactive=sys.stdin.isatty() and sys.stderr.isatty(),
        only_statuses=only_statuses,
        simulate=simulate,
    )


def command_run(args: argparse.Namespace) -> int:
    overrides = _overrides(args)
    job = apply_overrides(load_job(args.source), **overrides)
    if job.output_dir is None:
        raise UsageError("no run directory: give --out DIR or `output_dir:` in the job file")
    simulate = _sim_options(args) if args.simulate else None
    invocation = Invocation(
        source=args.source.resolve(),
        overrides=overrides,
        simulate=None if simulate is None else _sim_settings(simulate),
    )
    return launch(job, invocation, _launch_options(args, simulate), confirm=ask)


def command_retry(args: argparse.Namespace) -> int:
    """The same source and settings as the run that made RUN_DIR, limited to
    the rows now in the statuses asked for; the command line still wins."""
    invocation = load_invocation(args.run_dir)
    overrides = {**invocation.overrides, **_overrides(args)}
    overrides["output_dir"] = str(args.run_dir.resolve())
    job = apply_overrides(load_job(invocation.source), **overrides)
    simulate = None if invocation.simulate is None else _sim_from_settings(invocation.simulate)
    options = _launch_options(args, simulate, only_statuses=args.status)
    return launch(job, invocation, options, confirm=ask)


def command_status(run_dir: Path) -> int:
    for line in status_lines(run_dir, read_status(run_dir)):
        print(line)
    return EXIT_OK


def ask(question: str) -> bool:
    """A yes/no question on the terminal; anything but yes is no."""
    print(question, end="", file=sys.stderr, flush=True)
    try:
        answer = input()
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}
