"""One API request and its answer, translated: the one place where aiohttp's
exceptions and the service's status codes become the exception tree of
`errors.py` (modellix-api.md's error table, via `answers.py`).

A success gives the envelope's `data`; anything else raises, classified as
the retry loop in `client.py` needs it: free to repeat (TransientError,
RateLimited, ProtocolError), never to repeat (RequestRejected, FatalApiError,
AnswerRefused), or, for a paid submit, an unknown outcome.

A paid submit is a refusal (safe to send again) only when it provably created
nothing: a connection never made, a 4xx, or a 429/503 whose body is the API's
own error envelope (`{"code": <status>, "message": ...}`), which only the
service writes, before it creates a task. Every other 5xx (500, 502, 504, a
bare 503 from a proxy), a connection lost after sending, a read timeout and a
malformed 200 may have followed a charged task: unknown, never repeated.

The service's answer is bounded (bounded.py): its body is capped (decoded),
the whole request has a deadline, redirects are not followed (the key would
travel with them), and a refusal whose wait is beyond `max_wait_s` stops the
run (FatalApiError, exit 3) with the time it named. Its words reach a message
only through the redactor (errors.py scrubs every message it is given).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from batchedit.api.answers import classify_error_status, retry_after_s
from batchedit.api.bounded import (
    ACCEPT_ENCODING,
    BodyTooLarge,
    NotJson,
    ServiceLimits,
    UnsupportedEncoding,
    parse_json,
    read_bounded,
)
from batchedit.api.endpoint import Endpoint
from batchedit.api.policy import LoadFeedback, LoadSignal
from batchedit.api.ratelimit import budget_headers
from batchedit.errors import (
    AnswerRefused,
    ApiError,
    DeadlineExceeded,
    FatalApiError,
    OutcomeUnknown,
    ProtocolError,
    RateLimited,
    TransientError,
)
from batchedit.origins import SIMULATOR_HEADER
from batchedit.records import ErrorCategory
from batchedit.redact import scrub

MAX_MESSAGE_CHARS = 300
#: Statuses the API itself answers before creating a task, when its envelope says so.
REFUSED_BY_API = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """What to send: `form` builds a fresh multipart body per attempt."""

    method: str
    path: str
    json_body: Mapping[str, Any] | None = None
    form: Callable[[], aiohttp.FormData] | None = None
    paid: bool = False


async def exchange(
    session: aiohttp.ClientSession,
    endpoint: Endpoint,
    request: ApiRequest,
    *,
    load: LoadFeedback,
    wall_clock: Callable[[], float],
    limits: ServiceLimits | None = None,
    on_simulator: Callable[[], None] | None = None,
) -> Mapping[str, Any]:
    """Send `request` once; the success envelope's `data`, or a classified error.
    `on_simulator` is called when the answer says it is the simulator's."""
    limits = limits or ServiceLimits()
    headers = {"Authorization": f"Bearer {endpoint.api_key}", "Accept-Encoding": ACCEPT_ENCODING}
    try:
        async with (
            asyncio.timeout(limits.request_timeout_s),
            session.request(
                request.method,
                endpoint.base_url + request.path,
                headers=headers,
                json=request.json_body,
                data=request.form() if request.form is not None else None,
                allow_redirects=False,
                auto_decompress=False,
            ) as response,
        ):
            status = response.status
            if on_simulator is not None and SIMULATOR_HEADER in response.headers:
                on_simulator()  # the run's results are then marked simulated (origins.py)
            # Only a refusal's wait matters; a success's headers are not parsed.
            retry_after = None if status == 200 else retry_after_s(response.headers, wall_clock())
            # The budget's two headers are read on every answer: the learned rate needs them.
            limit, remaining = budget_headers(response.headers)
            body = (await read_bounded(response, limits.max_answer_bytes)).data
    except (BodyTooLarge, UnsupportedEncoding) as exc:
        message = f"the API's answer is {exc}"
        if request.paid:
            raise OutcomeUnknown(f"{message}, after a paid submit was sent") from exc
        raise AnswerRefused(message) from exc
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
        if request.paid:
            raise OutcomeUnknown(f"{message} after a paid submit was sent") from exc
        if isinstance(exc, TimeoutError) and not isinstance(exc, aiohttp.ClientError):
            raise DeadlineExceeded(
                f"no whole answer from the API within {limits.request_timeout_s:g}s "
                "(request_timeout_s)"
            ) from exc
        raise TransientError(message, category=ErrorCategory.NETWORK) from exc
    payload = _parsed(body)
    if status == 200:
        load.observe(LoadSignal(status, request.paid, limit, remaining))
        return _success_data(payload, request.paid)
    message = _error_message(status, payload, body)
    load.observe(LoadSignal(status, request.paid, limit, remaining, retry_after, message))
    error = _error_for(
        status, message, retry_after, request.paid, _is_api_envelope(status, payload)
    )
    wait = error.retry_after_s if isinstance(error, RateLimited) else None
    if wait is not None and wait > limits.max_wait_s:
        # A refusal (nothing was created) whose wait is too long: stop the run.
        raise _too_long_a_wait(wait, limits.max_wait_s, wall_clock())
    raise error


def _too_long_a_wait(wait_s: float, max_wait_s: float, now_epoch_s: float) -> FatalApiError:
    """A 429 whose advice is beyond max_wait_s: the run stops rather than sleep."""
    try:
        when = datetime.fromtimestamp(now_epoch_s + wait_s, UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        when = "a time too far ahead to write"
    return FatalApiError(
        f"the service asked to come back at {when.replace('+00:00', 'Z')} (in {wait_s:.0f}s), "
        f"longer than max_wait_s {max_wait_s:g}s; run the same command again after that "
        "time (unfinished rows stay pending), or raise --max-wait",
        http_status=429,
        category=ErrorCategory.RATE_LIMITED,
    )


def _parsed(body: bytes) -> Any:
    """The answer's JSON, or the NotJson that says why there is none: parsed
    once, under the depth bound, whatever the status."""
    try:
        return parse_json(body)
    except NotJson as exc:
        return exc


def _success_data(payload: Any, paid: bool) -> Mapping[str, Any]:
    error_class = OutcomeUnknown if paid else ProtocolError
    if isinstance(payload, NotJson):
        after = ", after a paid submit was sent" if paid else ""
        raise error_class(f"the API answered 200 with a body {payload}{after}") from payload
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict) or payload.get("code", 0) != 0:
        raise error_class("the API answered 200 without a success envelope")
    return data


def _error_for(
    status: int, message: str, retry_after: float | None, paid: bool, from_api: bool
) -> ApiError | FatalApiError:
    """The classified error. For a paid submit, a 429 or 503 is a refusal only
    with the API's own envelope (`from_api`); any other 5xx, and a bare 429 or
    503 (a proxy's), may have come after the task was created and charged."""
    refused_by_api = status in REFUSED_BY_API and from_api
    if paid and (status >= 500 or status == 429) and not refused_by_api:
        return OutcomeUnknown(
            f"{message} (the submit may have created a paid task)", http_status=status
        )
    if status == 429:
        return RateLimited(message, retry_after_s=retry_after)
    return classify_error_status(status, message)


def _is_api_envelope(status: int, payload: Any) -> bool:
    """Whether `payload` is the API's own error envelope for `status`:
    `{"code": <status>, "message": "..."}`, not a gateway's page."""
    return (
        isinstance(payload, dict)
        and payload.get("code") == status
        and not isinstance(payload.get("code"), bool)
        and isinstance(payload.get("message"), str)
    )


def _error_message(status: int, payload: Any, body: bytes) -> str:
    """The service's own message when the body has one, else the bare status."""
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        text: str = payload["message"]
    else:
        # A generous slice to decode; the cut to MAX_MESSAGE_CHARS comes after the
        # redactor, which cannot recognise a key cut in two.
        text = body[: 4 * MAX_MESSAGE_CHARS].decode("utf-8", "replace").strip() or "no message"
    return f"HTTP {status}: {scrub(text, max_chars=MAX_MESSAGE_CHARS)}"
