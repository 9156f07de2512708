"""Pre-rendered results: one image per output shape, made once and served to every task.

With `--prerendered` the simulator skips the per-task Pillow edit, so a
benchmark of thousands of tasks measures the client, not the simulator's
rendering. The image is still an honest one of the requested size and
format, so the client's verification runs exactly as in production: a
vertical gradient rather than one flat colour, so it is not taken for a
blank result; it compresses as well, its rows being flat. Each variant (a
defect, a colour profile, a C2PA-shaped manifest) is one more shared file.
`--result-profile realistic` shares its files the same way, painted by
realistic.py instead: photo-like, at real sizes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageOps

from batchedit.fsutil import atomic_write_bytes
from batchedit.simulator.provenance import ServiceMetadata, encode_result
from batchedit.simulator.render import result_size
from batchedit.simulator.state import ResultFile, SimTask

_DARK, _LIGHT = (60, 100, 150), (150, 190, 220)
#: The task id stamped into a shared file's metadata.
_SHARED_ID = "prerendered"
_Variant = tuple[int, int, str, str, str, bool]


Painter = Callable[[tuple[int, int]], Image.Image]


def paint_gradient(size_px: tuple[int, int]) -> Image.Image:
    """A vertical gradient: not blank, and cheap to encode and decode."""
    gradient = Image.linear_gradient("L").resize(size_px)
    return ImageOps.colorize(gradient, black=_DARK, white=_LIGHT)


class PrerenderedResults:
    """A result file per (width, height, format), rendered on first use by `paint`."""

    def __init__(self, paint: Painter = paint_gradient) -> None:
        self._files: dict[_Variant, ResultFile] = {}
        self._lock = asyncio.Lock()
        self._paint = paint

    async def settle(
        self,
        task: SimTask,
        size_px: tuple[int, int],
        image_format: str,
        count: int,
        folder: Path,
        *,
        meta: ServiceMetadata,
        defect: str | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """Give `task` `count` copies of the shared result of its shape; it finishes
        when its latency is up and, given a `clock`, not before its shape's file
        is made (run as a background job then: making a 4K file must not hold
        up the submit's answer)."""
        shared = ServiceMetadata(_SHARED_ID, meta.profile, meta.c2pa)
        variant = (*size_px, image_format, defect or "", meta.profile, meta.c2pa)
        result = self._files.get(variant)
        rendered_at = task.created_at
        if result is None:
            async with self._lock:
                result = self._files.get(variant)
                if result is None:
                    name = "-".join(str(part) for part in variant).replace(" ", "")
                    stem = folder / f"prerendered-{name}"
                    result = await asyncio.to_thread(
                        _render, self._paint, stem, size_px, image_format, shared, defect
                    )
                    self._files[variant] = result
            if clock is not None:
                rendered_at = max(rendered_at, clock())
        task.results = (result,) * count
        task.rendered_at = rendered_at

    def owns(self, path: Path) -> bool:
        """Shared files outlive any one task's expiry."""
        return any(result.path == path for result in self._files.values())


def _render(
    paint: Painter,
    stem: Path,
    size_px: tuple[int, int],
    image_format: str,
    meta: ServiceMetadata,
    defect: str | None,
) -> ResultFile:
    width, height = result_size(size_px, defect)
    if defect == "blank":
        picture = Image.new("RGB", (width, height), (255, 255, 255))
    else:
        picture = paint((width, height))
    fmt, extension = ("png", "png") if image_format == "png" else ("jpeg", "jpg")
    path = stem.with_suffix(f".{extension}")
    # Whole or absent, as a drawn result (submit.py); not worth an fsync.
    atomic_write_bytes(path, encode_result(picture, fmt, meta), sync=False)
    return ResultFile(path, width, height, fmt, extension)
