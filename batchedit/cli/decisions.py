"""`batchedit decisions RUN_DIR --export FILE.csv | --import FILE.csv`: review
decisions as a spreadsheet (id, decision, note)."""

from __future__ import annotations

import argparse
from pathlib import Path

from batchedit.cli.exits import EXIT_OK, EXIT_SOME_FAILED
from batchedit.events import notice
from batchedit.report.decisions_csv import export_decisions, import_decisions
from batchedit.report.review import load_run


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    decisions = commands.add_parser(
        "decisions",
        help="review decisions as a spreadsheet (id, decision, note)",
        description="--export writes every row with its decision (blank: undecided); "
        "--import records the decisions of such a file (approved or rejected; blank: unchanged); "
        "a line that cannot be recorded is skipped with a warning, and the exit code is 1.",
    )
    decisions.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    given = decisions.add_mutually_exclusive_group(required=True)
    given.add_argument("--export", type=Path, metavar="FILE.csv", help="write the decisions here")
    given.add_argument(
        "--import", type=Path, dest="import_csv", metavar="FILE.csv", help="record these"
    )
    decisions.set_defaults(handler=command_decisions)


def command_decisions(args: argparse.Namespace) -> int:
    run = load_run(args.run_dir)
    if args.export is not None:
        rows = export_decisions(run, args.export)
        print(f"{rows} row(s) written to {args.export}")
        return EXIT_OK
    imported = import_decisions(run, args.import_csv)
    for problem in imported.problems:  # one line each, each saying its line of the sheet
        notice("skipped", f"batchedit: warning: {problem}; line skipped")
    more = imported.skipped - len(imported.problems)
    if more > 0:
        notice("skipped", f"batchedit: warning: ... and {more} more line(s) skipped")
    print(
        f"{imported.recorded} decision(s) recorded in {run.paths.decisions}"
        f" ({imported.unchanged} unchanged, {imported.blank} blank"
        + (f", {imported.skipped} skipped" if imported.skipped else "")
        + ")"
    )
    # Some lines of the sheet were not taken: the run of it "completed with problems".
    return EXIT_SOME_FAILED if imported.skipped else EXIT_OK
