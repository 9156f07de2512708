"""`batchedit review RUN_DIR`: serve the review page on loopback until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import webbrowser
from pathlib import Path

from batchedit.cli.exits import EXIT_OK
from batchedit.report.review_server import serve_review


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    review = commands.add_parser(
        "review",
        help="serve the review page on loopback; approve or reject each result",
        description="Serves RUN_DIR's review page on 127.0.0.1 until Ctrl-C; decisions go to "
        "RUN_DIR/decisions.jsonl as they are made.",
    )
    review.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    review.add_argument(
        "--port",
        type=int,
        default=0,
        metavar="PORT",
        help="port on 127.0.0.1 (default: a free one)",
    )
    review.add_argument("--no-open", action="store_true", help="do not open a browser")
    review.set_defaults(handler=command_review)


def command_review(args: argparse.Namespace) -> int:
    async def ready(url: str) -> None:
        print(f"review page: {url}  (Ctrl-C to stop)", flush=True)
        if not args.no_open:
            # webbrowser may start a process and wait for it: not on the event loop.
            await asyncio.to_thread(webbrowser.open, url)

    try:
        asyncio.run(serve_review(args.run_dir, port=args.port, on_ready=ready))
    except KeyboardInterrupt:
        print("review server stopped; decisions are in", args.run_dir / "decisions.jsonl")
    return EXIT_OK
