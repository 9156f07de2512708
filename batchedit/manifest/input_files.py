"""What a local input is, read from its header under the picture policy, before decoding.

Inputs are opened as every picture is (pictures.py): only the formats named,
by content, never by extension, and the size the header declares held to a
cap before a pixel is decoded. Inputs take more formats than results do:
the camera and phone formats a catalog holds (TIFF; HEIC/HEIF through
`pillow-heif`; AVIF where Pillow reads it). Preparation (input_prep.py)
turns them into what the service takes; with `inputs: {prepare: off}` only
what the media endpoint takes passes (UPLOAD_FORMATS).

The PNG, JPEG and WebP walk is containers.py's, bounded in bytes and time;
TIFF and HEIF headers are read by their Pillow plugins, which read a few
part headers and no pixels until asked to.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import pillow_heif
from PIL import Image, features

from batchedit.catalogue.spec import UPLOAD_FORMATS
from batchedit.containers import sniff_format
from batchedit.imagetypes import describe_content
from batchedit.pictures import MAX_ANY_PIXELS, PictureRefused, inspect_picture

pillow_heif.register_heif_opener()

#: An input above this many pixels is refused from its header (a 250 MP scan is
#: already far past what any model reads; preparation would only shrink it).
MAX_INPUT_PIXELS = MAX_ANY_PIXELS
#: The formats a local input may be in when it is prepared before upload.
INPUT_FORMATS: tuple[str, ...] = (*UPLOAD_FORMATS, "TIFF", "HEIF") + (
    ("AVIF",) if features.check("avif") else ()
)
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevm", b"hevs", b"mif1"})
_HEIF_BRANDS |= {b"msf1"}
_AVIF_BRANDS = frozenset({b"avif", b"avis"})


@dataclass(frozen=True, slots=True)
class InputHeader:
    """What a local input's header says: the format as Pillow names it, its size."""

    format: str
    width: int
    height: int
    bit_depth: int = 8  # per channel, where the header says (PNG); else 8

    @property
    def pixels(self) -> int:
        return self.width * self.height


def sniff_input(head: bytes) -> str | None:
    """The input format of a file by its first 16 bytes, as Pillow names it, else None."""
    found = sniff_format(head)
    if found is not None:
        return found
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "HEIF"
        if brand in _AVIF_BRANDS:
            return "AVIF"
    return None


def shown_formats(formats: tuple[str, ...], last: str = "and") -> str:
    """`("PNG", "JPEG", "WEBP", "TIFF")` -> "PNG, JPEG, WebP and TIFF"."""
    names = ["WebP" if name == "WEBP" else name for name in formats]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"


def read_input_header(
    path: Path, *, formats: tuple[str, ...] = INPUT_FORMATS, max_pixels: int = MAX_INPUT_PIXELS
) -> InputHeader:
    """The header of the input at `path` within the caps, nothing decoded;
    PictureRefused (its message reads after the file's name) or OSError.
    Blocking: call it from a thread."""
    with open(path, "rb") as fp:
        head = fp.read(32)
    found = sniff_input(head)
    if found is None or found not in formats:
        named = found or describe_content(head[:16])
        raise PictureRefused(
            f"is {named}; only {shown_formats(formats)} are accepted here", final=True
        )
    if found in UPLOAD_FORMATS:
        layout = inspect_picture(path, formats=(found,), max_pixels=max_pixels)
        depth = head[24] if found == "PNG" and len(head) > 24 else 8
        return InputHeader(found, layout.width, layout.height, depth)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=(found,)) as image:
                width, height = image.size
    except Image.DecompressionBombError as exc:
        raise PictureRefused(f"is far too large ({exc})", final=True) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise PictureRefused(f"is not a valid image ({exc})", final=True) from exc
    if width * height > max_pixels:
        raise PictureRefused(
            f"is {width}x{height} px ({width * height / 1e6:.0f} MP), over the "
            f"{max_pixels / 1e6:.3g} MP allowed; refused without decoding it",
            final=True,
        )
    return InputHeader(found, width, height)
