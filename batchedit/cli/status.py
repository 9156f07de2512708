"""`batchedit status RUN_DIR [--history]`: counts by status and error category, or
the history of runs, offline."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from batchedit.cli.conventions import print_json
from batchedit.cli.exits import EXIT_OK
from batchedit.report.status import (
    history_lines,
    read_run_history,
    read_status,
    status_lines,
)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser("status", help="counts by status and error category, offline")
    status.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    status.add_argument(
        "--history",
        action="store_true",
        help="one line per run of the directory: date, duration, exit, paid, spend, counts",
    )
    status.set_defaults(handler=command_status)


def command_status(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    if args.history:
        return command_history(run_dir, as_json=args.json)
    status = read_status(run_dir)
    if args.json:
        counts = status.counts
        last = status.last_run
        print_json(
            {
                "ok": True,
                "run_dir": str(run_dir),
                **counts.to_json(),
                "by_status": {
                    s.value: {c.value: n for c, n in by.items()}
                    for s, by in counts.by_status.items()
                },
                "running_pid": status.running_pid,
                "last_run": None if last is None else dataclasses.asdict(last),
            }
        )
        return EXIT_OK
    for line in status_lines(run_dir, status):
        print(line)
    return EXIT_OK


def command_history(run_dir: Path, *, as_json: bool) -> int:
    """`status --history`: every run of the directory that ended, oldest first."""
    history = read_run_history(run_dir)
    if as_json:
        runs = [entry.to_json() for entry in history.runs]
        print_json({"ok": True, "run_dir": str(run_dir), "runs": runs})
        return EXIT_OK
    for line in history_lines(run_dir, history):
        print(line)
    return EXIT_OK
