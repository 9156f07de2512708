"""The entry point: argv parsed, one command dispatched, an exit code returned.

Each command lives in its own module, which adds its subparser and names its
handler (`set_defaults(handler=...)`); this module only assembles them, sets
up logging, and turns the errors every command shares into one line (or one
JSON document under `--json`) and an exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import cast

from batchedit import __version__
from batchedit.cli import (
    completion,
    decisions,
    doctor,
    export,
    models,
    plan,
    report,
    review,
    run,
    simulate,
    status,
    uploads,
    validate,
)
from batchedit.cli.conventions import (
    EPILOG,
    CommandParser,
    HelpFormatter,
    MainParser,
    add_global_options,
    error_document,
    print_json,
)
from batchedit.cli.exits import EXIT_INTERRUPTED, EXIT_LOCAL, EXIT_USAGE
from batchedit.errors import LocalFailure, SourceError, UsageError
from batchedit.events import notice, setup_logging
from batchedit.manifest.header import JobProblems
from batchedit.pictures import return_large_allocations
from batchedit.redact import scrub

log = logging.getLogger(__name__)

#: `batchedit report VERB ...` commands, dispatched on argv before argparse reads
#: `report RUN_DIR`: a run directory is never named like a verb here.
REPORT_VERBS: dict[str, Callable[[list[str]], int]] = {"merge": report.command_merge}
#: The commands that answer --json with one document on stdout.
JSON_COMMANDS = frozenset({"validate", "status", "doctor", "plan", "models"})


def build_parser() -> argparse.ArgumentParser:
    parser = MainParser(
        prog="batchedit",
        description="Batch image edits through the Modellix API.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"batchedit {__version__}")
    add_global_options(parser, suppress=False)
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(
            dest="command", metavar="COMMAND", title="commands", parser_class=CommandParser
        ),
    )
    run.add_parsers(commands)
    validate.add_parser(commands)
    plan.add_parser(commands)
    status.add_parser(commands)
    report.add_parser(commands)
    review.add_parser(commands)
    decisions.add_parser(commands)
    export.add_parser(commands)
    uploads.add_parser(commands)
    doctor.add_parser(commands)
    simulate.add_parser(commands)
    models.add_parser(commands)
    completion.add_parser(commands)
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"] and len(argv) > 1 and argv[1] in REPORT_VERBS:
        return REPORT_VERBS[argv[1]](argv[2:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()  # bare `batchedit`: the command list
        return EXIT_USAGE
    if args.json and args.command not in JSON_COMMANDS:
        commands = ", ".join(sorted(JSON_COMMANDS))
        return _fail(args, f"--json is for {commands}; `{args.command}` has no JSON output")
    setup_logging(args.log_format, verbose=args.verbose)
    return_large_allocations()  # decoded pictures' memory goes back when freed
    in_main_thread = threading.current_thread() is threading.main_thread()
    # SIGTERM as Ctrl-C while no run is going (planning, printing the end); a
    # run in progress handles both itself and stops cleanly.
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except JobProblems as exc:
        return _fail(args, str(exc), problems=exc.problems)
    except (UsageError, SourceError) as exc:
        return _fail(args, str(exc))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except LocalFailure as exc:  # an export's bucket failing it, say: exit 4, in one line
        return _fail(args, str(exc), EXIT_LOCAL)
    except OSError as exc:  # the disk, permissions: a local failure, said in one line
        return _fail(args, f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), EXIT_LOCAL)
    except Exception as exc:
        # A bug: the cause in one line, the traceback at debug level (-v shows it).
        log.debug("internal error", exc_info=exc)
        detail = scrub(str(exc), max_chars=200)
        return _fail(
            args,
            f"internal error ({type(exc).__name__}: {detail}); run with -v for the traceback",
            EXIT_LOCAL,
        )
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _fail(
    args: argparse.Namespace,
    message: str,
    exit_code: int = EXIT_USAGE,
    *,
    problems: Sequence[object] = (),
) -> int:
    """One line on stderr (a line per problem of the job), or the JSON error."""
    if args.json:
        details = {"problems": [_problem_json(p) for p in problems]} if problems else {}
        print_json(error_document(message, exit_code, **details))
    elif problems:
        for problem in problems:
            notice("error", f"batchedit: {problem}", file=sys.stderr)
    else:
        notice("error", f"batchedit: {message}", file=sys.stderr)
    return exit_code


def _problem_json(problem: object) -> dict[str, object]:
    return {
        "file": getattr(problem, "file", None),
        "line": getattr(problem, "line", None),
        "field": getattr(problem, "field", None),
        "message": getattr(problem, "message", str(problem)),
    }


__all__ = ["CommandParser", "build_parser", "main"]
