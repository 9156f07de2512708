"""`batchedit review RUN_DIR`: serve the review page on loopback until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import webbrowser
from pathlib import Path

from batchedit.cli.exits import EXIT_OK
from batchedit.report.review_auth import TOKEN_ENV, checked_token
from batchedit.report.review_server import Served, serve_review


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    review = commands.add_parser(
        "review",
        help="serve the review page on loopback; approve or reject each result",
        description="Serves RUN_DIR's review page on 127.0.0.1 until Ctrl-C, to whoever "
        "opens the URL it prints (it holds a token drawn at each start); decisions go to "
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
    review.add_argument(
        "--token",
        metavar="TOKEN",
        help=f"the token to require, for scripts (default: ${TOKEN_ENV}, else a random one "
        "per start); other local users can read a command line, so prefer the variable",
    )
    review.add_argument("--no-open", action="store_true", help="do not open a browser")
    review.set_defaults(handler=command_review)


def command_review(args: argparse.Namespace) -> int:
    token: str | None = None
    if args.token is not None:
        token = checked_token(args.token, source="--token")
    elif os.environ.get(TOKEN_ENV):
        token = checked_token(os.environ[TOKEN_ENV], source=TOKEN_ENV)

    async def ready(served: Served) -> None:
        if served.unwritable is not None:
            print(
                f"batchedit: {args.run_dir} cannot store decisions ({served.unwritable}): "
                "the page shows them but cannot record new ones",
                file=sys.stderr,
                flush=True,
            )
        print(f"review page: {served.url}  (Ctrl-C to stop)", flush=True)
        if not args.no_open:
            # webbrowser may start a process and wait for it: not on the event loop.
            await asyncio.to_thread(webbrowser.open, served.url)

    try:
        asyncio.run(serve_review(args.run_dir, port=args.port, token=token, on_ready=ready))
    except KeyboardInterrupt:
        print("review server stopped; decisions are in", args.run_dir / "decisions.jsonl")
    return EXIT_OK
