"""The client owns every retry: what it tries again, how often, and what it
never tries again (a resolver's refusal)."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from batchedit.api import download
from batchedit.api.bounded import ServiceLimits
from batchedit.api.client import ModellixClient, RetryPolicy
from batchedit.api.download import DownloadPolicy
from batchedit.api.endpoint import Endpoint
from batchedit.api.guarded_resolver import GuardedResolver
from batchedit.clock import LoopClock
from batchedit.errors import DownloadError

FAST_RETRY = RetryPolicy(max_retries=6, base_delay_s=0.001, max_delay_s=0.002)


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
