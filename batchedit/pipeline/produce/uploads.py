"""Local images become URLs through the media endpoint, once per distinct content.

Each local image is first prepared to what the row's model takes
(input_prep.py, in a worker thread; the prepared copy is kept in the state
folder), unless the job says `inputs: {prepare: off}`. What is uploaded is
keyed by the digest of what is sent, so a prepared copy kept from the last
run finds that run's upload too. Ten rows that share a photo cost one
upload, even when they reach the uploader at the same moment: the first
caller uploads and the others wait on its result. At most two uploads run
at a time, as the official CLI does, because the endpoint's own concurrency
is limited.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from batchedit.api.client import ModellixClient, UploadedFile
from batchedit.catalogue.spec import InputLimits
from batchedit.errors import InputError
from batchedit.imagetypes import MAX_UPLOAD_BYTES, sniff_image_type
from batchedit.manifest.input_prep import SentInput, prepare_input
from batchedit.pictures import PictureRefused
from batchedit.pipeline.produce.upload_cache import UploadCache
from batchedit.records import ImageRef, InputSent
from batchedit.state.fingerprint import FileDigests

log = logging.getLogger(__name__)

MAX_PARALLEL_UPLOADS = 2


class ImageUploader:
    def __init__(
        self,
        client: ModellixClient,
        digests: FileDigests,
        cache: UploadCache | None = None,
        *,
        prepared_dir: Path | None = None,
    ) -> None:
        self._client = client
        self._digests = digests
        self._cache = cache
        # Where prepared copies are kept; None: files are sent as they are.
        self._prepared_dir = prepared_dir
        self._urls: dict[str, asyncio.Future[str]] = {}
        self._sent: dict[tuple[str, str], asyncio.Future[SentInput]] = {}
        # What was sent for each local file, for the report's `inputs`.
        self._described: dict[Path, InputSent] = {}
        self._limit = asyncio.Semaphore(MAX_PARALLEL_UPLOADS)

    async def url_for(self, image: ImageRef, limits: InputLimits | None = None) -> str:
        """The URL to send for `image`: as given for URLs, uploaded for local
        files (prepared first to `limits`, the row's model's)."""
        if image.path is None:
            return image.given
        path = image.path
        digest = (await self._digests.digest(path)).sha256
        if self._prepared_dir is not None:
            sent = await self.sent_for(path, digest, limits or InputLimits())
            self._described[image.path] = sent.describe(image.given)
            path, digest = sent.path, sent.sha256
        known = self._urls.get(digest)
        if known is not None:
            return await asyncio.shield(known)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._urls[digest] = future
        try:
            url = await self._cached_or_uploaded(digest, path)
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

    def sent_inputs(self, images: Sequence[ImageRef]) -> tuple[InputSent, ...]:
        """What was sent for each of `images` in this run, as far as known: a URL
        as given; a local file as prepared, or (sent as it is) its bytes and format."""
        found = (
            self._described.get(image.path) if image.path is not None else None for image in images
        )
        return tuple(
            InputSent(image.given) if sent is None else replace(sent, source=image.given)
            for image, sent in zip(images, found, strict=True)
        )

    async def sent_for(self, path: Path, digest: str, limits: InputLimits) -> SentInput:
        """What is sent for the local file `path` under `limits`: prepared once
        per (content, limits) in a worker thread, or kept from an earlier run."""
        assert self._prepared_dir is not None
        key = (digest, limits.key)
        known = self._sent.get(key)
        if known is not None:
            return await asyncio.shield(known)
        future: asyncio.Future[SentInput] = asyncio.get_running_loop().create_future()
        self._sent[key] = future
        try:
            sent = await asyncio.to_thread(prepare_input, path, digest, limits, self._prepared_dir)
        except (PictureRefused, OSError) as exc:
            del self._sent[key]
            message = exc.message if isinstance(exc, PictureRefused) else exc.strerror or exc
            error = InputError(f"{path} cannot be prepared for upload: {message}")
            future.set_exception(error)
            future.exception()
            raise error from exc
        except BaseException:
            del self._sent[key]
            future.cancel()
            raise
        future.set_result(sent)
        return sent

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
        if self._prepared_dir is None:
            fmt = content_type.removeprefix("image/").upper()
            self._described.setdefault(path, InputSent(path.name, bytes=len(content), format=fmt))
        async with self._limit:
            uploaded = await self._client.upload_media(
                content, filename=path.name, content_type=content_type
            )
        log.debug("uploaded %s as %s", path, uploaded.url)
        return uploaded
