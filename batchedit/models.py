"""The model catalogue: what each edit model accepts, checked before anything is paid for.

The client validates rows against it offline and the simulator answers 400
from the same table, so the two can never disagree about what is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Collection
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
    """Limits of one edit model, as modellix-api.md documents them. A model
    passed through with --allow-model has no known ratios or sizes: empty
    tuples, which validation reads as "not checked here; the service decides"."""

    slug: str
    max_images: int
    aspect_ratios: tuple[str, ...]
    image_sizes: tuple[str, ...]
    known: bool = True

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


#: The most images any documented model takes; the cap for a passed-through model.
MAX_IMAGES_ANY_MODEL = max(spec.max_images for spec in MODELS.values())
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


def find_model(slug: str) -> ModelSpec | None:
    """The spec of a known model slug, or None."""
    return MODELS.get(slug)


def is_model_slug(text: str) -> bool:
    """`provider/name`, as the submit path takes it: nothing that could leave the path."""
    return _SLUG.fullmatch(text) is not None and ".." not in text


def spec_for(slug: str, allowed: Collection[str] = ()) -> ModelSpec | None:
    """The limits to check a row against: a known model's own, or, for a slug the
    user allowed, only the largest image count any model takes."""
    spec = MODELS.get(slug)
    if spec is None and slug in allowed and is_model_slug(slug):
        return ModelSpec(slug, MAX_IMAGES_ANY_MODEL, (), (), known=False)
    return spec


def unknown_model_message(slug: str) -> str:
    """What to say about a slug that is not in the catalogue, and how to send it anyway."""
    known = ", ".join(MODELS)
    if not is_model_slug(slug):
        return f"model '{slug}' is not a provider/name slug; known models: {known}"
    return (
        f"unknown model '{slug}'; known models: {known} "
        f"(to send it anyway: --allow-model {slug}, or allow_models: in the job file)"
    )


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
