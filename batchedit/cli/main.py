"""The entry point: argv parsed, one command dispatched, an exit code returned.

Each command lives in its own module, which adds its subparser and names its
handler (`set_defaults(handler=...)`); this module only assembles them, sets
up logging, and turns the errors every command shares into exit codes.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from batchedit import __version__
from batchedit.cli import (
    decisions,
    doctor,
    export,
    models,
    report,
    review,
    run,
    simulate,
    status,
    validate,
)
from batchedit.cli.exits import EXIT_INTERRUPTED, EXIT_USAGE
from batchedit.errors import SourceError, UsageError
from batchedit.events import setup_logging

#: `batchedit report VERB ...` commands, dispatched on argv before argparse reads
#: `report RUN_DIR`: a run directory is never named like a verb here.
REPORT_VERBS: dict[str, Callable[[list[str]], int]] = {"merge": report.command_merge}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batchedit",
        description="Batch image edits through the Modellix API.",
    )
    parser.add_argument("--version", action="version", version=f"batchedit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every row's progress")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run.add_parsers(commands)
    status.add_parser(commands)
    validate.add_parser(commands)
    report.add_parser(commands)
    review.add_parser(commands)
    decisions.add_parser(commands)
    export.add_parser(commands)
    doctor.add_parser(commands)
    simulate.add_parser(commands)
    models.add_parser(commands)
    return parser


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
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except (UsageError, SourceError) as exc:
        print(f"batchedit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
