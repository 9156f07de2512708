"""`batchedit models refresh`: fetch each model's published OpenAPI document.

The documents live on the model pages (`https://www.modellix.ai/models/
{provider}/{model}/api_schema`), outside the API: no key is sent. A base URL
override points the fetch elsewhere (the simulator serves the same path for
tests); like the API origin it must be https, or plain http on loopback, and
what it fetches is cached apart from the real pages' (catalogue/store.py).
Each model is fetched on its own, a few at a time, and a failure is that
model's: the others are still cached. A document is parsed under the same
depth bound as the API's answers (bounded.py): a schema nested 1,100 deep is
"nested deeper than 64 levels", never cached, so no later run reads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from batchedit.api.bounded import NotJson, parse_json
from batchedit.api.endpoint import is_loopback_url
from batchedit.errors import UsageError

MAX_SCHEMA_BYTES = 1024 * 1024
_AT_ONCE = 4


@dataclass(frozen=True, slots=True)
class FetchedSchema:
    slug: str
    url: str
    document: dict[str, Any] | None  # None when it could not be fetched
    error: str = ""


def check_schema_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--base-url must be an http(s) origin, got {base_url!r}")
    if parts.scheme == "http" and not is_loopback_url(base_url):
        raise UsageError(
            f"--base-url {base_url!r} is plain http on a non-loopback host; use https "
            "(plain http is allowed only for localhost, 127.0.0.1 or ::1)"
        )
    return base_url.rstrip("/")


def schema_url(base_url: str, slug: str) -> str:
    return f"{base_url}/models/{slug}/api_schema"


async def fetch_schemas(
    base_url: str, slugs: Iterable[str], *, timeout_s: float = 20.0
) -> list[FetchedSchema]:
    """Every model's document, in the order given; failures carry their reason."""
    base = check_schema_base_url(base_url)
    gate = asyncio.Semaphore(_AT_ONCE)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def fetch(slug: str) -> FetchedSchema:
            async with gate:
                return await fetch_schema(session, schema_url(base, slug), slug)

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(fetch(slug)) for slug in slugs]
    return [task.result() for task in tasks]


async def fetch_schema(session: aiohttp.ClientSession, url: str, slug: str) -> FetchedSchema:
    """One document; never raises for what the network or the server does."""
    try:
        async with session.get(url, allow_redirects=False) as answer:
            if answer.status != 200:
                return FetchedSchema(slug, url, None, f"HTTP {answer.status}")
            data = await answer.content.read(MAX_SCHEMA_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return FetchedSchema(slug, url, None, f"cannot fetch: {type(exc).__name__}")
    if len(data) > MAX_SCHEMA_BYTES:
        return FetchedSchema(slug, url, None, f"larger than {MAX_SCHEMA_BYTES} bytes")
    try:
        document = parse_json(data)
    except NotJson as exc:
        return FetchedSchema(slug, url, None, str(exc))
    if not isinstance(document, dict):
        return FetchedSchema(slug, url, None, "not a JSON object")
    return FetchedSchema(slug, url, document)
