"""`batchedit export RUN_DIR --to DEST`: publish the chosen outputs to a folder or a bucket."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from batchedit.cli.exits import EXIT_OK
from batchedit.records import Verdict
from batchedit.report.export import MAX_IN_FLIGHT, ExportOptions, export_outputs
from batchedit.report.publish.feeds import FEED_KINDS
from batchedit.report.review import load_run
from batchedit.state.lock import run_lock


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export",
        help="publish the chosen outputs to a folder or a bucket, with feed.csv and shop feeds",
        description="Publishes the succeeded rows' outputs (or only the approved ones) under "
        "their output names to DEST, a folder or s3://BUCKET/PREFIX, gs://... or az://... "
        "(credentials and endpoint from the cloud's own environment variables), and writes "
        "feed.csv beside them. Writes only what changed; never overwrites a file it did not "
        "write (--force does). Refused while a run holds the run directory.",
    )
    export.add_argument("run_dir", metavar="RUN_DIR", type=Path)
    export.add_argument(
        "--to",
        required=True,
        metavar="DEST",
        help="a folder, or s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, az://CONTAINER/PREFIX",
    )
    export.add_argument(
        "--only",
        choices=[Verdict.APPROVED.value],
        help="only the rows approved in review (default: every succeeded row)",
    )
    export.add_argument(
        "--public-base-url",
        metavar="URL",
        help="the address DEST is served at (a CDN in front of the bucket): feed.csv gains "
        "image_link, and the shop feeds need it",
    )
    export.add_argument(
        "--allow-simulated",
        action="store_true",
        help="export results made by the simulator too (default: refused, exit 2)",
    )
    export.add_argument(
        "--with-originals",
        action="store_true",
        help="also publish each output's kept original (the service's file, with its C2PA "
        "manifest) under originals/, named in feed.csv's `original` column",
    )
    export.add_argument(
        "--feed",
        action="append",
        choices=FEED_KINDS,
        default=[],
        help="also write the Merchant Center supplemental feed (merchant) or the Shopify "
        "image CSV (shopify) beside feed.csv (repeatable)",
    )
    export.add_argument(
        "--prune",
        action="store_true",
        help="remove files an earlier export wrote that are no longer chosen",
    )
    export.add_argument(
        "--force",
        action="store_true",
        help="replace files at the chosen names export did not write",
    )
    export.add_argument(
        "--link",
        action="store_true",
        help="hard-link instead of copying (a folder on the same file system)",
    )
    export.add_argument(
        "--concurrency",
        type=_positive,
        default=MAX_IN_FLIGHT,
        metavar="N",
        help="files written at a time",
    )
    export.add_argument(
        "--all-candidates",
        action="store_true",
        help="publish every output of a row with several (param.n), the chosen first and "
        "the rest as additional images (default: the chosen one only)",
    )
    export.add_argument("--no-progress", action="store_true", help="no progress bar")
    export.set_defaults(handler=command_export)


def command_export(args: argparse.Namespace) -> int:
    run = load_run(args.run_dir)
    options = ExportOptions(
        only=Verdict(args.only) if args.only else None,
        link=args.link,
        force=args.force,
        prune=args.prune,
        public_base_url=args.public_base_url,
        feeds=tuple(dict.fromkeys(args.feed)),
        max_in_flight=args.concurrency,
        show_progress=not args.no_progress and sys.stderr.isatty(),
        allow_simulated=args.allow_simulated,
        all_candidates=args.all_candidates,
        with_originals=args.with_originals,
    )
    with run_lock(run.paths):  # a run going would be rewriting what is published
        done = asyncio.run(export_outputs(run, args.to, options))
    for warning in done.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    verb = "linked" if args.link else "written"
    line = f"{done.files} file(s) in {done.where} ({done.written} {verb} now"
    if done.replaced:
        line += f", {done.replaced} of someone else's replaced"
    if done.removed:
        line += f", {done.removed} no longer chosen removed"
    if done.left:
        line += f", {done.left} no longer chosen left in place: --prune removes them"
    print(f"{line}); feeds: {', '.join(done.feeds)}")
    return EXIT_OK


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number of 1 or more")
    return value
