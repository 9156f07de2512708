"""The model catalogue: what each edit model accepts, checked before anything is paid for.

The client validates rows against it offline and the simulator answers 400
from the same table, so the two can never disagree about what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MODEL = "google/nano-banana-pro-edit"

_BASE_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
_BASE_SIZES = ("1K", "2K", "4K")

#: Long side in pixels of each `imageSize`.
LONG_SIDE_PX = {"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}

DEFAULT_ASPECT_RATIO = "1:1"
DEFAULT_IMAGE_SIZE = "1K"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Limits of one edit model, as modellix-api.md documents them."""

    slug: str
    max_images: int
    aspect_ratios: tuple[str, ...]
    image_sizes: tuple[str, ...]

    @property
    def provider(self) -> str:
        return self.slug.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.slug.split("/", 1)[1]


MODELS: dict[str, ModelSpec] = {
    spec.slug: spec
    for spec in (
        ModelSpec("google/nano-banana-pro-edit", 14, _BASE_RATIOS, _BASE_SIZES),
        ModelSpec(
            "google/nano-banana-2-edit",
            14,
            _BASE_RATIOS + ("1:4", "1:8", "4:1", "8:1"),
            ("512",) + _BASE_SIZES,
        ),
        ModelSpec("google/nano-banana-edit", 3, _BASE_RATIOS, _BASE_SIZES),
    )
}


def find_model(slug: str) -> ModelSpec | None:
    """The spec of a known model slug, or None."""
    return MODELS.get(slug)


def parse_ratio(aspect_ratio: str) -> tuple[int, int]:
    """`"4:5"` -> `(4, 5)`; raises ValueError for anything else."""
    left, sep, right = aspect_ratio.partition(":")
    if not sep:
        raise ValueError(f"not an aspect ratio: {aspect_ratio!r}")
    width, height = int(left), int(right)
    if width <= 0 or height <= 0:
        raise ValueError(f"not an aspect ratio: {aspect_ratio!r}")
    return width, height


def output_size(aspect_ratio: str, image_size: str) -> tuple[int, int]:
    """Pixel size (width, height) of a result: the long side fixed by the size,
    the short side rounded from the ratio."""
    long_side = LONG_SIDE_PX[image_size]
    ratio_w, ratio_h = parse_ratio(aspect_ratio)
    if ratio_w >= ratio_h:
        return long_side, max(1, round(long_side * ratio_h / ratio_w))
    return max(1, round(long_side * ratio_w / ratio_h)), long_side
