"""What every simulator request goes through before its handler, in the documented order.

One place answers errors in the protocol's shape, counts every response and
marks it as the simulator's (`X-Modellix-Simulator`, origins.py);
one gate does, for `/api/v1` only, what the service does before it looks at
a request: count it, check the key (401), spend the rate budget (429), and
maybe fail it on purpose (500/503).
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from batchedit.origins import SIMULATOR_HEADER
from batchedit.simulator.context import API_KEY, CONTEXT
from batchedit.simulator.faults import (
    OTHER,
    POLL,
    SUBMIT,
    DroppedConnection,
    GatewayTimeout,
    drop,
    gateway_timeout,
    maybe_malformed,
    maybe_slow,
)
from batchedit.simulator.options import SimOptions
from batchedit.simulator.responses import ApiError, error_json, retry_headers
from batchedit.simulator.state import SimState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATS_PATH = "/_sim/stats"
API_PREFIX = "/api/v1/"
SUBMIT_ROUTES = frozenset({"submit", "submit_async"})
READ_TASK_ROUTE = "read_task"


@web.middleware
async def answer_and_count(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into `{"code", "message"}` and count responses by status."""
    try:
        response = await handler(request)
    except DroppedConnection:
        return drop(request)  # no answer was sent, so none is counted
    except GatewayTimeout:
        response = gateway_timeout()
    except ApiError as exc:
        response = error_json(exc.status, exc.detail, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        response = error_json(exc.status, f"{request.method} {request.path}", allow)
    if request.path != STATS_PATH:
        request.app[CONTEXT].state.stats.responses[response.status] += 1
    # Every answer says whose it is: a run's results from here are marked simulated.
    response.headers[SIMULATOR_HEADER] = "1"
    return response


@web.middleware
async def api_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count, authenticate, rate-limit and maybe fail one API request, in that order."""
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    state = request.app[CONTEXT].state
    route = request.match_info.route.name
    if route in SUBMIT_ROUTES:
        state.stats.submit_requests += 1
    elif route == READ_TASK_ROUTE:
        state.stats.polls += 1
    key = _authenticate(state.options, request.headers.get("Authorization", ""))
    request[API_KEY] = key
    limit_headers = _spend_token(state, key)
    try:
        await _maybe_fail(state, request, handler, route)
        response = await handler(request)
    except ApiError as exc:
        exc.headers = {**limit_headers, **exc.headers}
        raise
    await maybe_slow(state)
    response = maybe_malformed(state, _kind(route), response)
    response.headers.update(limit_headers)
    return response


def _kind(route: str | None) -> str:
    if route in SUBMIT_ROUTES:
        return SUBMIT
    return POLL if route == READ_TASK_ROUTE else OTHER


def _authenticate(options: SimOptions, authorization: str) -> str:
    # The key never appears in a message: error bodies end up in logs and reports.
    scheme, _, token = authorization.partition(" ")
    key = token.strip()
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "missing API key; send 'Authorization: Bearer <key>'")
    expected = options.api_key
    if expected is not None and not hmac.compare_digest(key.encode(), expected.encode()):
        raise ApiError(401, "invalid API key")
    return key


def _spend_token(state: SimState, key: str) -> dict[str, str]:
    rate = state.options.effective_rate_limit()
    if rate is None:
        return {}
    wait_s, remaining = state.take_token(key)
    headers = {"X-RateLimit-Limit": f"{rate:g}", "X-RateLimit-Remaining": str(remaining)}
    if wait_s > 0:
        headers.update(retry_headers(wait_s, state.wall_clock()))
        raise ApiError(429, f"rate limit of {rate:g} requests per second exceeded", headers)
    return headers


async def _maybe_fail(
    state: SimState, request: web.Request, handler: Handler, route: str | None
) -> None:
    """Answer 500 or 503 for `error_rate` of requests.

    A submit answered 500 has, half the time, really created and charged its
    task first: the ambiguous outcome a client must record as unknown rather
    than pay twice for. A 503 never creates anything.
    """
    error_rate = state.options.error_rate
    if error_rate <= 0 or state.rng.random() >= error_rate:
        return
    if state.rng.random() >= 0.5:
        raise ApiError(503, "the service is temporarily unavailable (simulated)")
    if route in SUBMIT_ROUTES and state.rng.random() < 0.5:
        with contextlib.suppress(ApiError, web.HTTPException):
            await handler(request)
    raise ApiError(500, "the service failed while handling the request (simulated)")
