"""Where an input image's bytes come from when the simulator renders a task.

The simulator has no network beyond loopback: its own upload URLs are read
from memory, other loopback URLs are fetched for real, and anything else
(or anything that fails) becomes `None`, which the renderer replaces with a
placeholder picture, so a manifest of hosted images still runs offline.
"""

from __future__ import annotations

import logging

import aiohttp
from yarl import URL

from batchedit.simulator.render import decode_data_uri, is_data_uri
from batchedit.simulator.state import SimState

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MEDIA_PATH_PREFIX = "/_sim/media/"
#: The largest input the simulator will read, the same cap as an upload.
MAX_INPUT_BYTES = 16 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024


async def load_input(ref: str, state: SimState, session: aiohttp.ClientSession) -> bytes | None:
    """The bytes behind one `image` entry, or None when it must be a placeholder."""
    if is_data_uri(ref):
        try:
            return decode_data_uri(ref)
        except ValueError:
            return None
    try:
        url = URL(ref)
    except ValueError:
        return None
    if (url.host or "").lower() not in LOOPBACK_HOSTS:
        return None
    if url.path.startswith(MEDIA_PATH_PREFIX):
        media = state.media.get(url.path.removeprefix(MEDIA_PATH_PREFIX))
        if media is not None:
            return media.data
    return await _fetch(url, session)


async def _fetch(url: URL, session: aiohttp.ClientSession) -> bytes | None:
    try:
        async with session.get(url) as response:
            if response.status != 200:
                log.info("simulator input %s: HTTP %d, using a placeholder", url, response.status)
                return None
            return await _read_capped(response)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.info("simulator input %s unreadable (%s); using a placeholder", url, exc)
        return None


async def _read_capped(response: aiohttp.ClientResponse) -> bytes | None:
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
        body += chunk
        if len(body) > MAX_INPUT_BYTES:
            return None
    return bytes(body)
