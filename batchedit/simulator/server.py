"""Running the simulator on a loopback port: in-process for tests and `--simulate`,
in the foreground for `batchedit simulate`.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiohttp import web

from batchedit.fsutil import atomic_write_bytes
from batchedit.simulator.app import create_app
from batchedit.simulator.context import CONTEXT
from batchedit.simulator.options import SimOptions
from batchedit.simulator.state import SimState

PORT_FILE = "port"


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    """A started simulator: where it listens, and its counters read in-process."""

    base_url: str
    port: int
    _state: SimState

    def stats(self) -> dict[str, Any]:
        """The same counters `GET /_sim/stats` answers, without a request."""
        return self._state.stats.as_dict()

    def set_balance(self, balance: int | None) -> None:
        """What the account's owner does between two runs: top the balance up to
        `balance` paid tasks in all (None: no limit). Tasks already paid stay paid."""
        self._state.options = replace(self._state.options, balance=balance)


@asynccontextmanager
async def running_simulator(
    options: SimOptions,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    scratch_dir: Path | None = None,
    store_dir: Path | None = None,
) -> AsyncIterator[RunningSimulator]:
    """Serve a simulator on `host:port` (0 picks a free port) until the block exits;
    with `store_dir`, its tasks outlive it there (`store.py`)."""
    app = create_app(
        options, clock=clock, wall_clock=wall_clock, scratch_dir=scratch_dir, store_dir=store_dir
    )
    # No access log: a benchmark makes thousands of requests and tests want quiet output.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        remembered = await asyncio.to_thread(_remembered_port, store_dir) if port == 0 else None
        try:
            site = web.TCPSite(runner, host, remembered or port)
            await site.start()
        except OSError:
            if remembered is None:
                raise
            site = web.TCPSite(runner, host, port)  # taken now: its old result URLs break
            await site.start()
        bound_port = int(runner.addresses[0][1])
        if store_dir is not None:
            await asyncio.to_thread(_remember_port, store_dir, bound_port)
        url_host = f"[{host}]" if ":" in host else host
        yield RunningSimulator(f"http://{url_host}:{bound_port}", bound_port, app[CONTEXT].state)
    finally:
        await runner.cleanup()


def _remembered_port(store_dir: Path | None) -> int | None:
    """The port a stored simulator listened on: its result URLs, already in a
    run's journal, name it, so a restart takes it again when it is free."""
    if store_dir is None:
        return None
    try:
        port = int((store_dir / PORT_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return port if 1024 <= port <= 65535 else None


def _remember_port(store_dir: Path, port: int) -> None:
    store_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(store_dir / PORT_FILE, f"{port}\n".encode())


def serve(options: SimOptions, *, host: str, port: int) -> None:
    """Serve in the foreground until SIGINT or SIGTERM, for `batchedit simulate`."""
    asyncio.run(_serve(options, host=host, port=port))


async def _serve(options: SimOptions, *, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        async with running_simulator(options, host=host, port=port) as simulator:
            print(f"simulator listening on {simulator.base_url}", flush=True)
            await stop.wait()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
