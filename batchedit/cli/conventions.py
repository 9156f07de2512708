"""What every command shares: the global options (before or after the command),
help that shows defaults, environment variables and exit codes, one-line
errors, and `--json` output as one document on stdout.

Global options are declared once, on a parent parser every subcommand takes
with `SUPPRESS` defaults, so `batchedit -v run ...` and `batchedit run ... -v`
both work and a subcommand never resets what the main parser read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any, NoReturn

from batchedit.cli.exits import EXIT_USAGE
from batchedit.events import LOG_FORMATS, say

ENVIRONMENT = """\
environment:
  MODELLIX_API_KEY   the API key (else --api-key-file FILE, else the official
                     CLI's profile: $XDG_CONFIG_HOME/modellix/config.json)
  MODELLIX_PROFILE   the profile of that file to use (default: its current one)
  MODELLIX_BASE_URL  the API origin (default https://api.modellix.ai)"""

EXIT_CODES = """\
exit codes:
  0    every row succeeded (or the command did what it was asked)
  1    the run completed, but some rows failed, are unknown or invalid
  2    usage error, unreadable job or manifest, a guard refused, the run
       directory is locked; nothing was submitted
  3    stopped by a fatal API answer (401, 402) or too many unknown outcomes
  4    stopped by a local failure (disk full, permissions)
  130  interrupted (SIGINT, SIGTERM); state is saved, a re-run continues"""

EPILOG = f"{ENVIRONMENT}\n\n{EXIT_CODES}"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Epilogs kept as written; each option's default shown unless it is
    empty or the help already speaks of it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or "default" in text
            or default is None
            or default is False
            or default == []
            or default == argparse.SUPPRESS
        ):
            return text
        return text + " (default: %(default)s)"


def add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """-v, --log-format, --json; with `suppress`, as a subcommand's copy that
    only sets what was given after the command."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options (before or after the command)")
    group.add_argument(
        "-v", "--verbose", action="store_true", default=default(False), help="log every row"
    )
    group.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=default("text"),
        help="json: one JSON object per event on stderr, for nightly logs (default: text)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="validate, status, doctor, plan, models: one JSON document on stdout",
    )


def _fail(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    """argparse's error as one line (plus where help is), exit 2."""
    if "--json" in sys.argv[1:]:
        print_json(error_document(message, EXIT_USAGE))
    else:
        print(f"{parser.prog}: {message} (see {parser.prog} --help)", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


class _GlobalOptions(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        _fail(self, message)


GLOBAL_OPTIONS = _GlobalOptions(add_help=False)
add_global_options(GLOBAL_OPTIONS, suppress=True)


class CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: the global options, defaults shown, the
    environment and exit codes in its help, errors in one line."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("parents", [GLOBAL_OPTIONS])
        kwargs.setdefault("epilog", EPILOG)
        super().__init__(**kwargs)

    def error(self, message: str) -> NoReturn:
        _fail(self, message)


class MainParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        _fail(self, message)


def print_json(document: Mapping[str, Any]) -> None:
    """One JSON document on stdout: what --json promises. A reader gone (`| head -c`)
    changes nothing, exit code included, and prints no traceback (events.say)."""
    say(json.dumps(document, ensure_ascii=False, default=str), file=sys.stdout)


def error_document(message: str, exit_code: int, **details: Any) -> dict[str, Any]:
    """The shape of every --json error: {"ok": false, "error": {...}}."""
    return {"ok": False, "error": {"exit_code": exit_code, "message": message, **details}}
