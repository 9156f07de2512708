"""`batchedit uploads purge RUN_DIR [--older-than D]`: delete the run's uploads at the service."""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path

import aiohttp

from batchedit.api.client import ModellixClient
from batchedit.api.endpoint import Endpoint, endpoint_from_env
from batchedit.cli.exits import EXIT_FATAL, EXIT_OK, EXIT_SOME_FAILED
from batchedit.clock import LoopClock
from batchedit.errors import FatalApiError, UsageError
from batchedit.events import notice
from batchedit.pipeline.produce.purge import Purged, purge_uploads
from batchedit.pipeline.produce.upload_cache import UPLOADS_FILE, UploadCache
from batchedit.state.lock import run_lock
from batchedit.state.rundir import RunPaths

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
REQUEST_TIMEOUT_S = 60.0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    uploads = commands.add_parser(
        "uploads",
        help="the run's uploaded inputs at the service: purge deletes them",
        description="The local images a run uploaded through the media endpoint stay at the "
        "service until its retention ends; `purge` deletes them now.",
    )
    verbs = uploads.add_subparsers(dest="verb", metavar="VERB", required=True)
    purge = verbs.add_parser(
        "purge",
        help="delete the run's uploads at the service and forget them",
        description="Deletes every input the run directory uploaded to the API origin in use "
        "(MODELLIX_BASE_URL) and forgets it, so a later run uploads again (uploads are free; "
        "no task is paid again for it). Refused while a run holds the run directory.",
    )
    purge.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    purge.add_argument(
        "--older-than",
        type=parse_duration_s,
        metavar="DURATION",
        help="only uploads older than this: 90m, 12h, 7d, 2w (a bare number is seconds)",
    )
    purge.add_argument(
        "--api-key-file", type=Path, metavar="FILE", help="read the API key from FILE's first line"
    )
    purge.set_defaults(handler=command_purge)


def parse_duration_s(text: str) -> float:
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: a number and a unit, e.g. 90m, 12h, 7d, 2w"
        )
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def command_purge(args: argparse.Namespace) -> int:
    """Exit 0 when every due upload is gone, 1 when some could not be deleted
    (purge again), 3 when the service refused the key."""
    paths = RunPaths(args.run_dir)
    if not paths.state_dir.is_dir():
        raise UsageError(f"{args.run_dir} is not a batchedit run directory (no {paths.state_dir})")
    endpoint = endpoint_from_env(key_file=args.api_key_file)
    with run_lock(paths):
        try:
            purged = asyncio.run(_purge(paths, endpoint, args.older_than))
        except FatalApiError as exc:
            notice("error", f"batchedit: {exc}")
            return EXIT_FATAL
    print(purged.line())
    for error in purged.errors:
        notice("warning", f"batchedit: {error}")
    return EXIT_SOME_FAILED if purged.failed else EXIT_OK


async def _purge(paths: RunPaths, endpoint: Endpoint, older_than_s: float | None) -> Purged:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = ModellixClient(session, endpoint, LoopClock())
        cache = UploadCache(paths.state_dir / UPLOADS_FILE, endpoint.base_url)
        return await purge_uploads(client, cache, older_than_s=older_than_s)
