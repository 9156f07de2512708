"""Pre-rendered results: one image per output shape, made once and served to every task.

With `--prerendered` the simulator skips the per-task Pillow edit, so a
benchmark of thousands of tasks measures the client, not the simulator's
rendering. The image is still an honest one of the requested size and
format (a flat colour compresses to a few hundred bytes and decodes fast),
so the client's verification runs exactly as in production.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image

from batchedit.models import output_size
from batchedit.simulator.state import ResultFile, SimTask

_PNG_SIZES = frozenset({"512", "1K"})
_COLOUR = (96, 140, 180)


class PrerenderedResults:
    """A result file per (aspect ratio, image size), rendered on first use."""

    def __init__(self) -> None:
        self._files: dict[tuple[str, str], ResultFile] = {}
        self._lock = asyncio.Lock()

    async def settle(self, task: SimTask, aspect_ratio: str, image_size: str, folder: Path) -> None:
        """Give `task` the shared result of its shape; it finishes when its latency is up."""
        shape = (aspect_ratio, image_size)
        result = self._files.get(shape)
        if result is None:
            async with self._lock:
                result = self._files.get(shape)
                if result is None:
                    stem = folder / f"prerendered-{aspect_ratio.replace(':', 'x')}-{image_size}"
                    result = await asyncio.to_thread(_render, stem, aspect_ratio, image_size)
                    self._files[shape] = result
        task.result = result
        task.rendered_at = task.created_at

    def owns(self, path: Path) -> bool:
        """Shared files outlive any one task's expiry."""
        return any(result.path == path for result in self._files.values())


def _render(stem: Path, aspect_ratio: str, image_size: str) -> ResultFile:
    width, height = output_size(aspect_ratio, image_size)
    picture = Image.new("RGB", (width, height), _COLOUR)
    buffer = io.BytesIO()
    if image_size in _PNG_SIZES:
        picture.save(buffer, format="PNG")
        fmt, extension = "png", "png"
    else:
        picture.save(buffer, format="JPEG", quality=85)
        fmt, extension = "jpeg", "jpg"
    path = stem.with_suffix(f".{extension}")
    path.write_bytes(buffer.getvalue())
    return ResultFile(path, width, height, fmt, extension)
