"""A plain API origin for tests: the simulator behind a forwarding server on
another loopback port that does not say it is a simulator.

batchedit marks a run's results `simulated` when the answers carry the
simulator's header (batchedit/origins.py). A test that needs results of a
real-looking origin (the README's `run --simulate`, then the real run) puts
this in front of a threaded simulator: every request is forwarded, the
simulator's address in bodies is swapped for this server's (both ways, so
result and upload URLs point here), and the header is dropped. Nothing in
batchedit can turn the mark off: the test uses another origin, as a user would.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from batchedit.origins import SIMULATOR_HEADER

#: Response headers not copied: the body is re-sent whole, and the mark is dropped.
_DROPPED = frozenset(
    name.lower()
    for name in (
        "Content-Length",
        "Content-Encoding",
        "Transfer-Encoding",
        "Connection",
        SIMULATOR_HEADER,
    )
)


@dataclass
class PlainOrigin:
    """Forwards everything to `upstream` (a simulator's base URL), from a thread."""

    upstream: str
    base_url: str = ""
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _session: aiohttp.ClientSession | None = None

    def start(self) -> PlainOrigin:
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("the plain origin did not start")
        return self

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with aiohttp.ClientSession(auto_decompress=True) as session:
            app = web.Application(client_max_size=64 * 1024 * 1024)
            self._session = session
            app.router.add_route("*", "/{tail:.*}", self._forward)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            self.base_url = f"http://127.0.0.1:{port}"
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        session = self._session
        assert session is not None
        body = (await request.read()).replace(self.base_url.encode(), self.upstream.encode())
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in {"authorization", "content-type"}
        }
        async with session.request(
            request.method,
            self.upstream + request.path_qs,
            data=body or None,
            headers=headers,
            allow_redirects=False,
        ) as answer:
            content = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _DROPPED}
            status = answer.status
        content = content.replace(self.upstream.encode(), self.base_url.encode())
        return web.Response(status=status, body=content, headers=kept)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
