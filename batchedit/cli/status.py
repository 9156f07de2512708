"""`batchedit status RUN_DIR`: counts by status and error category, offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from batchedit.cli.conventions import print_json
from batchedit.cli.exits import EXIT_OK
from batchedit.report.status import read_status, status_lines


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser("status", help="counts by status and error category, offline")
    status.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    status.set_defaults(handler=command_status)


def command_status(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    status = read_status(run_dir)
    if args.json:
        print_json(
            {
                "ok": True,
                "run_dir": str(run_dir),
                "rows": status.rows,
                "statuses": dict(status.statuses),
                "error_categories": {s: dict(c) for s, c in status.categories.items()},
                "running_pid": status.running_pid,
                "last_run": status.last_run,
            }
        )
        return EXIT_OK
    for line in status_lines(run_dir, status):
        print(line)
    return EXIT_OK
