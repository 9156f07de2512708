"""`batchedit validate SOURCE`: every row checked offline.

Text: problems grouped by kind (`N rows: message; first at FILE:L1, L2, L3
and K more rows: lines A-B`; a kind whose rows name different files or
values shows each example's), every group shown; on success one line with
the counts. `--json`: one document with every problem, each with file, line,
field, kind and its varying detail.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from batchedit.cli.conventions import print_json
from batchedit.cli.exits import EXIT_OK, EXIT_USAGE
from batchedit.cli.options import add_setting_flags, setting_overrides
from batchedit.events import notice
from batchedit.manifest.job import JobSettings, apply_overrides, iter_rows, load_job
from batchedit.manifest.problem_digest import ProblemDigest
from batchedit.manifest.settings import VALIDATE
from batchedit.records import InvalidRow, Problem


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = commands.add_parser(
        "validate", help="check every row offline", description="Check every row offline."
    )
    validate.add_argument("source", type=Path, metavar="SOURCE", help="job file or manifest")
    add_setting_flags(validate, VALIDATE)
    validate.set_defaults(handler=command_validate)


def command_validate(args: argparse.Namespace) -> int:
    job = apply_overrides(load_job(args.source), **setting_overrides(args))
    if args.json:
        return _validate_json(job)
    rows = invalid = 0
    digest = ProblemDigest()
    for row in iter_rows(job):  # JobProblems: printed by main, a line each, exit 2
        rows += 1
        if isinstance(row, InvalidRow):
            invalid += 1
            digest.extend(row.problems)
    if not digest.total:
        print(f"{args.source}: {rows} {'row' if rows == 1 else 'rows'}, all valid")
        return EXIT_OK
    for line in digest.lines(full_list=f"every one: batchedit validate --json {args.source}"):
        print(line)
    notice(  # with --log-format json, an event as every stderr line is
        "validated",
        f"{args.source}: {rows} {'row' if rows == 1 else 'rows'}, {invalid} invalid, "
        f"{rows - invalid} valid "
        f"({digest.total} problem(s) of {len(digest.groups)} kind(s))",
        fields={
            "source": str(args.source),
            "rows": rows,
            "invalid": invalid,
            "valid": rows - invalid,
            "problems": digest.total,
            "kinds": len(digest.groups),
        },
    )
    return EXIT_USAGE


def _validate_json(job: JobSettings) -> int:
    rows = invalid = 0
    problems: list[dict[str, object]] = []
    for row in iter_rows(job):  # JobProblems: main's JSON error, with the problems
        rows += 1
        if isinstance(row, InvalidRow):
            invalid += 1
            problems.extend(problem_json(p) for p in row.problems)
    print_json(
        {
            "ok": not problems,
            "source": str(job.source),
            "rows": rows,
            "invalid": invalid,
            "valid": rows - invalid,
            "problems": problems,
        }
    )
    return EXIT_OK if not problems else EXIT_USAGE


def problem_json(problem: Problem) -> dict[str, object]:
    return {
        "file": problem.file,
        "line": problem.line,
        "field": problem.field,
        "message": problem.message,
        "kind": problem.group,
        "detail": problem.detail,
    }
