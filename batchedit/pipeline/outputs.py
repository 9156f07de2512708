"""The writer's storage side: results downloaded, verified as images, and
stored under `outputs/` so that a file appears only complete (invariant 2).

Decoding and format conversion run in a thread; the bytes go to a hidden
temporary name in the same folder with aiofiles, are fsynced, then renamed
into place. Names come from the row's output stem (naming.py), so no row id
or field can place a file outside `outputs/`; a last check here refuses any
target that would, whatever produced it. The report lists exactly the files
written: the converted result, and the service's original when kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import aiofiles
import aiofiles.os
from PIL import Image, UnidentifiedImageError

from batchedit.api.client import ModellixClient
from batchedit.api.task_state import TaskState
from batchedit.errors import DownloadError
from batchedit.fsutil import safe_name
from batchedit.manifest.naming import OutputSpec
from batchedit.records import OutputFile, Row

OUTPUTS_DIR = "outputs"
_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}
#: What a JPEG (which has no alpha) shows where the result was transparent.
_JPEG_BACKGROUND = (255, 255, 255)


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


def convert_image(data: bytes, pillow_format: str, quality: int | None) -> bytes:
    """Re-encode a result in another format; synchronous, for a thread. A JPEG
    has no alpha, so transparency is laid on white rather than turned black."""
    with Image.open(io.BytesIO(data)) as opened:
        image: Image.Image = opened
        image.load()
        if pillow_format == "JPEG" and image.mode not in ("RGB", "L"):
            rgba = image.convert("RGBA")
            image = Image.new("RGB", rgba.size, _JPEG_BACKGROUND)
            image.paste(rgba, mask=rgba.getchannel("A"))
        buffer = io.BytesIO()
        options: dict[str, object] = {}
        if quality is not None and pillow_format in ("JPEG", "WEBP"):
            options["quality"] = quality
        image.save(buffer, format=pillow_format, **options)
        return buffer.getvalue()


class OutputStore:
    """Downloads a finished task's results into the run directory."""

    def __init__(
        self, run_dir: Path, client: ModellixClient, spec: OutputSpec | None = None
    ) -> None:
        self.run_dir = run_dir
        self.folder = run_dir / OUTPUTS_DIR
        self._client = client
        self.spec = spec or OutputSpec()

    async def store_results(self, row: Row, state: TaskState) -> tuple[OutputFile, ...]:
        """Every resource of a succeeded task, as `STEM.EXT` or `STEM-N.EXT` when
        several, STEM being the row's output name (its id by default). The
        pipeline creates `outputs/` once before any task can finish."""
        several = len(state.resources) > 1
        base = row.output_stem or safe_name(row.id)
        stored: list[OutputFile] = []
        for number, resource in enumerate(state.resources, start=1):
            data, info = await self._client.download_checked(resource.url, inspect_image)
            assert info is not None  # a check was given
            stem = base + (f"-{number}" if several else "")
            wanted = self.spec.pillow_format
            if wanted is None or wanted == info.format:
                stored.append(await self._store(stem, data, info))
                continue
            converted = await asyncio.to_thread(convert_image, data, wanted, self.spec.quality)
            converted_info = await asyncio.to_thread(inspect_image, converted)
            stored.append(await self._store(stem, converted, converted_info))
            if self.spec.keep_original:
                stored.append(await self._store(stem, data, info))
        return tuple(stored)

    def remove(self, relative_paths: Iterable[str]) -> None:
        """Delete output files a row no longer has (its name or format changed);
        only files under outputs/ are ever touched. Synchronous, for a thread."""
        for relative in relative_paths:
            target = (self.run_dir / relative).resolve()
            if target.is_relative_to(self.folder.resolve()) and target.is_file():
                target.unlink()

    async def _store(self, stem: str, data: bytes, info: ImageInfo) -> OutputFile:
        extension = _EXTENSIONS.get(info.format, info.format.lower() or "bin")
        relative = f"{stem}.{extension}"
        await self._write_whole(self.folder / relative, data)
        return OutputFile(
            path=f"{OUTPUTS_DIR}/{relative}",
            sha256=hashlib.sha256(data).hexdigest(),
            bytes=len(data),
            width=info.width,
            height=info.height,
            format=info.format.lower(),
        )

    async def _write_whole(self, target: Path, data: bytes) -> None:
        relative = (
            target.relative_to(self.folder).parts if target.is_relative_to(self.folder) else ()
        )
        if not relative or any(part.startswith(".") or "\0" in part for part in relative):
            raise DownloadError(f"refusing to write outside {self.folder}: {str(target)!r}")
        if len(relative) > 1:
            await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        aside = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        # One thread call opens, writes, fsyncs and closes: a run stopped mid-write
        # (a 402, a signal) cannot leave a file handle open behind it.
        writing = asyncio.ensure_future(asyncio.to_thread(_write_synced, aside, data))
        try:
            await asyncio.shield(writing)
            await aiofiles.os.replace(aside, target)
        except BaseException:
            await asyncio.shield(_remove_when_written(writing, aside))
            raise


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


async def _remove_when_written(writing: asyncio.Future[None], aside: Path) -> None:
    """The thread runs on after a cancel: let it finish before removing its file."""
    await asyncio.wait({writing})
    await asyncio.to_thread(aside.unlink, missing_ok=True)
