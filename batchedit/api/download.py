"""One result download: a GET without the API key, confined and bounded, with
the file host's answers translated into the exception tree.

Results live on a file host; the key must never travel to a host other than
the API's, so this request carries no Authorization header. The result URL
is the service's word, so it is checked before anything is sent
(invariant 10): https only, to a public address (the host's resolved
addresses too), unless the user allowed private downloads. An API origin on
loopback (the simulator) serves its own results: a result URL on that same
origin (scheme, host and port) is fetched, but no other loopback port or
address is, since a hostile local answer could otherwise point the client at
any service listening on the machine.
Redirects are followed by hand, at most MAX_REDIRECTS, each target checked
the same way. The body is streamed to a file as it arrives (through
aiofiles, WRITE_BYTES at a time, hashed on the way), capped on its decoded
bytes as they arrive (bounded.py), and the whole fetch has a deadline: a
result is never held whole in memory. An expired result (403, 404, 410) is final; a
429, a 5xx, a broken-off or truncated body is free to fetch again, which the
client's retry loop does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiofiles
import aiohttp
from aiofiles.threadpool.binary import AsyncBufferedIOBase
from yarl import URL

from batchedit.api.bounded import (
    ACCEPT_ENCODING,
    BodyTooLarge,
    ServiceLimits,
    UnsupportedEncoding,
    describe_bytes,
    stream_bounded,
)
from batchedit.api.endpoint import is_loopback_url
from batchedit.api.policy import RequestCounts
from batchedit.errors import DeadlineExceeded, DownloadError, ResultExpired, TransientError
from batchedit.records import ErrorCategory
from batchedit.redact import redact

MAX_REDIRECTS = 5
#: A download's bytes are written to its file this many at a time.
WRITE_BYTES = 256 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SHOWN_URL_CHARS = 120

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: An origin as compared: scheme, host (lower case) and port (the default filled in).
Origin = tuple[str, str, int]


class AddressRefused(OSError):
    """The session's resolver refused a host at connect time: its name now
    stands for an address the download policy refuses (`reason`). An OSError,
    as aiohttp expects of a resolver; `download_once` makes it final."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host} now resolves to an address refused: {reason}")
        self.host = host
        self.reason = reason


def origin_of(url: URL) -> Origin | None:
    """`url`'s origin, or None when it has no host or port to compare."""
    if not url.host or url.port is None:
        return None
    return url.scheme.lower(), url.host.lower(), url.port


@dataclass(frozen=True, slots=True)
class DownloadPolicy:
    """Where results may come from, and how much of them."""

    max_bytes: int
    timeout_s: float
    allow_private: bool = False  # --allow-private-downloads
    #: The API's origin when it is on loopback (the simulator): its own result
    #: URLs are fetched, and only they among loopback URLs.
    loopback_api: Origin | None = None

    @classmethod
    def for_origin(cls, base_url: str, limits: ServiceLimits) -> DownloadPolicy:
        return cls(
            max_bytes=limits.max_download_bytes,
            timeout_s=limits.request_timeout_s,
            allow_private=limits.allow_private_downloads,
            loopback_api=origin_of(URL(base_url)) if is_loopback_url(base_url) else None,
        )

    def refusal(self, url: URL, addresses: list[Address]) -> str | None:
        """Why `url`, whose host stands for `addresses`, may not be fetched, or None."""
        if self.loopback_api is not None and origin_of(url) == self.loopback_api:
            return None  # the loopback API's own results (its origin was checked at start)
        for address in addresses:
            reason = self.address_refusal(address)
            if reason is not None:
                return reason
        if url.scheme == "http" and not self.allow_private:
            return "is plain http (results are fetched over https only)"
        return None

    def address_refusal(self, address: Address) -> str | None:
        if self.allow_private:
            return None
        if self.loopback_api is not None and address.is_loopback:
            scheme, host, port = self.loopback_api
            return (
                f"is on loopback ({address}) but not the API's own origin "
                f"({scheme}://{host}:{port}); pass --allow-private-downloads to fetch it"
            )
        if not address.is_global:
            return (
                f"points to a private address ({address}); pass --allow-private-downloads "
                "to fetch results from a private network"
            )
        return None


def form_refusal(url: URL) -> str | None:
    """Why `url` cannot be a result URL whatever its address, or None."""
    if url.scheme not in ("http", "https") or not url.host:
        return "is not an http(s) URL"
    if url.user is not None or url.password is not None:
        return "holds a user name or password"
    if redact(str(url)) != str(url):
        return "holds the API key"
    return None


def shown(url: URL | str) -> str:
    """`url` for a message: redacted first, then cut (a key cut in two is no
    longer recognisable)."""
    text = redact(str(url))
    return text if len(text) <= _SHOWN_URL_CHARS else text[:_SHOWN_URL_CHARS] + "..."


async def _addresses(host: str, port: int | None) -> list[Address]:
    """The addresses `host` stands for: itself when it is one, else resolved."""
    if host == "localhost":
        return [ipaddress.ip_address("127.0.0.1")]
    with contextlib.suppress(ValueError):  # a name, not an address: resolved below
        return [ipaddress.ip_address(host.strip("[]"))]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port or 443, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise TransientError(
            f"cannot resolve the result host {host!r}: {exc.strerror or exc}",
            category=ErrorCategory.DOWNLOAD,
        ) from exc
    found: list[Address] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # an IPv6 zone is not part of the address
        found.append(ipaddress.ip_address(text))
    return found


async def _check(url: URL, policy: DownloadPolicy) -> None:
    """Refuse `url` before anything is sent: its form first, then every address
    its host stands for (an address literal is not resolved)."""
    reason = form_refusal(url)
    if reason is None and url.host is not None:
        reason = policy.refusal(url, await _addresses(url.host, url.port))
    if reason is not None:
        raise DownloadError(f"the result URL {shown(url)} {reason}; refused, nothing fetched")


@dataclass(frozen=True, slots=True)
class Fetched:
    """A result on disk as it came: its decoded bytes' sha256 and length."""

    path: Path
    sha256: str
    bytes: int


async def _open_binary(path: Path) -> AsyncBufferedIOBase:
    return await aiofiles.open(path, "wb")


@contextlib.asynccontextmanager
async def opened_for_writing(path: Path) -> AsyncIterator[AsyncBufferedIOBase]:
    """`path` opened for writing through aiofiles and closed however the task
    ends. aiofiles opens in a worker thread: a task cancelled during that open
    (a run stopping while its writers download) would leave the file the
    thread goes on to open to the garbage collector, a descriptor held and a
    ResourceWarning. So the open is shielded and, when cancelled, waited for
    and its file closed before the cancellation goes on."""
    opening = asyncio.ensure_future(_open_binary(path))
    try:
        handle = await asyncio.shield(opening)
    except asyncio.CancelledError:
        with contextlib.suppress(OSError):
            await (await opening).close()
        raise
    try:
        yield handle
    finally:
        await handle.close()


class _FileSink:
    """The body's pieces written to a file through aiofiles, gathered into
    WRITE_BYTES first (a thread hop per write, not per network chunk) and
    hashed as they pass: what a download holds in memory is this buffer."""

    def __init__(self, handle: AsyncBufferedIOBase) -> None:
        self.handle = handle
        self.pending = bytearray()
        self.digest = hashlib.sha256()

    async def write(self, piece: bytes) -> None:
        self.digest.update(piece)
        self.pending += piece
        if len(self.pending) >= WRITE_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self.pending:
            await self.handle.write(bytes(self.pending))
            self.pending.clear()


async def download_once(
    session: aiohttp.ClientSession,
    url: str,
    path: Path,
    *,
    policy: DownloadPolicy,
    counts: RequestCounts,
) -> Fetched:
    """GET `url` once (following checked redirects), its decoded body streamed
    to `path` (created or emptied), or a classified error; the file may hold
    part of a body when it fails, for the caller to remove."""
    counts.download += 1
    try:
        async with asyncio.timeout(policy.timeout_s):
            return await _fetch(session, URL(url), path, policy)
    except (BodyTooLarge, UnsupportedEncoding) as exc:
        raise DownloadError(f"the result is {exc}") from exc
    except ValueError as exc:  # a URL yarl or aiohttp cannot use
        raise DownloadError(f"the result URL {shown(url)} cannot be used ({exc})") from exc
    except aiohttp.ClientConnectorError as exc:
        refused = exc.os_error
        if isinstance(refused, AddressRefused):
            # The policy's answer, not a network fault: final, never fetched again.
            raise DownloadError(
                f"the result host {refused.host} was refused at connect time (its name "
                f"now resolves to another address: it {refused.reason}); nothing fetched, "
                "not tried again",
                retry_may_cure=False,
            ) from exc
        raise TransientError(
            f"result download broke off ({type(exc).__name__})",
            category=ErrorCategory.DOWNLOAD,
        ) from exc
    except aiohttp.ClientError as exc:
        raise TransientError(
            f"result download broke off ({type(exc).__name__})",
            category=ErrorCategory.DOWNLOAD,
        ) from exc
    except TimeoutError as exc:
        raise DeadlineExceeded(
            f"result download took longer than {policy.timeout_s:g}s (request_timeout_s)",
            category=ErrorCategory.DOWNLOAD,
        ) from exc


async def _fetch(
    session: aiohttp.ClientSession, url: URL, path: Path, policy: DownloadPolicy
) -> Fetched:
    for _ in range(MAX_REDIRECTS + 1):
        await _check(url, policy)
        async with session.get(
            url,
            allow_redirects=False,
            auto_decompress=False,
            headers={"Accept-Encoding": ACCEPT_ENCODING},
        ) as response:
            if response.status in _REDIRECTS and "Location" in response.headers:
                url = url.join(URL(response.headers["Location"]))
                continue
            _check_status(response.status)
            declared = response.content_length
            if declared is not None and declared > policy.max_bytes:
                limit = describe_bytes(policy.max_bytes)
                raise DownloadError(f"the result is {declared} bytes, over the {limit} limit")
            async with opened_for_writing(path) as handle:
                sink = _FileSink(handle)
                body = await stream_bounded(response, policy.max_bytes, sink.write)
                await sink.flush()
        if declared is not None and body.raw_bytes != declared:
            # Content-Length counts the bytes as sent (encoded, when they were).
            raise TransientError(
                f"result download was truncated ({body.raw_bytes} of {declared} bytes)",
                category=ErrorCategory.DOWNLOAD,
            )
        return Fetched(path, sink.digest.hexdigest(), body.decoded_bytes)
    raise DownloadError(f"the result URL redirected more than {MAX_REDIRECTS} times; refused")


def _check_status(status: int) -> None:
    if status in (403, 404, 410):
        raise ResultExpired(f"the result is gone (HTTP {status})", http_status=status)
    if status == 429 or status >= 500:
        raise TransientError(
            f"result download answered HTTP {status}",
            http_status=status,
            category=ErrorCategory.DOWNLOAD,
        )
    if status != 200:
        raise DownloadError(f"result download answered HTTP {status}", http_status=status)
