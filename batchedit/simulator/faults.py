"""The misbehaviours a real service shows that the status codes do not cover.

Each is switched on by a rate in `SimOptions` and drawn from the simulator's
one seeded generator (nothing is drawn while a rate is 0, so older scenarios
replay unchanged), and each is counted under `faults` in `/_sim/stats`:

- `dropped`: a submit's task is created and charged, then the connection is
  closed with no answer: the ambiguous outcome a client must call unknown.
- `malformed`: a 200 whose body is not what the protocol promises (not JSON,
  no `data`, no task id, another task's id, a status nobody documented).
- `truncated`: a result download cut short, either against its declared
  Content-Length or, chunked, ending cleanly but early (only decoding tells).
- `slow`: an answer held back for `slow_s` seconds before it is sent.
- `defect_small`, `defect_ratio`, `defect_blank`: a result of half the size,
  of another shape, or blank (drawn in submit.py, rendered by render.py).
- `gateway_timeout`: a submit's task is created and charged, then a gateway
  answers 504 with a plain-text page (not the API's envelope): a client that
  retries it pays twice.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from batchedit.simulator.state import SimState

SUBMIT = "submit"
POLL = "poll"
OTHER = "other"


class DroppedConnection(Exception):
    """Raised by a handler that has done its work: close the connection, answer nothing."""


class GatewayTimeout(Exception):
    """Raised by a handler that has done its work: answer as a gateway that gave up."""


#: What a reverse proxy sends when the service behind it is too slow: not the API's envelope.
GATEWAY_TIMEOUT_BODY = "504 Gateway Time-out\nThe upstream server did not answer in time.\n"


def draws(state: SimState, rate: float) -> bool:
    """True for `rate` of the calls; never touches the generator when `rate` is 0."""
    return rate > 0 and state.rng.random() < rate


async def maybe_slow(state: SimState) -> None:
    if draws(state, state.options.slow_rate):
        state.stats.faults["slow"] += 1
        await asyncio.sleep(state.options.slow_s * state.options.time_scale)


def maybe_drop_submit(state: SimState) -> None:
    """After a task is created: maybe lose the answer on the way back."""
    if draws(state, state.options.drop_rate):
        state.stats.faults["dropped"] += 1
        raise DroppedConnection


def maybe_gateway_timeout(state: SimState) -> None:
    """After a task is created and charged: maybe a gateway answers 504 instead."""
    if draws(state, state.options.gateway_timeout_rate):
        state.stats.faults["gateway_timeout"] += 1
        raise GatewayTimeout


def gateway_timeout() -> web.Response:
    return web.Response(status=504, text=GATEWAY_TIMEOUT_BODY, content_type="text/plain")


def drop(request: web.Request) -> web.Response:
    """Close the connection under the handler's feet; the response is never sent."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=200)


def maybe_malformed(state: SimState, kind: str, response: web.StreamResponse) -> web.StreamResponse:
    """Replace a 200 JSON answer with a malformed one, for `malformed_rate` of them."""
    if response.status != 200 or not isinstance(response, web.Response):
        return response
    if not draws(state, state.options.malformed_rate):
        return response
    state.stats.faults["malformed"] += 1
    variants = ["not_json", "no_data"]
    if kind == SUBMIT:
        variants.append("no_task_id")
    elif kind == POLL:
        variants += ["other_task", "odd_status"]
    variant = state.rng.choice(variants)
    if variant == "not_json":
        return web.Response(
            text="<html><body>upstream hiccup</body></html>", content_type="text/html"
        )
    if variant == "no_data":
        return web.json_response({"code": 0, "message": "success"})
    envelope = json.loads(response.body if isinstance(response.body, bytes) else b"{}")
    data: dict[str, Any] = dict(envelope.get("data") or {})
    if variant == "no_task_id":
        data.pop("task_id", None)
    elif variant == "other_task":
        data["task_id"] = "task-someone-else"
    else:  # odd_status: tolerated by a careful client as "still running"
        data = {**data, "status": "warming_up"}
        data.pop("result", None)
    return web.json_response({"code": 0, "message": "success", "data": data})


async def maybe_truncated(
    state: SimState, request: web.Request, path: Path, content_type: str
) -> web.StreamResponse | None:
    """For `truncate_rate` of downloads, send a part of the file (cut somewhere
    between a quarter and three quarters, as a connection breaks where it
    breaks) and stop; else None."""
    if not draws(state, state.options.truncate_rate):
        return None
    state.stats.faults["truncated"] += 1
    data = await asyncio.to_thread(path.read_bytes)
    cut = state.rng.randint(len(data) // 4, max(len(data) // 4, 3 * len(data) // 4))
    half = data[: max(1, cut)]
    response = web.StreamResponse(headers={"Content-Type": content_type})
    declared = state.rng.random() < 0.5
    if declared:
        response.content_length = len(data)  # promised whole, then cut
    else:
        response.enable_chunked_encoding()  # ends cleanly, but early
    await response.prepare(request)
    await response.write(half)
    if declared and request.transport is not None:
        request.transport.close()
        return response
    await response.write_eof()
    return response
