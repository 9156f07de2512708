"""Local images become URLs through the media endpoint, once per distinct content.

Ten rows that share a photo cost one upload, even when they reach the
uploader at the same moment: the first caller uploads and the others wait on
its result. At most two uploads run at a time, as the official CLI does,
because the endpoint's own concurrency is limited.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from batchedit.api.client import ModellixClient, UploadedFile
from batchedit.errors import InputError
from batchedit.imagetypes import MAX_UPLOAD_BYTES, sniff_image_type
from batchedit.pipeline.upload_cache import UploadCache
from batchedit.records import ImageRef
from batchedit.state.fingerprint import FileDigests

log = logging.getLogger(__name__)

MAX_PARALLEL_UPLOADS = 2


class ImageUploader:
    def __init__(
        self, client: ModellixClient, digests: FileDigests, cache: UploadCache | None = None
    ) -> None:
        self._client = client
        self._digests = digests
        self._cache = cache
        self._urls: dict[str, asyncio.Future[str]] = {}
        self._limit = asyncio.Semaphore(MAX_PARALLEL_UPLOADS)

    async def url_for(self, image: ImageRef) -> str:
        """The URL to send for `image`: as given for URLs, uploaded for local files."""
        if image.path is None:
            return image.given
        digest = (await self._digests.digest(image.path)).sha256
        known = self._urls.get(digest)
        if known is not None:
            return await asyncio.shield(known)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._urls[digest] = future
        try:
            url = await self._cached_or_uploaded(digest, image.path)
        except BaseException as exc:
            # Let a later row try again rather than inherit this failure forever.
            del self._urls[digest]
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # retrieved: waiters get it re-raised
            else:
                future.cancel()
            raise
        future.set_result(url)
        return url

    async def _cached_or_uploaded(self, digest: str, path: Path) -> str:
        """An earlier run's upload of the same content, while still valid, else a new one."""
        if self._cache is not None:
            cached = await self._cache.lookup(digest)
            if cached is not None:
                log.debug("reusing the upload of %s: %s", path, cached)
                return cached
        uploaded = await self._upload(path)
        if self._cache is not None:
            await self._cache.remember(digest, uploaded)
        return uploaded.url

    async def _upload(self, path: Path) -> UploadedFile:
        try:
            content = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
        content_type = sniff_image_type(content[:16])
        if content_type is None:
            raise InputError(f"{path}: not a PNG, JPEG or WebP image")
        if not 0 < len(content) <= MAX_UPLOAD_BYTES:
            raise InputError(f"{path}: {len(content)} bytes; uploads take 1 byte to 16 MiB")
        async with self._limit:
            uploaded = await self._client.upload_media(
                content, filename=path.name, content_type=content_type
            )
        log.debug("uploaded %s as %s", path, uploaded.url)
        return uploaded
