"""The Modellix API client: the only module that knows HTTP.

It owns the session's use, the timeouts, retries with backoff, the shared
pause after a 429 (invariant 5), and the classification of every answer
into the exception tree of `errors.py`. The pipeline asks questions
(`submit_edit`, `read_task`, `upload_media`, `download_output`) and gets typed
answers or a classified error; it never sees a status code.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import aiohttp

from batchedit.api.answers import classify_error_status, retry_after_s
from batchedit.api.endpoint import Endpoint
from batchedit.api.ratelimit import RequestRateLimiter
from batchedit.api.task_state import TaskState, parse_task
from batchedit.clock import Clock
from batchedit.errors import (
    ApiError,
    DownloadError,
    OutcomeUnknown,
    ProtocolError,
    RateLimited,
    ResultExpired,
    TransientError,
)
from batchedit.events import emit
from batchedit.records import ErrorCategory

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
MAX_MESSAGE_CHARS = 300

T = TypeVar("T")


class LoadFeedback(Protocol):
    """Told about every API answer that says something about load (the in-flight
    slots adapt their limit to it)."""

    def rate_limited(self) -> None: ...

    def answered(self) -> None: ...


class _NoFeedback:
    """For a client whose answers adapt nothing (doctor, tests)."""

    def rate_limited(self) -> None:
        return None

    def answered(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A bounded budget per request, with exponential backoff and full jitter."""

    max_retries: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay_s(self, retry: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2**retry))


@dataclass(frozen=True, slots=True)
class UploadedFile:
    file_id: str
    url: str


@dataclass(slots=True)
class RequestCounts:
    """Requests sent, by kind, for the summary (retries count once each)."""

    submit: int = 0
    poll: int = 0
    upload: int = 0
    download: int = 0
    retries: int = 0
    bytes_downloaded: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "submit": self.submit,
            "poll": self.poll,
            "upload": self.upload,
            "download": self.download,
            "retries": self.retries,
        }


@dataclass(slots=True)
class ModellixClient:
    """One client per run, over one `aiohttp.ClientSession` that the caller owns."""

    session: aiohttp.ClientSession
    endpoint: Endpoint
    clock: Clock
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_download_bytes: int = 64 * 1024 * 1024
    rng: random.Random = field(default_factory=random.Random)
    counts: RequestCounts = field(default_factory=RequestCounts)
    wall_clock: Callable[[], float] = time.time
    #: Spaces every API request of the run (None: as fast as the service allows).
    rate_limiter: RequestRateLimiter | None = None
    load: LoadFeedback = field(default_factory=_NoFeedback)
    _resume_at: float = 0.0

    # -- the questions the pipeline asks ---------------------------------

    async def submit_edit(
        self,
        model: str,
        body: Mapping[str, Any],
        *,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> str:
        """POST the paid edit request; returns the task id.

        Retries only what provably created no task (429, 502-504, a refused
        connection); anything that may have reached the service without an
        answer raises OutcomeUnknown, never a second paid request.
        `before_send` is awaited once, just before the request first leaves
        (after any shared pause), so the caller can make its intent durable.
        """
        path = f"{API_PREFIX}/{model}/async"
        data = await self._call_json(
            "POST",
            path,
            kind="submit",
            json_body=body,
            paid=True,
            parse=_as_is,
            before_send=before_send,
        )
        task_id = data.get("task_id") if isinstance(data, Mapping) else None
        if not isinstance(task_id, str) or not task_id:
            raise OutcomeUnknown("the service accepted the submit but sent no task id")
        return task_id

    async def read_task(self, task_id: str) -> TaskState:
        """One look at a task. A malformed answer (not JSON, about another task)
        is free to ask again, so it is retried within the budget like a 503."""
        path = f"{API_PREFIX}/tasks/{task_id}"
        return await self._call_json(
            "GET", path, kind="poll", parse=lambda data: parse_task(task_id, data)
        )

    async def upload_media(
        self, content: bytes, *, filename: str, content_type: str
    ) -> UploadedFile:
        """Upload one local image; the returned URL is what goes into `image`."""

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("file", content, filename=filename, content_type=content_type)
            return data

        path = f"{API_PREFIX}/media/files"
        data = await self._call_json("POST", path, kind="upload", form=form, parse=_as_is)
        file_id, url = data.get("file_id"), data.get("url")
        if not isinstance(url, str) or not url:
            raise ProtocolError("the media upload answer has no url")
        return UploadedFile(str(file_id or ""), url)

    async def validate_key(self) -> bool:
        """Whether the service takes this key (`doctor`); a refused key raises FatalApiError."""
        data = await self._call_json(
            "GET", f"{API_PREFIX}/apikey/validate", kind="account", parse=_as_is
        )
        return data.get("is_valid") is True

    async def read_balance(self) -> float:
        """The team's balance (`doctor`)."""
        data = await self._call_json(
            "GET", f"{API_PREFIX}/team/balance", kind="account", parse=_as_is
        )
        balance = data.get("balance")
        if isinstance(balance, bool) or not isinstance(balance, int | float):
            raise ProtocolError("the balance answer has no number in data.balance")
        return float(balance)

    async def download_output(self, url: str) -> bytes:
        """GET a result without the API key: results live on a file host, and
        the key must never travel to a host other than the API's."""
        data, _ = await self.download_checked(url, None)
        return data

    async def download_checked(
        self, url: str, check: Callable[[bytes], T] | None
    ) -> tuple[bytes, T | None]:
        """Download a result and run `check` on it in a thread (an image decoder).

        A broken body is fetched again within the retry budget: cut short against
        its Content-Length, broken off, or whole-looking but failing the check
        (a body cut short without a Content-Length to tell). An expired result,
        a refusal or a result over the size cap is not retried.
        """
        for retry in range(self.retry.max_retries + 1):
            try:
                data = await self._download_once(url)
                if check is None:
                    return data, None
                try:
                    return data, await asyncio.to_thread(check, data)
                except DownloadError as exc:
                    raise TransientError(
                        f"{exc.message}; the body may have been cut short",
                        category=ErrorCategory.DOWNLOAD,
                    ) from exc
            except TransientError as exc:
                if retry == self.retry.max_retries:
                    raise
                await self._back_off(exc, retry, what="download")
        raise AssertionError("unreachable")

    # -- one place that turns HTTP into typed answers --------------------

    async def _call_json(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        json_body: Mapping[str, Any] | None = None,
        form: Any = None,
        paid: bool = False,
        parse: Callable[[Mapping[str, Any]], T],
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> T:
        for retry in range(self.retry.max_retries + 1):
            await self._wait_for_resume()
            if self.rate_limiter is not None:
                await self.rate_limiter.wait()
            if before_send is not None:
                await before_send()
                before_send = None
            try:
                data = await self._call_once(method, path, kind, json_body, form, paid)
                return parse(data)
            except ProtocolError as exc:
                # Only free requests get here: a paid one's malformed answer is
                # OutcomeUnknown. Asking again costs nothing.
                log.warning("%s: malformed answer: %s", kind, exc)
                if retry == self.retry.max_retries:
                    raise
                await self._back_off(exc, retry, what=kind)
            except TransientError as exc:
                if retry == self.retry.max_retries:
                    raise
                await self._back_off(exc, retry, what=kind)
        raise AssertionError("unreachable")

    async def _call_once(
        self,
        method: str,
        path: str,
        kind: str,
        json_body: Mapping[str, Any] | None,
        form: Any,
        paid: bool,
    ) -> Mapping[str, Any]:
        self._count(kind)
        headers = {"Authorization": f"Bearer {self.endpoint.api_key}"}
        try:
            async with self.session.request(
                method,
                self.endpoint.base_url + path,
                headers=headers,
                json=json_body,
                data=form() if form is not None else None,
            ) as response:
                status = response.status
                body = await response.read()
                retry_after = retry_after_s(response.headers, self.wall_clock())
        except aiohttp.ClientConnectorError as exc:
            # The connection was never made: nothing reached the service.
            raise TransientError(
                f"cannot connect to the API: {exc.os_error}", category=ErrorCategory.NETWORK
            ) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise TransientError(
                "timed out connecting to the API", category=ErrorCategory.NETWORK
            ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            message = f"no answer from the API ({type(exc).__name__})"
            if paid:
                raise OutcomeUnknown(f"{message} after a paid submit was sent") from exc
            raise TransientError(message, category=ErrorCategory.NETWORK) from exc
        if status == 200:
            self.load.answered()
            return self._parse_success(body, paid)
        if status == 429:
            self.load.rate_limited()
        raise self._error_for(status, body, retry_after, paid)

    def _parse_success(self, body: bytes, paid: bool) -> Mapping[str, Any]:
        try:
            envelope = json.loads(body)
        except ValueError as exc:
            error_class = OutcomeUnknown if paid else ProtocolError
            raise error_class("the API answered 200 with a body that is not JSON") from exc
        data = envelope.get("data") if isinstance(envelope, dict) else None
        if not isinstance(data, dict) or envelope.get("code", 0) != 0:
            error_class = OutcomeUnknown if paid else ProtocolError
            raise error_class("the API answered 200 without a success envelope")
        return data

    def _error_for(
        self, status: int, body: bytes, retry_after: float | None, paid: bool
    ) -> ApiError:
        message = self._redact(_error_message(status, body))
        if status == 429:
            return RateLimited(message, retry_after_s=retry_after)
        if status == 500 and paid:
            return OutcomeUnknown(
                f"{message} (the submit may have created a task)", http_status=500
            )
        return classify_error_status(status, message)

    async def _download_once(self, url: str) -> bytes:
        self.counts.download += 1
        try:
            async with self.session.get(url) as response:
                if response.status in (403, 404, 410):
                    raise ResultExpired(
                        f"the result is gone (HTTP {response.status})", http_status=response.status
                    )
                if response.status == 429 or response.status >= 500:
                    raise TransientError(
                        f"result download answered HTTP {response.status}",
                        http_status=response.status,
                        category=ErrorCategory.DOWNLOAD,
                    )
                if response.status != 200:
                    raise DownloadError(
                        f"result download answered HTTP {response.status}",
                        http_status=response.status,
                    )
                declared = response.content_length
                if declared is not None and declared > self.max_download_bytes:
                    raise DownloadError(
                        f"the result is {declared} bytes, over the {self.max_download_bytes} cap"
                    )
                body = await self._read_capped(response)
        except aiohttp.ClientError as exc:
            raise TransientError(
                f"result download broke off ({type(exc).__name__})",
                category=ErrorCategory.DOWNLOAD,
            ) from exc
        except TimeoutError as exc:
            raise TransientError(
                "result download timed out", category=ErrorCategory.DOWNLOAD
            ) from exc
        if declared is not None and len(body) != declared:
            raise TransientError(
                f"result download was truncated ({len(body)} of {declared} bytes)",
                category=ErrorCategory.DOWNLOAD,
            )
        self.counts.bytes_downloaded += len(body)
        return body

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(256 * 1024):
            size += len(chunk)
            if size > self.max_download_bytes:
                raise DownloadError(f"the result is over the {self.max_download_bytes} byte cap")
            chunks.append(chunk)
        return b"".join(chunks)

    # -- backoff and the shared pause -------------------------------------

    async def _back_off(self, exc: ApiError, retry: int, *, what: str) -> None:
        self.counts.retries += 1
        delay = self.retry.delay_s(retry, self.rng)
        if isinstance(exc, RateLimited):
            if exc.retry_after_s is not None:
                delay = max(delay, exc.retry_after_s)
            # Every request of this client waits, not just the one that saw the 429.
            self._resume_at = max(self._resume_at, self.clock.now() + delay)
            emit("paused", kind=what, resume_in_s=round(delay, 3), message=str(exc))
        log.debug("%s retry %d in %.3fs: %s", what, retry + 1, delay, exc)
        emit("retried", kind=what, retry=retry + 1, delay_s=round(delay, 3), message=str(exc))
        await self.clock.sleep(delay)

    async def _wait_for_resume(self) -> None:
        wait = self._resume_at - self.clock.now()
        if wait > 0:
            await self.clock.sleep(wait)

    def _count(self, kind: str) -> None:
        if kind == "submit":
            self.counts.submit += 1
        elif kind == "upload":
            self.counts.upload += 1
        else:
            self.counts.poll += 1

    def _redact(self, text: str) -> str:
        key = self.endpoint.api_key
        return text.replace(key, "[redacted]") if key else text


def _as_is(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return data


def _error_message(status: int, body: bytes) -> str:
    """The service's own message when the body has one, else the bare status."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        text: str = payload["message"]
    else:
        text = body[:MAX_MESSAGE_CHARS].decode("utf-8", "replace").strip() or "no message"
    return f"HTTP {status}: {text[:MAX_MESSAGE_CHARS]}"
