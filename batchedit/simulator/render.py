"""The simulator's actual edit: a new picture derived from the first input and the prompt.

A result must be an honest image of the requested shape so that clients are
tested on real decoding and sizes, and a person looking at a demo report can
see which input and which prompt produced it. These are plain synchronous
Pillow functions; the app runs them in a worker thread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageOps

from batchedit.catalogue import ratio_size
from batchedit.simulator.provenance import ServiceMetadata, encode_result

_DATA_URI = re.compile(r"^data:image/[A-Za-z0-9.+-]+;base64,", re.ASCII)
#: Results this small (pixels: the 1K tier of every grid, 1:8 included) stay
#: lossless; larger ones are JPEG to keep downloads light.
PNG_MAX_PIXELS = 1_250_000
_PLACEHOLDER_PX = 512
_BAND_WORDS = 8
_WHITE_LEVEL = 250
#: What a defective result (`defect_rate`) gets wrong.
DEFECTS = ("small", "ratio", "blank")


@dataclass(frozen=True, slots=True)
class RenderedImage:
    """One encoded result, with what the task payload reports about it."""

    data: bytes
    width: int
    height: int
    format: str  # "png" or "jpeg", as the payload spells it

    @property
    def extension(self) -> str:
        return "png" if self.format == "png" else "jpg"

    @property
    def content_type(self) -> str:
        return f"image/{self.format}"


def is_data_uri(text: str) -> bool:
    return _DATA_URI.match(text) is not None


def decode_data_uri(uri: str) -> bytes:
    """The bytes of a `data:image/...;base64,` URI; ValueError if it is not one."""
    match = _DATA_URI.match(uri)
    if match is None:
        raise ValueError("not a data:image/...;base64, URI")
    try:
        return base64.b64decode(uri[match.end() :], validate=True)
    except binascii.Error as exc:
        raise ValueError(f"invalid base64 in data URI: {exc}") from exc


def placeholder_image(seed_text: str) -> Image.Image:
    """A deterministic picture standing in for an input the simulator cannot fetch.

    The same URL always gives the same picture, so re-runs and comparisons
    in a report stay stable offline.
    """
    digest = hashlib.sha256(seed_text.encode("utf-8")).digest()
    size = (_PLACEHOLDER_PX, _PLACEHOLDER_PX)
    gradient = Image.linear_gradient("L").rotate(digest[0] * 360 / 256).resize(size)
    dark = (digest[1] // 2, digest[2] // 2, digest[3] // 2)
    light = (128 + digest[4] // 2, 128 + digest[5] // 2, 128 + digest[6] // 2)
    picture = ImageOps.colorize(gradient, black=dark, white=light)
    draw = ImageDraw.Draw(picture)
    for index in range(4):
        base = 7 + index * 6
        x, y = digest[base] * 2, digest[base + 1] * 2
        radius = 30 + digest[base + 2] // 3
        colour = (digest[base + 3], digest[base + 4], digest[base + 5])
        box = (x - radius, y - radius, x + radius, y + radius)
        if index % 2:
            draw.ellipse(box, fill=colour)
        else:
            draw.rectangle(box, fill=colour)
    return picture


def render_edit(
    source: bytes | None,
    prompt: str,
    size_px: tuple[int, int],
    *,
    placeholder_seed: str = "",
    image_format: str | None = None,
    variant: int = 0,
    meta: ServiceMetadata | None = None,
    defect: str | None = None,
) -> RenderedImage:
    """Fit the input to the requested (width, height), tint it by the prompt and caption it.

    `source` None, or bytes Pillow cannot read, stand in as the placeholder
    picture of `placeholder_seed`, exactly as an unfetchable URL does. Each
    `variant` (the second, third... output of one task) gets its own tint.
    `image_format` "png" or "jpeg" forces the encoding (a model's output_format).
    `meta` is the service's metadata to embed (see provenance.py); a `defect`
    (one of DEFECTS) spoils the result the way a real service can.
    """
    fmt = image_format or default_format(size_px)
    width, height = result_size(size_px, defect)
    if defect == "blank":
        return _encode(Image.new("RGB", (width, height), (255, 255, 255)), fmt, meta)
    picture = _open_picture(source, (width, height))
    if picture is None:
        picture = placeholder_image(placeholder_seed)
    # A product shot on white keeps its white backdrop, as a real edit of a
    # catalogue photo does (channel profiles check it): only the product is tinted.
    on_white = _white_border(picture)
    # Colour work on the reduced picture, before the upscale, keeps 4K cheap.
    shifted = _shift_hue(picture, (_prompt_hue(prompt) + 37 * variant) % 256 or 32)
    if on_white:
        shifted = Image.composite(picture, shifted, _white_mask(picture))
    picture = ImageOps.fit(shifted, (width, height), Image.Resampling.BICUBIC)
    _draw_band(picture, prompt, inset=on_white)
    return _encode(picture, fmt, meta)


def result_size(size_px: tuple[int, int], defect: str | None) -> tuple[int, int]:
    """The requested size, or the wrong one a `small` or `ratio` defect gives."""
    width, height = size_px
    if defect == "small":
        return max(1, width // 2), max(1, height // 2)
    if defect == "ratio":
        return ratio_size("16:9" if width == height else "1:1", max(width, height))
    return width, height


def default_format(size_px: tuple[int, int]) -> str:
    width, height = size_px
    return "png" if width * height <= PNG_MAX_PIXELS else "jpeg"


def _open_picture(source: bytes | None, target: tuple[int, int]) -> Image.Image | None:
    if not source:
        return None
    try:
        opened = Image.open(io.BytesIO(source))
        opened.draft("RGB", target)  # JPEG decodes straight at a reduced scale
        picture = ImageOps.exif_transpose(opened)
        picture.thumbnail(target)
        return _flatten(picture)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def _flatten(picture: Image.Image) -> Image.Image:
    """RGB on white, so transparent product shots do not turn black."""
    if picture.mode in ("RGBA", "LA") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return picture.convert("RGB")


def _prompt_hue(prompt: str) -> int:
    # Never a zero shift: the result must differ visibly from its input.
    return 32 + hashlib.sha256(prompt.encode("utf-8")).digest()[0] % 192


def _shift_hue(picture: Image.Image, shift: int) -> Image.Image:
    hue, saturation, value = picture.convert("HSV").split()
    hue = hue.point([(level + shift) % 256 for level in range(256)])
    # A floor on saturation makes the tint show on grey inputs as well.
    saturation = saturation.point([max(level, 70) for level in range(256)])
    return Image.merge("HSV", (hue, saturation, value)).convert("RGB")


def _white_mask(picture: Image.Image) -> Image.Image:
    """255 where a pixel is white or nearly (every channel at least 250)."""
    red, green, blue = picture.convert("RGB").split()
    darkest = ImageChops.darker(ImageChops.darker(red, green), blue)
    return darkest.point(lambda level: 255 if level >= _WHITE_LEVEL else 0)


def _white_border(picture: Image.Image) -> bool:
    """Every pixel of the picture's outermost 2 % is white: a product on white."""
    mask = _white_mask(picture)
    width, height = mask.size
    band = max(1, min(width, height) // 50)
    if width <= 2 * band or height <= 2 * band:
        return False
    inner = mask.crop((band, band, width - band, height - band))
    return (
        mask.histogram()[255] - inner.histogram()[255]
        == width * height - inner.width * inner.height
    )


def _draw_band(picture: Image.Image, prompt: str, *, inset: bool = False) -> None:
    """The caption band across the bottom; `inset`, clear of the edges, so a
    white backdrop stays white all round."""
    width, height = picture.size
    band_px = max(12, height // 10)
    edge = max(2, min(width, height) // 25) if inset else 0
    draw = ImageDraw.Draw(picture)
    bottom_px = height - edge
    draw.rectangle((edge, bottom_px - band_px, width - edge, bottom_px), fill=(20, 20, 20))
    font = ImageFont.load_default(size=max(8, band_px // 2))
    words = prompt.split()[:_BAND_WORDS]
    margin = band_px // 4 + edge
    while words and draw.textlength(" ".join(words), font=font) > width - 2 * margin:
        words.pop()
    if words:
        text = " ".join(words)
        _, top, _, bottom = draw.textbbox((0, 0), text, font=font)
        y = bottom_px - band_px + (band_px - (bottom - top)) // 2 - top
        draw.text((margin, y), text, fill=(250, 250, 250), font=font)


def _encode(picture: Image.Image, image_format: str, meta: ServiceMetadata | None) -> RenderedImage:
    fmt = "png" if image_format == "png" else "jpeg"
    if meta is not None:
        return RenderedImage(encode_result(picture, fmt, meta), picture.width, picture.height, fmt)
    buffer = io.BytesIO()
    if fmt == "png":
        picture.save(buffer, format="PNG", compress_level=1)  # speed over a few bytes
    else:
        picture.save(buffer, format="JPEG", quality=85)
    return RenderedImage(buffer.getvalue(), picture.width, picture.height, fmt)
