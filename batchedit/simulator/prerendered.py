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

from batchedit.simulator.state import ResultFile, SimTask

_COLOUR = (96, 140, 180)


class PrerenderedResults:
    """A result file per (width, height, format), rendered on first use."""

    def __init__(self) -> None:
        self._files: dict[tuple[int, int, str], ResultFile] = {}
        self._lock = asyncio.Lock()

    async def settle(
        self, task: SimTask, size_px: tuple[int, int], image_format: str, count: int, folder: Path
    ) -> None:
        """Give `task` `count` copies of the shared result of its shape; it finishes
        when its latency is up."""
        shape = (*size_px, image_format)
        result = self._files.get(shape)
        if result is None:
            async with self._lock:
                result = self._files.get(shape)
                if result is None:
                    stem = folder / f"prerendered-{size_px[0]}x{size_px[1]}-{image_format}"
                    result = await asyncio.to_thread(_render, stem, size_px, image_format)
                    self._files[shape] = result
        task.results = (result,) * count
        task.rendered_at = task.created_at

    def owns(self, path: Path) -> bool:
        """Shared files outlive any one task's expiry."""
        return any(result.path == path for result in self._files.values())


def _render(stem: Path, size_px: tuple[int, int], image_format: str) -> ResultFile:
    width, height = size_px
    picture = Image.new("RGB", (width, height), _COLOUR)
    buffer = io.BytesIO()
    if image_format == "png":
        picture.save(buffer, format="PNG")
        fmt, extension = "png", "png"
    else:
        picture.save(buffer, format="JPEG", quality=85)
        fmt, extension = "jpeg", "jpg"
    path = stem.with_suffix(f".{extension}")
    path.write_bytes(buffer.getvalue())
    return ResultFile(path, width, height, fmt, extension)
