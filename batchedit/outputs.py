"""The writer's storage side: results downloaded, verified as images, and
stored under `outputs/` so that a file appears only complete (invariant 2).

Decoding runs in a thread; the bytes go to a hidden temporary name in the
same folder with aiofiles, are fsynced, then renamed into place. Names come
from `fsutil.safe_name`, so no row id can place a file outside `outputs/`.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import aiofiles
import aiofiles.os
from PIL import Image, UnidentifiedImageError

from .client import ModellixClient
from .errors import DownloadError
from .fsutil import safe_name
from .records import OutputFile
from .task_state import TaskState

OUTPUTS_DIR = "outputs"
_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str
    width: int
    height: int


def inspect_image(data: bytes) -> ImageInfo:
    """Decode `data` fully (a truncated file fails here); synchronous, for a thread."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            fmt = image.format or ""
            return ImageInfo(fmt, image.width, image.height)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DownloadError(f"the downloaded result is not a valid image ({exc})") from exc


class OutputStore:
    """Downloads a finished task's results into the run directory."""

    def __init__(self, run_dir: Path, client: ModellixClient) -> None:
        self.run_dir = run_dir
        self.folder = run_dir / OUTPUTS_DIR
        self._client = client

    async def store_results(self, row_id: str, state: TaskState) -> tuple[OutputFile, ...]:
        """Every resource of a succeeded task, as `ID.EXT` or `ID-N.EXT` when several.
        The pipeline creates `outputs/` once before any task can finish."""
        several = len(state.resources) > 1
        stored = []
        for number, resource in enumerate(state.resources, start=1):
            data = await self._client.download_output(resource.url)
            info = await asyncio.to_thread(inspect_image, data)
            stem = safe_name(row_id) + (f"-{number}" if several else "")
            name = f"{stem}.{_EXTENSIONS.get(info.format, info.format.lower() or 'bin')}"
            await self._write_whole(self.folder / name, data)
            stored.append(
                OutputFile(
                    path=f"{OUTPUTS_DIR}/{name}",
                    sha256=hashlib.sha256(data).hexdigest(),
                    bytes=len(data),
                    width=info.width,
                    height=info.height,
                    format=info.format.lower(),
                )
            )
        return tuple(stored)

    async def _write_whole(self, target: Path, data: bytes) -> None:
        if target.parent != self.folder or target.name.startswith("."):
            raise DownloadError(f"refusing to write outside {self.folder}: {target.name!r}")
        aside = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        try:
            async with aiofiles.open(aside, "wb") as handle:
                await handle.write(data)
                await handle.flush()
                await asyncio.to_thread(os.fsync, handle.fileno())
            await aiofiles.os.replace(aside, target)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(aside.unlink, missing_ok=True))
            raise
