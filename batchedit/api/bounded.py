"""Bounds on what the service sends (invariant 10): how much, how deep, and
for how long.

Every answer body is read here, as the bytes arrived on the wire
(`auto_decompress=False`), and decoded here: a gzip or deflate body is
inflated a bounded piece at a time, so a 0.5 MB gzip bomb stops at the cap
instead of becoming 512 MB in memory, and the cap holds on the decoded bytes
whatever the `Content-Encoding` says. An API answer is read whole
(`read_bounded`); a result is streamed (`stream_bounded`): each decoded piece
handed on as it arrives, the cap applied to what has arrived so far. The raw length is what a
`Content-Length` counts, so a download's truncation check compares like with
like. Each request also runs under a total deadline (`request_timeout_s`), on
top of the connect and read timeouts that a trickling server would never trip.

A JSON answer is parsed only after its nesting is counted (`parse_json`):
1,100 nested arrays in 2 KB make the standard parser raise RecursionError
(and orjson refuse past 1,024, and write nothing past 255), which no handler
of a bad answer expects; deeper than MAX_JSON_DEPTH is a malformed answer
like any other, and nothing that deep is ever held, journalled or walked.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp

MIB = 1024 * 1024
#: What the client advertises; anything else in Content-Encoding is refused.
ACCEPT_ENCODING = "gzip, deflate"
CHUNK_BYTES = 64 * 1024
#: The deepest nesting a JSON answer may have: the API's envelopes are five deep
#: (data.result.resources[n].url), a published schema some twenty.
MAX_JSON_DEPTH = 64
#: A JSON string (skipped whole, escapes included) or a bracket.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]')


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    """The caps the client puts on the service's answers and advice."""

    #: An API answer (JSON envelope or error body), decoded.
    max_answer_bytes: int = MIB
    #: A result download, decoded.
    max_download_bytes: int = 64 * MIB
    #: One request from connect to the last byte of its body.
    request_timeout_s: float = 120.0
    #: The longest wait the service may ask for (Retry-After, X-RateLimit-Reset);
    #: beyond it the run stops (exit 3) instead of sleeping.
    max_wait_s: float = 600.0
    #: Result downloads from http and private addresses too (an API origin on
    #: loopback, the simulator, allows its own loopback URLs without it).
    allow_private_downloads: bool = False


class BodyTooLarge(Exception):
    """A body past its cap; `limit_bytes` names the cap for the message."""

    def __init__(self, limit_bytes: int, *, decoded: bool) -> None:
        self.limit_bytes = limit_bytes
        self.decoded = decoded
        once = " once decoded" if decoded else ""
        super().__init__(f"over the {describe_bytes(limit_bytes)} limit{once}")


class UnsupportedEncoding(Exception):
    """A Content-Encoding the client did not ask for."""


class NotJson(ValueError):
    """An answer that is not JSON, or nested deeper than MAX_JSON_DEPTH; the
    message says which, for the error that names the request."""


@dataclass(frozen=True, slots=True)
class Body:
    data: bytes  # decoded
    raw_bytes: int  # as received, what Content-Length counts
    encoded: bool  # a Content-Encoding other than identity


def describe_bytes(count: int) -> str:
    if count % MIB == 0:
        return f"{count // MIB} MiB"
    return f"{count} bytes"


@dataclass(frozen=True, slots=True)
class Streamed:
    """A body handed on piece by piece: its sizes, decoded and as received."""

    decoded_bytes: int
    raw_bytes: int  # as received, what Content-Length counts
    encoded: bool


class _Decoder:
    """Content-Encoding undone with a hard cap on the output of every step:
    `pieces` yields a chunk's decoded bytes CHUNK_BYTES at most at a time, so
    a few KB of gzip that inflate to 20 MB never stand in memory at once."""

    def __init__(self, encoding: str, max_bytes: int) -> None:
        encoding = encoding.strip().lower()
        self.encoding = encoding
        self.max_bytes = max_bytes
        self.size = 0
        if encoding in ("", "identity"):
            self._inflate: zlib._Decompress | None = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            # 32 + MAX_WBITS: a gzip or zlib header, told by the stream itself.
            self._inflate = zlib.decompressobj(32 + zlib.MAX_WBITS)
        else:
            raise UnsupportedEncoding(f"in Content-Encoding {encoding[:40]!r}, not supported")
        self.encoded = self._inflate is not None

    def pieces(self, chunk: bytes) -> Iterator[bytes]:
        if self._inflate is None:
            self._count(chunk)
            yield chunk
            return
        pending = chunk
        while pending:
            room = min(CHUNK_BYTES, self.max_bytes - self.size + 1)
            try:
                piece = self._inflate.decompress(pending, room)
            except zlib.error as exc:
                raise UnsupportedEncoding(f"not valid {self.encoding} ({exc})") from exc
            self._count(piece)
            if piece:
                yield piece
            pending = self._inflate.unconsumed_tail
            if not piece and pending:
                break  # nothing more comes out of this input (the stream ended)

    def _count(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > self.max_bytes:
            raise BodyTooLarge(self.max_bytes, decoded=self.encoded)


async def read_bounded(response: aiohttp.ClientResponse, max_bytes: int) -> Body:
    """The whole body, decoded, or BodyTooLarge as soon as it passes `max_bytes`
    (raw or decoded), or UnsupportedEncoding. The response must have been
    requested with `auto_decompress=False`."""
    decoder = _Decoder(response.headers.get("Content-Encoding", ""), max_bytes)
    raw = 0
    chunks: list[bytes] = []
    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
        raw += len(chunk)
        if raw > max_bytes:
            raise BodyTooLarge(max_bytes, decoded=False)
        chunks.extend(decoder.pieces(chunk))
    return Body(b"".join(chunks), raw, decoder.encoded)


def json_depth_over(data: bytes, max_depth: int) -> bool:
    """Whether `data` nests brackets deeper than `max_depth`, strings skipped;
    stops at the first bracket too deep. Linear in the bytes, no recursion."""
    depth = 0
    for token in _JSON_TOKENS.finditer(data):
        first = token.group()[0]
        if first in b"[{":
            depth += 1
            if depth > max_depth:
                return True
        elif first in b"]}":
            depth -= 1
    return False


def parse_json(data: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`data` parsed as JSON, or NotJson: not JSON at all, or too deep to be
    an answer of this API (counted before parsing, so the parser never recurses
    past `max_depth`)."""
    if json_depth_over(data, max_depth):
        raise NotJson(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: belt and braces
        raise NotJson("not JSON") from exc


async def stream_bounded(
    response: aiohttp.ClientResponse,
    max_bytes: int,
    write: Callable[[bytes], Awaitable[None]],
) -> Streamed:
    """The body, decoded, handed to `write` a piece at a time as it arrives, or
    BodyTooLarge as soon as it passes `max_bytes` (raw or decoded), or
    UnsupportedEncoding. At most a chunk and its inflated pieces are held at
    once. The response must have been requested with `auto_decompress=False`."""
    decoder = _Decoder(response.headers.get("Content-Encoding", ""), max_bytes)
    raw = 0
    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
        raw += len(chunk)
        if raw > max_bytes:
            raise BodyTooLarge(max_bytes, decoded=False)
        for piece in decoder.pieces(chunk):
            await write(piece)
    return Streamed(decoder.size, raw, decoder.encoded)
