"""A result shaped for a sales channel, and checked against its rules.

`output: {profile: amazon | shopify | merchant}` (the limits and their
sources: manifest/channels.py). Shaping does only what cannot hurt the
picture: a downscale (Lanczos) to the channel's largest size, a conversion
to sRGB and white under any transparency where the channel wants JPEG, and
white padding to a square canvas only when `pad: true` asks for it. What
shaping cannot mend (a coloured background, a product too small in its
frame, a picture too small for zoom, a file too heavy) is checked and
reported as `profile:<rule>` in the row's checks, the output kept; with
`--strict-checks` the row fails.

Synchronous Pillow work, for the writer's thread (prepare.py calls it).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageCms

from batchedit.manifest.channels import ChannelProfile
from batchedit.records import Check

#: A border pixel counts as white when each of its channels is at least this
#: (pure 255 less a JPEG encoder's ringing).
WHITE_LEVEL = 246
#: The border band checked for white: this share of the short side, at least 2 px.
BORDER_SHARE = 0.01
#: The share of the border band's pixels that may be off-white (a speck, a
#: contact shadow's tail) before the background is flagged.
BORDER_OFF_WHITE = 0.005
#: Pixel checks read a copy no larger than this on its long side.
CHECK_PX = 1024
_WHITE = (255, 255, 255)


@dataclass(frozen=True, slots=True)
class Shaped:
    """The picture to store, and the ICC profile now describing it (None: keep
    the one it came with)."""

    image: Image.Image
    icc_profile: bytes | None
    changed: bool  # False: `image` is the decoded result, untouched


def shape_for_profile(
    image: Image.Image, profile: ChannelProfile, *, pad: bool, icc_profile: bytes | None
) -> Shaped:
    """`image` made to fit `profile`: in sRGB RGB on white when the channel
    wants JPEG, downscaled to its largest size, padded square when `pad`."""
    shaped, icc, changed = image, icc_profile, False
    if profile.jpeg_srgb:
        converted = _to_srgb(shaped, icc_profile)
        if converted is not shaped:
            shaped, icc, changed = converted, _srgb_bytes(), True
    scale = _downscale(shaped.size, profile)
    if scale < 1.0:
        size = (max(1, int(shaped.width * scale)), max(1, int(shaped.height * scale)))
        if shaped.mode not in ("RGB", "RGBA", "L", "LA"):
            shaped = shaped.convert("RGBA" if "A" in shaped.getbands() else "RGB")
        shaped, changed = shaped.resize(size, Image.Resampling.LANCZOS), True
    if pad and shaped.width != shaped.height:
        shaped, changed = _pad_square(shaped), True
    return Shaped(shaped, icc, changed)


def _downscale(size: tuple[int, int], profile: ChannelProfile) -> float:
    """The factor (at most 1) bringing `size` within the channel's side and
    megapixel limits; a hair under, so rounding never lands one pixel over."""
    width, height = size
    scale = 1.0
    if profile.max_side_px is not None:
        scale = min(scale, profile.max_side_px / max(width, height))
    if profile.max_megapixels is not None:
        scale = min(scale, math.sqrt(profile.max_megapixels * 1e6 / (width * height)) * 0.999)
    return scale


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """RGB in sRGB, transparency laid on white (a JPEG has no alpha, and black
    under a cut-out would break a white background); unchanged when it is already."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    if icc_profile and not _is_srgb(icc_profile):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            converted = ImageCms.profileToProfile(
                image, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None  # a broken profile: the pixels are taken as sRGB already
        if converted is not None:
            return converted
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def _is_srgb(icc_profile: bytes) -> bool:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        description = ImageCms.getProfileDescription(profile)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return False
    return "srgb" in description.lower()


def _srgb_bytes() -> bytes:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    data: bytes = profile.tobytes()
    return data


def _pad_square(image: Image.Image) -> Image.Image:
    """`image` centred on a white square canvas of its long side."""
    side = max(image.size)
    mode = "RGBA" if "A" in image.getbands() else "RGB"
    fill = (*_WHITE, 0) if mode == "RGBA" else _WHITE
    canvas = Image.new(mode, (side, side), fill)
    offset = ((side - image.width) // 2, (side - image.height) // 2)
    canvas.paste(image.convert(mode), offset)
    return canvas


def profile_checks(
    image: Image.Image, size_bytes: int, profile: ChannelProfile
) -> tuple[Check, ...]:
    """The channel's rules `image` (as stored, `size_bytes` long) breaks."""
    width, height = image.size
    failed: list[Check] = []
    if profile.max_side_px is not None and max(width, height) > profile.max_side_px:
        failed.append(Check.PROFILE_MAX_SIDE)
    if profile.max_megapixels is not None and width * height > profile.max_megapixels * 1e6:
        failed.append(Check.PROFILE_MEGAPIXELS)
    if profile.max_bytes is not None and size_bytes > profile.max_bytes:
        failed.append(Check.PROFILE_FILE_SIZE)
    if profile.min_long_side_px is not None and max(width, height) < profile.min_long_side_px:
        failed.append(Check.PROFILE_LONG_SIDE)
    if profile.min_short_side_px is not None and min(width, height) < profile.min_short_side_px:
        failed.append(Check.PROFILE_MIN_SIZE)
    if profile.white_background or profile.min_fill is not None:
        white = _white_mask(image)
        if profile.white_background and not _white_border(white):
            failed.append(Check.PROFILE_WHITE_BACKGROUND)
        if profile.min_fill is not None and _fill_share(white) < profile.min_fill:
            failed.append(Check.PROFILE_PRODUCT_FILL)
    return tuple(failed)


def _white_mask(image: Image.Image) -> Image.Image:
    """An L mask of a reduced copy: 255 where a pixel is white (every channel
    at least WHITE_LEVEL; transparency counts as the white it is laid on)."""
    sample = image if image.mode in ("RGB", "RGBA", "L", "LA") else image.convert("RGBA")
    factor = math.ceil(max(sample.size) / CHECK_PX)
    if factor > 1:  # a box reduction: fast, and a speck still darkens its cell
        sample = sample.reduce(factor)
    if "A" in sample.getbands():
        rgba = sample.convert("RGBA")
        sample = Image.new("RGB", rgba.size, _WHITE)
        sample.paste(rgba, mask=rgba.getchannel("A"))
    rgb = sample.convert("RGB")
    red, green, blue = rgb.split()
    darkest = ImageChops.darker(ImageChops.darker(red, green), blue)
    return darkest.point(lambda level: 255 if level >= WHITE_LEVEL else 0)


def _white_border(white: Image.Image) -> bool:
    """The border band is white, all but BORDER_OFF_WHITE of it."""
    width, height = white.size
    band = max(2, round(min(width, height) * BORDER_SHARE))
    if width <= 2 * band or height <= 2 * band:
        return _count_white(white) == width * height
    inner = white.crop((band, band, width - band, height - band))
    border_pixels = width * height - inner.width * inner.height
    border_white = _count_white(white) - _count_white(inner)
    return border_pixels - border_white <= border_pixels * BORDER_OFF_WHITE


def _count_white(mask: Image.Image) -> int:
    return mask.histogram()[255]


def _fill_share(white: Image.Image) -> float:
    """The product's share of the frame: its bounding box (of the non-white
    pixels) against the frame, on the side where it reaches furthest, as
    Amazon measures "fills 85 % of the image"."""
    box = ImageChops.invert(white).getbbox()
    if box is None:
        return 0.0
    left, top, right, bottom = box
    return max((right - left) / white.width, (bottom - top) / white.height)
