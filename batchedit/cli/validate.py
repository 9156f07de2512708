"""`batchedit validate SOURCE`: every row checked offline, each problem as FILE:LINE."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from batchedit.cli.exits import EXIT_OK, EXIT_USAGE
from batchedit.cli.options import add_manifest_options, manifest_overrides
from batchedit.manifest.job import apply_overrides, load_job, validate_job


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = commands.add_parser("validate", help="check every row offline")
    validate.add_argument("source", type=Path, metavar="SOURCE")
    add_manifest_options(validate)
    validate.set_defaults(handler=command_validate)


def command_validate(args: argparse.Namespace) -> int:
    job = apply_overrides(load_job(args.source), **manifest_overrides(args))
    problems = validate_job(job)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {args.source}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
