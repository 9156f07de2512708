"""The API client against the simulator: every class of answer of modellix-api.md
becomes the right typed answer or error, and the key never leaks."""

from __future__ import annotations

import asyncio
import hashlib
import io
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image
from support import TEST_KEY, JumpingClock, StartSimulator

from batchedit.api.client import ModellixClient, RetryPolicy
from batchedit.api.endpoint import Endpoint
from batchedit.api.task_state import TaskPhase, TaskState
from batchedit.clock import Clock, LoopClock
from batchedit.errors import (
    FatalApiError,
    OutcomeUnknown,
    ProtocolError,
    RateLimited,
    RequestRejected,
    ResultExpired,
    TransientError,
)
from batchedit.records import ErrorCategory

MODEL = "google/nano-banana-pro-edit"
FAST_RETRY = RetryPolicy(max_retries=3, base_delay_s=0.001, max_delay_s=0.005)
BODY: dict[str, Any] = {"prompt": "make it blue", "image": ["https://example.com/a.png"]}

MakeClient = Callable[..., ModellixClient]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    async with aiohttp.ClientSession() as session:

        def make(
            base_url: str,
            *,
            key: str = TEST_KEY,
            retry: RetryPolicy = FAST_RETRY,
            clock: Clock | None = None,
        ) -> ModellixClient:
            endpoint = Endpoint(base_url, key)
            return ModellixClient(session, endpoint, clock or LoopClock(), retry=retry)

        yield make


async def wait_terminal(client: ModellixClient, task_id: str) -> TaskState:
    for _ in range(200):
        state = await client.read_task(task_id)
        if state.is_terminal:
            return state
        await asyncio.sleep(0.005)
    raise AssertionError(f"task {task_id} never finished")


async def test_submit_poll_download_gives_an_image_of_the_requested_shape(
    start_simulator: StartSimulator, make_client: MakeClient, tmp_path: Path
) -> None:
    simulator = await start_simulator()
    client = make_client(simulator.base_url)
    task_id = await client.submit_edit(MODEL, {**BODY, "aspectRatio": "16:9", "imageSize": "1K"})
    state = await wait_terminal(client, task_id)
    assert state.phase is TaskPhase.SUCCEEDED
    fetched, _ = await client.download_to(state.resources[0].url, tmp_path / "r.part")
    data = fetched.path.read_bytes()
    assert (fetched.bytes, fetched.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (1376, 768)  # the provider's grid for 16:9 at 1K
    assert client.counts.submit == 1 and client.counts.download == 1


async def test_upload_returns_a_url_the_service_serves_back(
    start_simulator: StartSimulator, make_client: MakeClient, tmp_path: Path
) -> None:
    simulator = await start_simulator()
    client = make_client(simulator.base_url)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    uploaded = await client.upload_media(
        buffer.getvalue(), filename="red.png", content_type="image/png"
    )
    fetched, _ = await client.download_to(uploaded.url, tmp_path / "r.part")
    assert fetched.path.read_bytes() == buffer.getvalue()
    assert simulator.stats()["uploads"] == 1


async def test_bad_parameters_are_rejected_as_invalid_request_and_not_retried(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await start_simulator()
    client = make_client(simulator.base_url)
    with pytest.raises(RequestRejected) as caught:
        await client.submit_edit(MODEL, {**BODY, "aspectRatio": "7:3"})
    assert caught.value.category is ErrorCategory.INVALID_REQUEST
    assert caught.value.http_status == 400
    assert simulator.stats()["submit_requests"] == 1


async def test_unknown_task_is_not_found(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await start_simulator()
    with pytest.raises(RequestRejected) as caught:
        await make_client(simulator.base_url).read_task("task-does-not-exist")
    assert caught.value.category is ErrorCategory.NOT_FOUND


async def test_refused_key_is_fatal_and_never_echoed(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await start_simulator(api_key="the-right-key")
    wrong_key = "sk-wrong-0123456789"
    with pytest.raises(FatalApiError) as caught:
        await make_client(simulator.base_url, key=wrong_key).submit_edit(MODEL, BODY)
    assert caught.value.category is ErrorCategory.AUTH
    assert wrong_key not in str(caught.value)
    assert simulator.stats()["submits"] == 0


async def test_exhausted_balance_is_fatal_payment(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await start_simulator(balance=1)
    client = make_client(simulator.base_url)
    await client.submit_edit(MODEL, BODY)
    with pytest.raises(FatalApiError) as caught:
        await client.submit_edit(MODEL, BODY)
    assert caught.value.category is ErrorCategory.PAYMENT
    assert simulator.stats()["submits"] == 1


async def test_rate_limited_requests_wait_and_then_succeed(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    # Free requests are retried by the client itself (a paid submit's too, by
    # `submit_paid`, with the caller's hooks: tests/test_client_retries.py).
    clock = JumpingClock()  # the waits the 429s dictate pass on the simulator's clock
    simulator = await start_simulator(rate_limit=50, clock=clock.now)
    retry = RetryPolicy(max_retries=20, base_delay_s=0.001)
    client = make_client(simulator.base_url, retry=retry, clock=clock)
    balances = await asyncio.gather(*(client.read_balance() for _ in range(80)))
    assert len(balances) == 80
    stats = simulator.stats()
    assert stats["responses"]["200"] == 80
    assert stats["responses"]["429"] == client.counts.retries > 0
    # 80 at once against a bucket of 50 at 50/s: the last 30 pass 0.6 s later, on the clock.
    assert clock.now() >= 0.6


async def test_a_paid_submit_is_sent_once_whatever_the_answer(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await start_simulator(rate_limit=1)
    client = make_client(simulator.base_url, retry=RetryPolicy(max_retries=20, base_delay_s=0))
    outcomes = await asyncio.gather(
        *(client.submit_edit(MODEL, BODY) for _ in range(3)), return_exceptions=True
    )
    refused = [outcome for outcome in outcomes if isinstance(outcome, RateLimited)]
    assert len(refused) >= 1 and client.counts.retries == 0
    assert simulator.stats()["submit_requests"] == 3


async def test_rate_limit_beyond_the_retry_budget_raises_rate_limited(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await start_simulator(rate_limit=1)
    client = make_client(simulator.base_url, retry=RetryPolicy(max_retries=0))
    with pytest.raises(RateLimited) as caught:
        await asyncio.gather(*(client.submit_edit(MODEL, BODY) for _ in range(3)))
    assert caught.value.retry_after_s is not None


async def test_server_error_on_a_paid_submit_is_an_unknown_outcome(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await start_simulator(error_rate=1.0)
    client = make_client(simulator.base_url, retry=RetryPolicy(max_retries=30, base_delay_s=0))
    unknown: OutcomeUnknown | None = None
    for _ in range(30):  # one attempt at a time: a refusal (503) is safe to send again
        try:
            await client.submit_edit(MODEL, BODY)
        except OutcomeUnknown as exc:
            unknown = exc
            break
        except TransientError:
            continue
    assert unknown is not None and unknown.category is ErrorCategory.UNKNOWN_OUTCOME
    assert simulator.stats()["responses"].get("500") == 1


async def test_server_errors_on_reads_are_retried_then_reported_as_server(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await start_simulator(error_rate=1.0)
    client = make_client(simulator.base_url, retry=RetryPolicy(max_retries=2, base_delay_s=0))
    with pytest.raises(TransientError) as caught:
        await client.read_task("task-x")
    assert caught.value.category is ErrorCategory.SERVER
    assert client.counts.poll == 3


async def test_refused_connection_is_a_network_error_even_for_a_submit(
    make_client: MakeClient,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}", retry=replace(FAST_RETRY, max_retries=1))
    with pytest.raises(TransientError) as caught:
        await client.submit_edit(MODEL, BODY)
    assert not isinstance(caught.value, OutcomeUnknown)
    assert caught.value.category is ErrorCategory.NETWORK


async def test_expired_result_is_reported_as_expired(
    start_simulator: StartSimulator, make_client: MakeClient, tmp_path: Path
) -> None:
    clock = JumpingClock()
    simulator = await start_simulator(expire_after_s=0.01, clock=clock.now)
    client = make_client(simulator.base_url, clock=clock)
    task_id = await client.submit_edit(MODEL, BODY)
    await clock.sleep(0.02)  # the task's latency, at most (the render takes real time)
    state = await wait_terminal(client, task_id)
    await clock.sleep(0.05)  # past the expiry, on the simulator's clock
    with pytest.raises(ResultExpired) as caught:
        await client.download_to(state.resources[0].url, tmp_path / "r.part")
    assert caught.value.category is ErrorCategory.EXPIRED


async def test_failed_task_carries_its_message(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    simulator = await start_simulator(fail_rate=1.0)
    client = make_client(simulator.base_url)
    state = await wait_terminal(client, await client.submit_edit(MODEL, BODY))
    assert state.phase is TaskPhase.FAILED
    assert state.error_message


# -- answers the simulator never gives: a scripted server -------------------


ServeRoutes = Callable[[web.RouteTableDef], Awaitable[str]]


@pytest.fixture
async def serve_routes() -> AsyncIterator[ServeRoutes]:
    """Factory: serve scripted routes on a loopback port, cleaned up after the test."""
    runners: list[web.AppRunner] = []

    async def serve(routes: web.RouteTableDef) -> str:
        app = web.Application()
        app.add_routes(routes)
        runner = web.AppRunner(app)
        runners.append(runner)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield serve
    for runner in runners:
        await runner.cleanup()


async def test_malformed_answers_are_classified_not_crashes(
    make_client: MakeClient, serve_routes: ServeRoutes, tmp_path: Path
) -> None:
    routes = web.RouteTableDef()
    seen_auth: list[str | None] = []

    @routes.post("/api/v1/google/nano-banana-pro-edit/async")
    async def not_json(request: web.Request) -> web.Response:
        return web.Response(text="<html>oops</html>")

    @routes.get("/api/v1/tasks/{task_id}")
    async def other_task(request: web.Request) -> web.Response:
        return web.json_response({"code": 0, "data": {"task_id": "task-other", "status": "x"}})

    @routes.get("/file.png")
    async def file(request: web.Request) -> web.Response:
        seen_auth.append(request.headers.get("Authorization"))
        return web.Response(body=b"\x89PNG truncated", headers={"Content-Type": "image/png"})

    base_url = await serve_routes(routes)
    client = make_client(base_url)
    with pytest.raises(OutcomeUnknown):
        await client.submit_edit(MODEL, BODY)
    with pytest.raises(ProtocolError):
        await client.read_task("task-mine")
    await client.download_to(f"{base_url}/file.png", tmp_path / "r.part")
    assert seen_auth == [None], "the key must not travel to a result host"


async def test_unknown_task_status_is_not_terminal(
    make_client: MakeClient, serve_routes: ServeRoutes
) -> None:
    routes = web.RouteTableDef()

    @routes.get("/api/v1/tasks/{task_id}")
    async def odd_status(request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        return web.json_response({"code": 0, "data": {"task_id": task_id, "status": "warming"}})

    state = await make_client(await serve_routes(routes)).read_task("task-1")
    assert state.phase is TaskPhase.RUNNING and not state.is_terminal


@pytest.mark.parametrize(
    ("status", "body", "unknown"),
    [
        (500, {"code": 500, "message": "Internal Server Error: x"}, True),
        (502, "<html>502 Bad Gateway</html>", True),
        (504, "504 Gateway Time-out", True),
        (504, {"code": 504, "message": "Gateway Timeout: x"}, True),
        (503, "Service Unavailable", True),  # a proxy's 503: the API may have seen it
        (503, {"code": 503, "message": "Service Unavailable: busy"}, False),
        (429, "Too Many Requests", True),
        (429, {"code": 429, "message": "Too Many Requests: slow down"}, False),
        (503, {"code": 500, "message": "not the envelope of this status"}, True),
    ],
)
async def test_a_paid_submit_is_refused_only_by_the_apis_own_envelope(
    make_client: MakeClient,
    serve_routes: ServeRoutes,
    status: int,
    body: str | dict[str, Any],
    unknown: bool,
) -> None:
    routes = web.RouteTableDef()
    sent: list[int] = []

    @routes.post("/api/v1/google/nano-banana-pro-edit/async")
    async def answer(request: web.Request) -> web.Response:
        sent.append(1)
        if isinstance(body, dict):
            return web.json_response(body, status=status, headers={"Retry-After": "0"})
        return web.Response(text=body, status=status, content_type="text/plain")

    client = make_client(await serve_routes(routes))
    with pytest.raises((OutcomeUnknown, TransientError)) as raised:
        await client.submit_edit(MODEL, BODY)
    assert isinstance(raised.value, OutcomeUnknown) is unknown, raised.value
    assert raised.value.http_status == status
    if not unknown:
        assert raised.value.category in (ErrorCategory.SERVER, ErrorCategory.RATE_LIMITED)
    assert sent == [1], "a paid submit is sent once"


async def test_a_dropped_connection_after_sending_and_a_read_timeout_are_unknown(
    serve_routes: ServeRoutes,
) -> None:
    routes = web.RouteTableDef()

    @routes.post("/api/v1/google/nano-banana-pro-edit/async")
    async def hang_up(request: web.Request) -> web.Response:
        await request.read()
        if request.headers.get("X-Test") == "slow":
            await asyncio.sleep(0.05)
        elif request.transport is not None:
            request.transport.close()
        return web.Response(status=200)

    base_url = await serve_routes(routes)
    for mode, timeout in (("drop", 5.0), ("slow", 0.01)):
        client_timeout = aiohttp.ClientTimeout(sock_read=timeout)
        headers = {"X-Test": mode}
        async with aiohttp.ClientSession(timeout=client_timeout, headers=headers) as session:
            client = ModellixClient(session, Endpoint(base_url, TEST_KEY), LoopClock())
            with pytest.raises(OutcomeUnknown):
                await client.submit_edit(MODEL, BODY)
