"""What every stored result is checked against, beyond "it decodes".

A result of the wrong size or shape, or a near-blank picture, is still a
decodable image, so it would pass as `succeeded` unnoticed. The checks here
name such a result (`size_mismatch`, `ratio_mismatch`, `blank`) without
discarding it; the writer reports them, and `--strict-checks` fails the row.
Format limits are different: a picture a format cannot hold cannot be stored
in it at all, so that is an error, not a check.

Synchronous functions on a decoded image, for the writer's thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image, ImageStat

from batchedit.catalogue import current_catalogue, output_pixel_size
from batchedit.records import Check, EditRequest

#: Relative difference allowed between the area received and the one the
#: catalogue expects (its grid's entry, or the size the body named): a
#: provider rounding its sides to a grid of its own passes, a half-size result
#: (a quarter of the area) is caught.
AREA_TOLERANCE = 0.3
#: Relative difference allowed between the width/height ratios.
RATIO_TOLERANCE = 0.03
#: Below this standard deviation of every channel (0-255 levels, measured on a
#: reduced copy) a picture is near-blank: one flat colour, at most faint noise.
BLANK_STDDEV = 2.0
_BLANK_SAMPLE_PX = 64
#: Pixels a side each stored format can hold (WebP's VP8 frame size; JPEG's SOF fields).
MAX_SIDE_PX = {"WEBP": 16383, "JPEG": 65535, "PNG": 2**31 - 1}


@dataclass(frozen=True, slots=True)
class ExpectedShape:
    """What a request should yield: the area always, the ratio only when the
    request named one (without it a service may follow the input's shape)."""

    pixels: int
    ratio: float | None  # width / height


def expected_shape(request: EditRequest) -> ExpectedShape | None:
    """The shape the catalogue says `request` yields, or None when it cannot
    say (a model passed through with --allow-model, a size it cannot compute)
    or the request asked for no size. The one place the catalogue's output
    size is consulted for checks."""
    spec = current_catalogue().find(request.model)
    if spec is None:
        return None
    params = request.params()
    rule = spec.output_size
    asked = rule.param if rule.rule == "size_param" else rule.size_param
    if asked is not None and asked not in params:
        return None  # no size asked for: the service's default, undocumented
    if asked is None and rule.ratio_param not in params:
        return None  # one grid for every request, but which of its ratios is the input's
    size = output_pixel_size(spec, params)
    if size is None:
        return None
    width, height = size
    ratio_named = rule.rule == "size_param" or rule.ratio_param in params
    return ExpectedShape(width * height, width / height if ratio_named else None)


def expected_pixels(request: EditRequest) -> int | None:
    """The pixels the catalogue expects of each result of `request`, whether or
    not the request named a ratio (the picture policy caps a result at a few
    times this); None when it cannot say."""
    spec = current_catalogue().find(request.model)
    size = None if spec is None else output_pixel_size(spec, request.params())
    return None if size is None else size[0] * size[1]


def check_image(
    image: Image.Image, expected: ExpectedShape | None, size: tuple[int, int] | None = None
) -> tuple[Check, ...]:
    """The checks `image` fails, in a fixed order; `size` is the file's when the
    image was decoded at a reduced scale."""
    failed: list[Check] = []
    width, height = size or image.size
    if expected is not None:
        area = width * height / expected.pixels
        if abs(math.log(max(area, 1e-9))) > math.log1p(AREA_TOLERANCE):
            failed.append(Check.SIZE_MISMATCH)
        if expected.ratio is not None:
            actual = width / max(1, height)
            if abs(math.log(actual / expected.ratio)) > math.log1p(RATIO_TOLERANCE):
                failed.append(Check.RATIO_MISMATCH)
    if is_blank(image):
        failed.append(Check.BLANK)
    return tuple(failed)


def is_blank(image: Image.Image) -> bool:
    """Every channel nearly flat, measured on a reduced copy (cheap at 4K)."""
    sample = image if image.mode in ("RGB", "RGBA", "L", "LA") else image.convert("RGBA")
    sample = sample.reduce(max(1, max(sample.size) // _BLANK_SAMPLE_PX))
    if sample.mode in ("RGBA", "LA"):
        # What a viewer shows: transparent areas over white.
        rgba = sample.convert("RGBA")
        sample = Image.new("RGB", rgba.size, (255, 255, 255))
        sample.paste(rgba, mask=rgba.getchannel("A"))
    return max(ImageStat.Stat(sample.convert("RGB")).stddev) < BLANK_STDDEV


def format_limit_problem(pillow_format: str, width: int, height: int) -> str | None:
    """Why a `width` x `height` picture cannot be stored as `pillow_format`, or None."""
    limit = MAX_SIDE_PX.get(pillow_format)
    if limit is None or max(width, height) <= limit:
        return None
    return (
        f"the result is {width}x{height} px, larger than {pillow_format} holds "
        f"({limit} px a side); choose output format png"
    )
