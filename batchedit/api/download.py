"""One result download: a GET without the API key, capped in size, with the
service's file host answers translated into the exception tree.

Results live on a file host; the key must never travel to a host other than
the API's, so this request carries no Authorization header. An expired
result (403, 404, 410) is final; a 429, a 5xx, a broken-off or truncated body
is free to fetch again, which the client's retry loop does.
"""

from __future__ import annotations

import aiohttp

from batchedit.api.policy import RequestCounts
from batchedit.errors import DownloadError, ResultExpired, TransientError
from batchedit.records import ErrorCategory

CHUNK_BYTES = 256 * 1024


async def download_once(
    session: aiohttp.ClientSession, url: str, *, max_bytes: int, counts: RequestCounts
) -> bytes:
    """GET `url` once; its whole body, or a classified error."""
    counts.download += 1
    try:
        async with session.get(url) as response:
            if response.status in (403, 404, 410):
                raise ResultExpired(
                    f"the result is gone (HTTP {response.status})", http_status=response.status
                )
            if response.status == 429 or response.status >= 500:
                raise TransientError(
                    f"result download answered HTTP {response.status}",
                    http_status=response.status,
                    category=ErrorCategory.DOWNLOAD,
                )
            if response.status != 200:
                raise DownloadError(
                    f"result download answered HTTP {response.status}",
                    http_status=response.status,
                )
            declared = response.content_length
            if declared is not None and declared > max_bytes:
                raise DownloadError(f"the result is {declared} bytes, over the {max_bytes} cap")
            body = await _read_capped(response, max_bytes)
    except aiohttp.ClientError as exc:
        raise TransientError(
            f"result download broke off ({type(exc).__name__})",
            category=ErrorCategory.DOWNLOAD,
        ) from exc
    except TimeoutError as exc:
        raise TransientError("result download timed out", category=ErrorCategory.DOWNLOAD) from exc
    if declared is not None and len(body) != declared:
        raise TransientError(
            f"result download was truncated ({len(body)} of {declared} bytes)",
            category=ErrorCategory.DOWNLOAD,
        )
    counts.bytes_downloaded += len(body)
    return body


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise DownloadError(f"the result is over the {max_bytes} byte cap")
        chunks.append(chunk)
    return b"".join(chunks)
