"""The session's name resolver, with the download policy applied at connect time.

`download.py` checks a result host's addresses before it sends anything; the
connection then resolves the name again, and a DNS answer that changed in
between (rebinding) would slip past that check. This resolver closes the gap:
every name the session connects to, other than the API's own host, must
resolve only to addresses the policy allows, or the connection is refused
(`AddressRefused`, an OSError, which aiohttp reports as a connection error
and `download.py` makes final: one attempt, no retry).
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from batchedit.api.download import AddressRefused, DownloadPolicy


class GuardedResolver(AbstractResolver):
    """Resolves through `inner`; refuses addresses `policy` would not fetch from."""

    def __init__(
        self, policy: DownloadPolicy, api_host: str, inner: AbstractResolver | None = None
    ) -> None:
        self.policy = policy
        self.api_host = api_host.lower()
        self.inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        if host.lower() == self.api_host:
            return found  # the API's origin was checked once, at start
        for result in found:
            address = ipaddress.ip_address(str(result["host"]).split("%", 1)[0])
            reason = self.policy.address_refusal(address)
            if reason is not None:
                raise AddressRefused(host, reason)
        return found

    async def close(self) -> None:
        await self.inner.close()
