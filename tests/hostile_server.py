"""A hostile Modellix look-alike for tests/test_hostile.py: the protocol's
shape, with one misbehaviour switched on by `mode`.

    endless        a poll answer that never ends
    trickle        a poll answer that sends a byte every 40 ms, for ever
    gzip_bomb      a poll answer of 0.5 MB gzip that inflates to 512 MB
    retry_after    every submit answered 429 with Retry-After: 999999
    echo_key       the key echoed back: a task's error message, an HTTP error
                   body, a result URL
    odd_ids        task ids made to escape a path or forge a log line
    html_result    a "result" that is an HTML page
    tiff_result    a result in TIFF
    private_url    a result URL on the cloud metadata address
    gzip_download  a good PNG result sent gzip-encoded (must succeed)
    redirect_private  a result that redirects to the cloud metadata address
    redirect_loop  a result that redirects to itself
    huge_result    a 13000x13000 PNG of a few hundred bytes (header and one IDAT)
    xmp_flood      a 64x48 PNG carrying 20 MB of XMP (sent gzip-encoded)
    fill_bytes     a 64x48 JPEG with 20 MiB of fill bytes before a marker (gzip-encoded)
    broken_result  a PNG whose pixel data is corrupt, the same bytes each time
    other_port     a result URL on another loopback port (another local service)
    deep_poll      the first two polls of each task answered with 1,100 nested
                   arrays (2 KB), then a good answer
    deep_forever   every poll answered with 1,100 nested arrays
    many_urls      a success listing 2,000 result URLs (the model makes one)
    same_task      every submit answered with one task id, t-1
    echo_form      the key echoed in the spelling `form` names (hostile_redaction.py):
                   in a 400 plain-text body across its 300th character, in a
                   400 envelope, in a task's error, in a result URL
    deep_submit    every submit answered 200 with 1,100 nested arrays
    surrogate      a failed task whose message holds a lone UTF-16 surrogate
                   (valid JSON, not encodable as UTF-8)

It serves from its own thread and loop, so a client in a subprocess can be
measured while it talks to it; `counts` says which requests arrived.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import itertools
import json
import struct
import threading
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

from aiohttp import web
from PIL import Image

ODD_TASK_IDS = ("../../media/files", "a?x=1", "t-1\r\nERROR forged log line", "a b", "%2e%2e")
#: How long a streaming answer may go on at most, whatever the client does.
MAX_STREAM_S = 90.0


@cache
def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(buffer, format="PNG")
    return buffer.getvalue()


@cache
def tiff_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(buffer, format="TIFF")
    return buffer.getvalue()


@cache
def gzip_bomb() -> bytes:
    """A JSON envelope of 512 MiB once inflated, about 0.5 MB as gzip."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(b'{"code": 0, "data": {"status": "processing", "pad": "')]
    block = b"0" * (1024 * 1024)
    parts.extend(packer.compress(block) for _ in range(512))
    parts.append(packer.compress(b'"}}'))
    parts.append(packer.flush())
    return b"".join(parts)


DEEP_ARRAYS = 1100


def deep_answer(task_id: str) -> web.Response:
    """A 2 KB envelope holding 1,100 nested arrays."""
    nested = "[" * DEEP_ARRAYS + "]" * DEEP_ARRAYS
    head = {"code": 0, "message": "success", "data": {"task_id": task_id, "status": "processing"}}
    text = json.dumps(head)[:-2] + ', "extra": ' + nested + "}}"
    return web.Response(text=text, content_type="application/json")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@cache
def huge_png() -> bytes:
    """13000x13000 in its header: 507 MB once decoded, refused from the header."""
    ihdr = struct.pack(">IIBBBBB", 13000, 13000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 4096)
    png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
    return png + png_chunk(b"IEND", b"")


@cache
def xmp_flood_png() -> bytes:
    data = png_bytes()
    text = png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + b"x" * 20_000_000)
    return data[:33] + text + data[33:]


@cache
def fill_bytes_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(buffer, format="JPEG")
    data = buffer.getvalue()
    return data[:2] + b"\xff" * (20 * 1024 * 1024) + data[2:]


@cache
def broken_png() -> bytes:
    """A whole file, by its structure, whose compressed pixels do not inflate."""
    data = bytearray(png_bytes())
    start = data.index(b"IDAT") + 4
    data[start : start + 8] = b"\x00" * 8  # the zlib header and first block: garbage
    return bytes(data)


_GZIPPED: dict[str, bytes] = {}


def gzipped(name: str, body: bytes) -> bytes:
    """`body` gzip-compressed once per mode: a flood of one byte is a few KB."""
    if name not in _GZIPPED:
        _GZIPPED[name] = gzip.compress(body, compresslevel=6)
    return _GZIPPED[name]


def envelope(data: dict[str, object]) -> web.Response:
    return web.json_response({"code": 0, "message": "success", "data": data})


@dataclass
class HostileServer:
    mode: str
    key: str
    base_url: str = ""
    #: The second listener of `other_port`: the same files, on another port.
    other_url: str = ""
    #: echo_form: the key as the service echoes it (a spelling of it).
    echoed: str = ""
    counts: Counter[str] = field(default_factory=Counter)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None

    # -- serving ------------------------------------------------------------

    def start(self) -> HostileServer:
        if self.mode == "gzip_bomb":
            gzip_bomb()  # made before the clock of the test starts
        if self.mode in ("xmp_flood", "fill_bytes"):  # made before the test's clock starts
            body = xmp_flood_png() if self.mode == "xmp_flood" else fill_bytes_jpeg()
            gzipped(self.mode, body)
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("the hostile server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_post("/api/v1/{provider}/{model}/async", self.submit)
        app.router.add_get("/api/v1/tasks/{task_id:.*}", self.read_task)
        app.router.add_get("/files/{name}", self.download)
        app.router.add_route("*", "/{tail:.*}", self.other)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        if self.mode == "other_port":
            other = web.TCPSite(runner, "127.0.0.1", 0)
            await other.start()
            self.other_url = f"http://127.0.0.1:{runner.addresses[1][1]}"
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    # -- the API ------------------------------------------------------------

    async def submit(self, request: web.Request) -> web.StreamResponse:
        self.counts["submit"] += 1
        number = next(self._ids)
        if self.mode == "retry_after":
            return web.json_response(
                {"code": 429, "message": "slow down"}, status=429, headers={"Retry-After": "999999"}
            )
        if self.mode == "echo_form" and number == 1:
            # The key across the 300th character, where messages used to be cut.
            body = "x" * 283 + f" Authorization: Bearer {self.echoed} " + "y" * 300
            return web.Response(status=400, text=body, content_type="text/plain")
        if self.mode == "echo_form" and number == 2:
            message = f"invalid key (authorization: bEaReR {self.echoed})"
            return web.json_response({"code": 400, "message": message}, status=400)
        if self.mode == "echo_key" and number == 1:
            message = f"invalid request from key {self.key} (Authorization: Bearer {self.key})"
            return web.json_response({"code": 400, "message": message}, status=400)
        if self.mode == "deep_submit":
            return deep_answer(f"t-{number}")
        if self.mode == "odd_ids":
            task_id = ODD_TASK_IDS[(number - 1) % len(ODD_TASK_IDS)]
        elif self.mode == "same_task":
            task_id = "t-1"
        else:
            task_id = f"t-{number}"
        return envelope({"status": "pending", "task_id": task_id})

    async def read_task(self, request: web.Request) -> web.StreamResponse:
        self.counts["poll"] += 1
        task_id = request.match_info["task_id"]
        if self.mode in ("endless", "trickle"):
            return await self._stream(request, fast=self.mode == "endless")
        if self.mode == "gzip_bomb":
            return web.Response(
                body=gzip_bomb(),
                headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            )
        self.counts[f"poll {task_id}"] += 1
        unanswerable = self._bad_task_answer(task_id)
        if unanswerable is not None:
            return unanswerable
        url = f"{self.base_url}/files/{task_id}.png"
        if self.mode == "echo_form" and task_id == "t-4":
            url += f"?auth={self.echoed}"
        if self.mode == "private_url":
            url = "http://169.254.169.254/latest/meta-data/result.png"
        elif self.mode == "echo_key":
            url = f"{self.base_url}/files/{task_id}.png?api_key={self.key}"
        elif self.mode == "other_port":
            url = f"{self.other_url}/files/{task_id}.png"
        resources = [{"url": url, "type": "image", "width": 64, "height": 48}]
        if self.mode == "many_urls":
            resources = [
                {"url": f"{self.base_url}/files/{task_id}-{n}.png", "type": "image"}
                for n in range(2000)
            ]
        return envelope(
            {"task_id": task_id, "status": "success", "result": {"resources": resources}}
        )

    def _bad_task_answer(self, task_id: str) -> web.Response | None:
        """The answer of the modes whose poll is not a result, or None."""
        if self.mode == "deep_poll" and self.counts[f"poll {task_id}"] <= 2:
            return deep_answer(task_id)
        if self.mode == "deep_forever":
            return deep_answer(task_id)
        message = None
        if self.mode == "surrogate":  # json.dumps writes it as the escape `\ud800`
            message = "bad \ud800 pixel"
        elif self.mode == "echo_key" and task_id != "t-2":
            message = f"key Bearer {self.key} over quota\r\nkey={self.key}"
        elif self.mode == "echo_form" and task_id == "t-3":
            message = f"quota for BEARER {self.echoed} exceeded"
        if message is None:
            return None
        return envelope({"task_id": task_id, "status": "failed", "error": {"message": message}})

    async def _stream(self, request: web.Request, *, fast: bool) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        # Trickling: a byte every 40 ms never trips a read timeout, yet never
        # ends within the request deadline.
        piece = b"0" * 65536 if fast else b"0"
        await response.write(b'{"code": 0, "data": {"status": "processing", "pad": "')
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + MAX_STREAM_S
        try:
            while loop.time() < ends_at:
                await response.write(piece)
                if not fast:
                    await asyncio.sleep(0.04)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up: that is what a bounded client does
        return response

    async def download(self, request: web.Request) -> web.StreamResponse:
        self.counts["download"] += 1
        if self.mode == "html_result":
            page = "<!DOCTYPE html><html><body>Service unavailable</body></html>"
            return web.Response(text=page, content_type="text/html")
        if self.mode == "tiff_result":
            return web.Response(body=tiff_bytes(), content_type="image/tiff")
        if self.mode == "redirect_private":
            raise web.HTTPFound("http://169.254.169.254/latest/meta-data/result.png")
        if self.mode == "redirect_loop":
            raise web.HTTPFound(f"/files/again-{self.counts['download']}.png")
        bodies = {
            "huge_result": huge_png,
            "xmp_flood": xmp_flood_png,
            "fill_bytes": fill_bytes_jpeg,
            "broken_result": broken_png,
        }
        if self.mode in bodies:
            body = bodies[self.mode]()
            kind = "image/jpeg" if body.startswith(b"\xff\xd8") else "image/png"
            if len(body) > 1024 * 1024:  # a flood: sent gzip-encoded, as a server may
                return web.Response(
                    body=gzipped(self.mode, body),
                    headers={"Content-Encoding": "gzip", "Content-Type": kind},
                )
            return web.Response(body=body, content_type=kind)
        if self.mode == "gzip_download":
            return web.Response(
                body=gzip.compress(png_bytes()),
                headers={"Content-Encoding": "gzip", "Content-Type": "image/png"},
            )
        return web.Response(body=png_bytes(), content_type="image/png")

    async def other(self, request: web.Request) -> web.StreamResponse:
        self.counts["other"] += 1
        self.counts[f"other {request.method} {request.path_qs}"] += 1
        return web.json_response({"code": 404, "message": "no such path"}, status=404)
