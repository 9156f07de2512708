"""A local input made into what the model takes, before it is uploaded.

A catalog's photos are not what the service reads: a 45 MP JPEG is over the
16 MiB upload cap, TIFF and HEIC are not taken, a phone photo is stored
sideways with an EXIF orientation the service need not honour, a print file
is CMYK, a scan 16-bit or in a wide-gamut profile. Each is prepared here:
orientation applied, converted to 8-bit sRGB through its ICC profile
(PIL.ImageCms), downscaled with Lanczos to the model's long side or pixels,
and encoded again (JPEG at quality 95 then 92, PNG when it has alpha),
smaller each round until it is under the byte limit. A file that needs none
of this is sent as it is.

Decoding takes its pixels from the process's one budget (pictures.py), twice
over (the decoded picture and the one made from it), and a JPEG larger than
its target is decoded at a reduced scale (`draft`), so a catalog of 50 MP
photos runs in a few hundred MB. The prepared file is kept
in the run's state folder by (content digest, limits): the next run neither
prepares nor (its digest being the upload cache's key) uploads it again.
The original file is only ever read.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, ImageOps

from batchedit.catalogue.spec import InputLimits
from batchedit.fsutil import atomic_write_bytes
from batchedit.manifest.input_files import InputHeader, read_input_header
from batchedit.pictures import PIXEL_BUDGET, PictureRefused, decoded_pixels, load_picture
from batchedit.records import InputSent

PREPARED_DIR = "prepared"
#: JPEG qualities tried in turn before the picture is made smaller.
JPEG_QUALITIES = (95, 92)
#: Each round over the byte limit shrinks the sides by at least this much.
SHRINK = 0.85
#: Copies of the decoded pixels a preparation holds at its peak: turning it
#: upright, converting its colours or scaling it makes the new picture while
#: the decoded one is still there. Its share of the pixel budget counts both,
#: so the budget bounds the memory (two 24 MP photos turned at once held
#: 400 MB where their share said 48 MP, about 150 MB).
PREPARE_COPIES = 2
_ORIENTATION = 0x0112
_SRGB = ImageCms.createProfile("sRGB")


@dataclass(frozen=True, slots=True)
class SentInput:
    """What is sent for one local input: the file (the original, or its
    prepared copy), its size, format and digest, and what preparation changed."""

    path: Path
    sha256: str
    width: int
    height: int
    bytes: int
    format: str
    changes: tuple[str, ...] = ()

    def describe(self, source: str) -> InputSent:
        """The report's `inputs` entry for this input, given as `source`."""
        return InputSent(source, self.width, self.height, self.bytes, self.format, self.changes)


def cache_stem(sha256: str, limits: InputLimits) -> str:
    """The prepared file's name without suffix: content digest and limits."""
    return f"{sha256[:32]}-{hashlib.sha256(limits.key.encode()).hexdigest()[:12]}"


def cached_input(cache_dir: Path, sha256: str, limits: InputLimits) -> SentInput | None:
    """What an earlier preparation of this content for these limits sent, if kept."""
    try:
        data = json.loads((cache_dir / f"{cache_stem(sha256, limits)}.json").read_text("utf-8"))
        sent = SentInput(
            Path(data["path"]),
            str(data["sha256"]),
            int(data["width"]),
            int(data["height"]),
            int(data["bytes"]),
            str(data["format"]),
            tuple(str(change) for change in data["changes"]),
        )
        if sent.path.stat().st_size != sent.bytes:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return sent


def prepare_input(path: Path, sha256: str, limits: InputLimits, cache_dir: Path) -> SentInput:
    """What to send for the local input `path` (whose content digest is
    `sha256`): a prepared copy in `cache_dir`, kept for later runs, or the file
    itself when it needs nothing (its header is read again next time: cheaper
    than a durable note). PictureRefused when it cannot be.
    Blocking: call it from a worker thread."""
    kept = cached_input(cache_dir, sha256, limits)
    if kept is not None:
        return kept
    header = read_input_header(path)
    size_bytes = path.stat().st_size
    with Image.open(path, formats=(header.format,)) as image:
        target = _target_long_side(header, limits)
        changes = _needed(image, header, limits, size_bytes, target)
        if not changes:
            sent = SentInput(
                path, sha256, header.width, header.height, size_bytes, header.format, ()
            )
        else:
            draft = target if target < max(header.width, header.height) else None
            held = PREPARE_COPIES * decoded_pixels(image, draft_px=draft)
            with PIXEL_BUDGET.hold(held):
                load_picture(image, draft_px=draft)
                picture = _normalised(image, changes)
                data, fmt, picture_size, more = _encoded(picture, target, limits, changes)
            changes = [change for change in changes if change != "over_bytes"] + more
            stem = cache_stem(sha256, limits)
            prepared = cache_dir / f"{stem}.{'png' if fmt == 'PNG' else 'jpg'}"
            cache_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(prepared, data)
            digest = hashlib.sha256(data).hexdigest()
            sent = SentInput(prepared, digest, *picture_size, len(data), fmt, tuple(changes))
            _remember(cache_dir, sha256, limits, sent)
    return sent


def _target_long_side(header: InputHeader, limits: InputLimits) -> int:
    """The longest side the model takes for this picture's shape."""
    long_side = max(header.width, header.height)
    target = min(long_side, limits.max_long_side_px or long_side)
    if limits.max_pixels is not None and header.pixels > limits.max_pixels:
        scale = math.sqrt(limits.max_pixels / header.pixels)
        target = min(target, math.floor(long_side * scale))
    return max(1, target)


def _needed(
    image: Image.Image, header: InputHeader, limits: InputLimits, size_bytes: int, target: int
) -> list[str]:
    """What must change for the service to take this picture as it should
    (read from the header and the opened, not yet decoded, picture)."""
    changes: list[str] = []
    orientation = image.getexif().get(_ORIENTATION, 1)
    if orientation not in (1, None):
        changes.append("exif_rotated")
    if image.mode == "CMYK":
        changes.append("cmyk_to_srgb")
    elif _foreign_profile(image):
        changes.append("icc_to_srgb")
    if header.bit_depth > 8 or image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        changes.append("16bit_to_8bit")
    if image.mode in ("P", "PA"):
        changes.append("palette_expanded")
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "PA", "CMYK") and not changes:
        changes.append("to_8bit")  # 1-bit, YCbCr, LAB, ...: still made 8-bit RGB
    if header.format not in limits.formats:
        changes.append(f"from_{header.format.lower()}")
    if target < max(header.width, header.height):
        changes.append("downscaled")
    if size_bytes > limits.max_bytes and "downscaled" not in changes:
        changes.append("over_bytes")
    return changes


def _foreign_profile(image: Image.Image) -> bool:
    """Whether the picture carries an ICC profile that is not sRGB."""
    icc = image.info.get("icc_profile")
    if not icc:
        return False
    try:
        described = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except (ImageCms.PyCMSError, OSError, TypeError, ValueError):
        return True
    return not described.strip().lower().startswith("srgb")


def _normalised(image: Image.Image, changes: list[str]) -> Image.Image:
    """The decoded picture upright, in 8-bit RGB or RGBA sRGB. Turned in place:
    the stored pixels are let go as soon as the upright ones exist, so a
    24 MP photo holds one copy of its pixels while it is encoded, not two."""
    ImageOps.exif_transpose(image, in_place=True)
    picture = image
    icc = image.info.get("icc_profile")
    if picture.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        picture = picture.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if picture.mode in ("P", "PA"):
        picture = picture.convert("RGBA" if _has_alpha(picture) else "RGB")
    alpha = _has_alpha(picture)
    wanted = "RGBA" if alpha else "RGB"
    if icc and ("icc_to_srgb" in changes or picture.mode == "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(picture, source, _SRGB, outputMode=wanted)
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: Pillow's own conversion, below
    return picture if picture.mode == wanted else picture.convert(wanted)


def _has_alpha(picture: Image.Image) -> bool:
    return picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info


def _encoded(
    picture: Image.Image, target: int, limits: InputLimits, changes: list[str]
) -> tuple[bytes, str, tuple[int, int], list[str]]:
    """The picture at most `target` on its long side, encoded under the byte
    limit: the bytes, format, size and what else that changed."""
    more: list[str] = []
    fmt = "PNG" if picture.mode == "RGBA" else "JPEG"
    while True:
        if max(picture.size) > target:
            scale = target / max(picture.size)
            size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
            picture = picture.resize(size, Image.Resampling.LANCZOS)
            if "downscaled" not in changes and "downscaled" not in more:
                more.append("downscaled")
        for quality in JPEG_QUALITIES if fmt == "JPEG" else (0,):
            out = io.BytesIO()
            if fmt == "JPEG":
                picture.save(out, "JPEG", quality=quality, optimize=False)
            else:
                picture.save(out, "PNG", compress_level=6)
            if out.tell() <= limits.max_bytes:
                more.append(f"reencoded_{fmt.lower()}")
                return out.getvalue(), fmt, picture.size, more
        if max(picture.size) <= 16:
            raise PictureRefused(
                f"cannot be made smaller than {limits.max_bytes} bytes", final=True
            )
        target = max(16, math.floor(max(picture.size) * SHRINK))


def _remember(cache_dir: Path, sha256: str, limits: InputLimits, sent: SentInput) -> None:
    """Keep what was sent for this content and these limits, for the next run."""
    entry = {
        "path": str(sent.path),
        "sha256": sent.sha256,
        "width": sent.width,
        "height": sent.height,
        "bytes": sent.bytes,
        "format": sent.format,
        "changes": list(sent.changes),
        "limits": limits.key,
    }
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        stem = cache_stem(sha256, limits)
        atomic_write_bytes(cache_dir / f"{stem}.json", json.dumps(entry).encode())
    except OSError:
        return  # losing it costs a preparation next time, nothing more
