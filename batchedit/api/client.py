"""The Modellix API client: the questions the pipeline asks, and their retries.

The API layer is the only code that knows HTTP. This module owns the session's
use, every retry with its backoff (the paid submit's too, with the caller's
journalling hooks, `PaidAttempts`), and the shared pause after a 429
(invariant 5);
one request and the classification of its answer into the exception tree of
`errors.py` live in `exchange.py` (result downloads in `download.py`). The
pipeline asks questions (`submit_edit`, `read_task`, `upload_media`,
`download_to`) and gets typed answers or a classified error; it never
sees a status code.
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from batchedit.api.bounded import ServiceLimits
from batchedit.api.download import DownloadPolicy, Fetched, download_once
from batchedit.api.endpoint import Endpoint
from batchedit.api.exchange import ApiRequest, exchange
from batchedit.api.policy import (
    LoadFeedback,
    NoFeedback,
    PaidAttempts,
    RequestCounts,
    RequestMeter,
    RetryPolicy,
)
from batchedit.api.task_state import TaskState, parse_task
from batchedit.catalogue import current_catalogue
from batchedit.clock import Clock
from batchedit.errors import (
    AnswerRefused,
    ApiError,
    DeadlineExceeded,
    DownloadError,
    FatalApiError,
    OutcomeUnknown,
    ProtocolError,
    RateLimited,
    RequestRejected,
    TransientError,
)
from batchedit.events import emit
from batchedit.origins import Origin
from batchedit.records import ErrorCategory
from batchedit.redact import redact, scrub

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
MAX_MESSAGE_CHARS = 300
#: What a task id may be before it goes into a path (invariant 10): no `/`,
#: `?`, `#`, `%`, spaces or control characters, so it names one task and
#: nothing else on the API's origin.
TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")

#: A paid submit's answers that provably created no task: each is followed by
#: the caller's withdrawal of its intent; only the TransientErrors among them
#: (a 429 or 503 in the API's own envelope, a connection never made) are sent again.
PAID_REFUSALS = (TransientError, FatalApiError, RequestRejected)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class UploadedFile:
    file_id: str
    url: str


@dataclass(slots=True)
class ModellixClient:
    """One client per run, over one `aiohttp.ClientSession` that the caller owns."""

    session: aiohttp.ClientSession
    endpoint: Endpoint
    clock: Clock
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limits: ServiceLimits = field(default_factory=ServiceLimits)
    rng: random.Random = field(default_factory=random.Random)
    counts: RequestCounts = field(default_factory=RequestCounts)
    wall_clock: Callable[[], float] = time.time
    #: Spaces every API request of the run (None: as fast as the service allows):
    #: a `ratelimit.RateLearner`, fixed by `--rate-limit` or learned from `load`.
    rate_limiter: RequestMeter | None = None
    load: LoadFeedback = field(default_factory=NoFeedback)
    #: An answer came marked as the simulator's (origins.py): the run's results are simulated.
    simulator_heard: bool = False
    _resume_at: float = 0.0

    @property
    def origin(self) -> Origin:
        """The origin the run's tasks and results come from, as known so far."""
        origin = self.endpoint.origin
        return replace(origin, simulated=True) if self.simulator_heard else origin

    def _heard_simulator(self) -> None:
        self.simulator_heard = True

    # -- the questions the pipeline asks ---------------------------------

    async def ready_to_send(self) -> None:
        """Wait out the shared pause after a 429 and the request-rate meter: what
        every request waits for before it leaves."""
        wait = self._resume_at - self.clock.now()
        if wait > 0:
            await self.clock.sleep(wait)
        if self.rate_limiter is not None:
            await self.rate_limiter.wait()

    async def submit_paid(
        self, model: str, body: Mapping[str, Any], attempts: PaidAttempts
    ) -> str | None:
        """The paid edit request, retried only while no task can have been made;
        returns the task id, or None when `attempts.intend` sent nothing.

        Each attempt waits its turn, then has its intent made durable by the
        caller, then leaves (`PaidAttempts` says the order). A refusal (a
        PAID_REFUSALS answer) is withdrawn by the caller; a TransientError among
        them is sent again after a back-off, within the retry budget; any other
        refusal, and the last, is raised. An answer that may have been charged
        (OutcomeUnknown, a task id unsafe to ask about) is raised at once and
        never sent again (invariant 1).
        """
        for retry in range(self.retry.max_retries + 1):
            await self.ready_to_send()
            try:
                if not await attempts.intend():
                    return None
                try:
                    return await self.submit_edit(model, body)
                except asyncio.CancelledError:
                    attempts.unanswered()  # out without an answer: may be charged
                    raise
            except PAID_REFUSALS as exc:
                refusal = exc
            finally:
                attempts.off_wire()  # a stop need not wait through a back-off
            await attempts.withdraw()
            if not isinstance(refusal, TransientError) or retry == self.retry.max_retries:
                raise refusal
            await self.back_off(refusal, retry, what="submit")
        raise AssertionError("unreachable")

    async def submit_edit(self, model: str, body: Mapping[str, Any]) -> str:
        """POST the paid edit request once, at once; returns the task id.

        The single attempt `submit_paid` retries. A TransientError or
        RateLimited means the service provably created no task; anything that
        may have reached the service without an answer raises OutcomeUnknown.
        """
        self.counts.count("submit")
        path = current_catalogue().body_spec(model).submit_path
        request = ApiRequest("POST", path, body, paid=True)
        data = await exchange(
            self.session,
            self.endpoint,
            request,
            load=self.load,
            wall_clock=self.wall_clock,
            limits=self.limits,
            on_simulator=self._heard_simulator,
        )
        task_id = data.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise OutcomeUnknown("the service accepted the submit but sent no task id")
        check_task_id(task_id)
        return task_id

    async def read_task(self, task_id: str, *, max_results: int | None = None) -> TaskState:
        """One look at a task. A malformed answer (not JSON, about another task)
        is free to ask again, so it is retried within the budget like a 503.
        A task id unsafe in a path is refused before anything is sent, and a
        success listing more than `max_results` results is refused whole."""
        check_task_id(task_id)
        path = f"{API_PREFIX}/tasks/{task_id}"
        return await self._call_json(
            "GET",
            path,
            kind="poll",
            parse=lambda data: parse_task(task_id, data, max_results=max_results),
        )

    async def upload_media(
        self, content: bytes, *, filename: str, content_type: str
    ) -> UploadedFile:
        """Upload one local image; the returned URL is what goes into `image`."""

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            # A file object, not bytes: aiohttp warns (an error under the tests'
            # warning filter) on a raw bytes part over 1 MB, and a prepared photo is.
            part = io.BytesIO(content)
            data.add_field("file", part, filename=filename, content_type=content_type)
            return data

        path = f"{API_PREFIX}/media/files"
        data = await self._call_json("POST", path, kind="upload", form=form, parse=dict)
        file_id, url = data.get("file_id"), data.get("url")
        if not isinstance(url, str) or not url:
            raise ProtocolError("the media upload answer has no url")
        if redact(url) != url or not url.isprintable():
            # It would be stored (the upload cache) and sent on: refuse it whole.
            raise AnswerRefused("the media upload answer's url holds the API key or controls")
        return UploadedFile(scrub(str(file_id or ""), max_chars=128), url)

    async def delete_media(self, file_id: str) -> bool:
        """Delete one upload (`uploads purge`); False when the service no longer
        has it (404: deleted already, or past its retention), which is as good.
        A file id unsafe in a path is refused before anything is sent."""
        check_file_id(file_id)
        path = f"{API_PREFIX}/media/files/{file_id}"
        try:
            await self._call_json("DELETE", path, kind="delete", parse=dict)
        except RequestRejected as exc:
            if exc.category is ErrorCategory.NOT_FOUND:
                return False
            raise
        return True

    async def validate_key(self) -> bool:
        """Whether the service takes this key (`doctor`); a refused key raises FatalApiError."""
        data = await self._call_json(
            "GET", f"{API_PREFIX}/apikey/validate", kind="account", parse=dict
        )
        return data.get("is_valid") is True

    async def read_balance(self) -> float:
        """The team's balance (`doctor`)."""
        data = await self._call_json(
            "GET", f"{API_PREFIX}/team/balance", kind="account", parse=dict
        )
        balance = data.get("balance")
        if isinstance(balance, bool) or not isinstance(balance, int | float):
            raise ProtocolError("the balance answer has no number in data.balance")
        return float(balance)

    async def download_to(
        self,
        url: str,
        path: Path,
        check: Callable[[Fetched], Awaitable[T]] | None = None,
    ) -> tuple[Fetched, T | None]:
        """Stream a result to `path` without the API key (results live on a file
        host, and the key must never travel to a host other than the API's),
        then run `check` on the file (an image decoder).

        A broken body is fetched again within the retry budget: cut short against
        its Content-Length, broken off, or whole-looking but failing the check
        (a body cut short without a Content-Length to tell). A body that fails
        the check a second time with the same sha256 is not cut short but
        broken as served: it is not fetched again. An expired result, a
        refusal, a result over the size cap or one the check refuses for good
        is not retried either.
        """
        policy = DownloadPolicy.for_origin(self.endpoint.base_url, self.limits)
        failed: set[str] = set()  # digests of bodies that failed the check
        for retry in range(self.retry.max_retries + 1):
            try:
                fetched = await download_once(
                    self.session, url, path, policy=policy, counts=self.counts
                )
                if check is None:
                    self.counts.bytes_downloaded += fetched.bytes
                    return fetched, None
                try:
                    checked = await check(fetched)
                    self.counts.bytes_downloaded += fetched.bytes  # only what passed
                    return fetched, checked
                except DownloadError as exc:
                    if not exc.retry_may_cure:
                        raise  # not an image at all, or refused: the same again
                    if fetched.sha256 in failed:
                        raise DownloadError(
                            f"{exc.message}; fetched again, the same {fetched.bytes} bytes "
                            "fail the same way, so it is not fetched again",
                            retry_may_cure=False,
                        ) from exc
                    failed.add(fetched.sha256)
                    raise TransientError(
                        f"{exc.message}; the body may have been cut short",
                        category=ErrorCategory.DOWNLOAD,
                    ) from exc
            except DeadlineExceeded as exc:
                raise DownloadError(exc.message) from exc
            except TransientError as exc:
                if retry == self.retry.max_retries:
                    raise
                await self.back_off(exc, retry, what="download")
        raise AssertionError("unreachable")

    # -- one place that turns HTTP into typed answers --------------------

    async def _call_json(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        json_body: Mapping[str, Any] | None = None,
        form: Callable[[], aiohttp.FormData] | None = None,
        parse: Callable[[Mapping[str, Any]], T],
    ) -> T:
        """A free request, retried within the budget while a wait may cure it."""
        for retry in range(self.retry.max_retries + 1):
            await self.ready_to_send()
            try:
                self.counts.count(kind)
                data = await exchange(
                    self.session,
                    self.endpoint,
                    ApiRequest(method, path, json_body, form),
                    load=self.load,
                    wall_clock=self.wall_clock,
                    limits=self.limits,
                    on_simulator=self._heard_simulator,
                )
                return parse(data)
            except ProtocolError as exc:
                # A free request's malformed answer: asking again costs nothing.
                log.warning("%s: malformed answer: %s", kind, exc)
                if retry == self.retry.max_retries:
                    raise
                await self.back_off(exc, retry, what=kind)
            except TransientError as exc:
                # A request that ran out its whole deadline is not tried again at
                # once: each try may cost the deadline again (a trickling answer).
                if isinstance(exc, DeadlineExceeded) or retry == self.retry.max_retries:
                    raise
                await self.back_off(exc, retry, what=kind)
        raise AssertionError("unreachable")

    # -- backoff and the shared pause -------------------------------------

    async def back_off(self, exc: ApiError, retry: int, *, what: str) -> None:
        """Sleep before retry number `retry + 1`; after a 429, every request of
        this client waits with it (invariant 5)."""
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


def check_task_id(task_id: str) -> None:
    """Refuse a task id that could be more than a name in a path."""
    _check_id(task_id, "task id")


def check_file_id(file_id: str) -> None:
    """Refuse an upload's file id that could be more than a name in a path."""
    _check_id(file_id, "file id")


def _check_id(value: str, what: str) -> None:
    if not TASK_ID.fullmatch(value) or redact(value) != value:
        raise AnswerRefused(
            f"the service named a {what} unsafe to use in a path ({redact(value)[:80]!r}); "
            "allowed: letters, digits, '.', '_' and '-', at most 128; nothing was asked about it"
        )


__all__ = [
    "PAID_REFUSALS",
    "LoadFeedback",
    "ModellixClient",
    "PaidAttempts",
    "RequestCounts",
    "RetryPolicy",
    "ServiceLimits",
    "UploadedFile",
    "check_file_id",
    "check_task_id",
]
