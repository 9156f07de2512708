"""`batchedit export RUN_DIR --to DIR [--only approved] [--link]`: publish results."""

from __future__ import annotations

import argparse
from pathlib import Path

from batchedit.cli.exits import EXIT_OK
from batchedit.records import Verdict
from batchedit.report.export import export_outputs
from batchedit.report.review import load_run


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export",
        help="copy the chosen outputs into DIR and write DIR/feed.csv",
        description="Copies the succeeded rows' outputs (or only the approved ones) into DIR "
        "under their output names, and writes DIR/feed.csv. Never overwrites a file it did "
        "not write.",
    )
    export.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    export.add_argument("--to", type=Path, required=True, metavar="DIR", help="where to publish")
    export.add_argument(
        "--only",
        choices=[Verdict.APPROVED.value],
        help="only the rows approved in review (default: every succeeded row)",
    )
    export.add_argument(
        "--link", action="store_true", help="hard-link instead of copying (same file system)"
    )
    export.add_argument(
        "--allow-simulated",
        action="store_true",
        help="export results made by the simulator too (default: refused, exit 2)",
    )
    export.set_defaults(handler=command_export)


def command_export(args: argparse.Namespace) -> int:
    run = load_run(args.run_dir)
    only = Verdict(args.only) if args.only else None
    done = export_outputs(
        run, args.to, only=only, link=args.link, allow_simulated=args.allow_simulated
    )
    verb = "linked" if args.link else "copied"
    print(
        f"{done.files} file(s) in {args.to} ({done.written} {verb} now, "
        f"{done.removed} no longer chosen removed); feed: {done.feed}"
    )
    return EXIT_OK
