"""The client owns every retry: what it tries again, how often, and what it
never tries again (a resolver's refusal, a paid submit that may be charged),
with the caller's journalling hooks called around each paid attempt in order."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from support import TEST_KEY, JumpingClock, StartSimulator

from batchedit.api import download
from batchedit.api.bounded import ServiceLimits
from batchedit.api.client import ModellixClient, RetryPolicy
from batchedit.api.download import DownloadPolicy
from batchedit.api.endpoint import Endpoint
from batchedit.api.guarded_resolver import GuardedResolver
from batchedit.clock import LoopClock
from batchedit.errors import DownloadError, OutcomeUnknown, RequestRejected

FAST_RETRY = RetryPolicy(max_retries=6, base_delay_s=0.001, max_delay_s=0.002)
MODEL = "google/nano-banana-pro-edit"
BODY: dict[str, Any] = {"prompt": "make it blue", "image": ["https://example.com/a.png"]}
#: One refused attempt, as the client calls the hooks around it.
REFUSED = ["intend", "off_wire", "withdraw"]


class RecordingAttempts:
    """The hooks a paid submit's caller passes in, recording their calls."""

    def __init__(self, *, send: bool = True) -> None:
        self.send = send
        self.calls: list[str] = []

    async def intend(self) -> bool:
        self.calls.append("intend")
        return self.send

    def unanswered(self) -> None:
        self.calls.append("unanswered")

    def off_wire(self) -> None:
        self.calls.append("off_wire")

    async def withdraw(self) -> None:
        self.calls.append("withdraw")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


async def test_a_paid_submit_refused_before_any_charge_is_retried_by_the_client(
    start_simulator: StartSimulator, session: aiohttp.ClientSession
) -> None:
    # One task runs; the key may run one: the next submit is refused (429 in the
    # API's envelope, nothing created) until it ends, and then accepted.
    clock = JumpingClock()
    simulator = await start_simulator(max_concurrent=1, latency_s=(1.0, 1.0), clock=clock.now)
    retry = RetryPolicy(max_retries=10, base_delay_s=0.001, max_delay_s=0.002)
    client = ModellixClient(session, Endpoint(simulator.base_url, TEST_KEY), clock, retry=retry)
    await client.submit_edit(MODEL, BODY)
    attempts = RecordingAttempts()
    task_id = await client.submit_paid(MODEL, BODY, attempts)
    assert task_id
    stats = simulator.stats()
    refusals = stats["responses"]["429"]
    assert refusals >= 1 and client.counts.retries == refusals
    assert attempts.calls == REFUSED * refusals + ["intend", "off_wire"]
    assert stats["submits"] == 2 and stats["submit_requests"] == 2 + refusals


async def test_a_paid_submit_that_may_have_been_charged_is_never_sent_again(
    start_simulator: StartSimulator, session: aiohttp.ClientSession
) -> None:
    # The task is created and charged, then a gateway answers 504: unknown.
    simulator = await start_simulator(gateway_timeout_rate=1.0)
    client = ModellixClient(
        session, Endpoint(simulator.base_url, TEST_KEY), LoopClock(), retry=FAST_RETRY
    )
    attempts = RecordingAttempts()
    with pytest.raises(OutcomeUnknown):
        await client.submit_paid(MODEL, BODY, attempts)
    assert attempts.calls == ["intend", "off_wire"]  # no withdrawal: it may be paid
    stats = simulator.stats()
    assert stats["submits"] == 1 and stats["submit_requests"] == 1
    assert client.counts.retries == 0


async def test_a_refusal_no_wait_can_cure_is_withdrawn_and_raised_at_once(
    start_simulator: StartSimulator, session: aiohttp.ClientSession
) -> None:
    simulator = await start_simulator()
    client = ModellixClient(
        session, Endpoint(simulator.base_url, TEST_KEY), LoopClock(), retry=FAST_RETRY
    )
    attempts = RecordingAttempts()
    with pytest.raises(RequestRejected):
        await client.submit_paid(MODEL, {**BODY, "aspectRatio": "7:3"}, attempts)
    assert attempts.calls == REFUSED
    assert simulator.stats()["submit_requests"] == 1 and client.counts.retries == 0


async def test_a_paid_submit_its_caller_holds_back_is_not_sent(
    start_simulator: StartSimulator, session: aiohttp.ClientSession
) -> None:
    simulator = await start_simulator()
    client = ModellixClient(
        session, Endpoint(simulator.base_url, TEST_KEY), LoopClock(), retry=FAST_RETRY
    )
    attempts = RecordingAttempts(send=False)  # submitting stopped during the waits
    assert await client.submit_paid(MODEL, BODY, attempts) is None
    assert attempts.calls == ["intend", "off_wire"]
    assert simulator.stats()["submit_requests"] == 0


class CountingResolver(AbstractResolver):
    """A DNS that answers every name with one address, counting the questions."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.calls = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls += 1
        return [
            ResolveResult(
                hostname=host, host=self.address, port=port, family=family, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        return None


async def test_a_host_refused_by_the_resolver_at_connect_time_is_tried_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The check before sending heard a public address; at connect time the
    # name stands for a private one (DNS rebinding): refused, and final.
    async def public(host: str, port: int | None) -> list[download.Address]:
        return [ipaddress.ip_address("93.184.216.34")]

    monkeypatch.setattr(download, "_addresses", public)
    base_url = "https://api.modellix.ai"
    limits = ServiceLimits()
    dns = CountingResolver("10.1.2.3")
    resolver = GuardedResolver(DownloadPolicy.for_origin(base_url, limits), "api.modellix.ai", dns)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver)) as session:
        client = ModellixClient(
            session, Endpoint(base_url, "k" * 16), LoopClock(), retry=FAST_RETRY, limits=limits
        )
        with pytest.raises(DownloadError) as caught:
            await client.download_to("https://files.example.com/r.png", tmp_path / "r.part")
    message = caught.value.message
    assert "files.example.com" in message and "private address (10.1.2.3)" in message
    assert "not tried again" in message and not caught.value.retry_may_cure
    assert dns.calls == 1
    assert client.counts.download == 1 and client.counts.retries == 0


async def test_a_503_before_any_charge_is_sent_again_and_a_500_after_one_is_not(
    start_simulator: StartSimulator, session: aiohttp.ClientSession
) -> None:
    # Every request fails: a 503 in the API's envelope created nothing (withdrawn,
    # sent again); a 500 may have created the task (unknown, never sent again).
    simulator = await start_simulator(error_rate=1.0, seed=1)
    retry = RetryPolicy(max_retries=40, base_delay_s=0.0, max_delay_s=0.0)
    client = ModellixClient(
        session, Endpoint(simulator.base_url, TEST_KEY), LoopClock(), retry=retry
    )
    attempts = RecordingAttempts()
    with pytest.raises(OutcomeUnknown):
        await client.submit_paid(MODEL, BODY, attempts)
    responses = simulator.stats()["responses"]
    refused = responses.get("503", 0)
    assert refused >= 1 and responses["500"] == 1 and client.counts.retries == refused
    assert attempts.calls == REFUSED * refused + ["intend", "off_wire"]
    assert simulator.stats()["submit_requests"] == refused + 1
