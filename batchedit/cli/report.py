"""`batchedit report RUN_DIR` (the review page, the rows that did not succeed)
and `batchedit report merge RUN_DIR... --out DIR` (the shards' reports as one)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from batchedit.cli.exits import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE
from batchedit.cli.options import statuses_among
from batchedit.errors import SourceError, UsageError
from batchedit.records import Status
from batchedit.report.failed_rows import NOT_SUCCEEDED, write_failed_csv
from batchedit.report.merge import merge_reports
from batchedit.report.review import load_run, write_review
from batchedit.state.rundir import RunPaths


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        type=statuses_among(tuple(Status)),
        default=NOT_SUCCEEDED,
        metavar="S[,S]",
        help="rows for --failed-csv (default: failed,unknown,invalid,pending)",
    )
    report.set_defaults(handler=command_report)


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
        if failed.path is None:
            statuses = ", ".join(s.value for s in Status if s in args.status)
            print(f"nothing to fix: no row of {args.run_dir} is {statuses}; no file written")
            return EXIT_OK
        print(f"{failed.rows} row(s) to fix, with the problem of each: {failed.path}")
        if failed.from_report:
            print(f"  ({failed.from_report} rebuilt from the report: the manifest lost them)")
        # The job's columns: mapping, which the CSV cannot hold, goes on the command line.
        path = " ".join(shlex.quote(word) for word in (str(failed.path), *failed.column_options))
        print(f"  check: batchedit validate {path}")
        print(f"  run:   batchedit run {path} --out {shlex.quote(f'{args.run_dir}-fix')}")
    return EXIT_OK


def command_merge(argv: list[str]) -> int:
    """`report merge RUN_DIR... --out DIR`; exit 0, or 1 if some rows did not succeed."""
    parser = argparse.ArgumentParser(
        prog="batchedit report merge",
        description="Combine the reports of shards (--shard K/N) into one report.",
    )
    parser.add_argument(
        "run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="a shard's run directory"
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="where to write the merged report.jsonl and summary.json",
    )
    args = parser.parse_args(argv)
    try:
        counts, warnings = merge_reports(args.run_dirs, args.out)
    except (UsageError, SourceError) as exc:
        print(f"batchedit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for warning in warnings:
        print(f"batchedit: warning: {warning}", file=sys.stderr)
    statuses = ", ".join(f"{n} {s.value}" for s, n in sorted(counts.statuses.items()))
    print(f"{counts.rows} rows from {len(args.run_dirs)} shard(s): {statuses or 'none'}")
    print(f"report:  {RunPaths(args.out).report}")
    print(f"summary: {RunPaths(args.out).summary}")
    return EXIT_OK if counts.all_succeeded else EXIT_SOME_FAILED
