"""Small JPEG thumbnails for the review page, made with Pillow in a thread pool.

A review page of 5,000 rows cannot show 10,000 full-size photos, so each
picture gets a thumbnail beside the page, named after the picture's path,
size and modification time: re-making the page after a re-run only redoes
what changed, and an input used by many rows is made once. Decoding is CPU
work in C that releases the GIL, so a few threads really run in parallel.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

MAX_SIDE_PX = 360  # shown at up to 180 CSS pixels: sharp on a 2x screen
JPEG_QUALITY = 82
MAX_THREADS = 4


@dataclass(frozen=True, slots=True)
class Picture:
    """Something to show: a local file, or the bytes of a data: URI."""

    key: str  # what the page calls it: the path or the URI as given
    path: Path | None = None
    data: bytes | None = None

    def thumb_name(self) -> str:
        digest = hashlib.sha256(self.key.encode())
        if self.path is not None:
            stat = self.path.stat()
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        return digest.hexdigest()[:20] + ".jpg"


@dataclass(frozen=True, slots=True)
class Thumb:
    name: str  # file name inside the thumbnail folder
    width: int
    height: int


def picture_for(given: str, base_dir: Path) -> Picture | None:
    """The picture an image reference names, or None for a remote URL (the page
    never loads anything from the network)."""
    if given.lower().startswith("data:"):
        _, _, payload = given.partition(",")
        try:
            data = base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            return None
        return Picture(key="data:" + hashlib.sha256(data).hexdigest(), data=data)
    if "://" in given:
        return None
    path = Path(os.path.abspath(base_dir / Path(given).expanduser()))
    return Picture(key=str(path), path=path)


def make_thumbnails(pictures: Iterable[Picture], folder: Path) -> Mapping[str, Thumb]:
    """Thumbnails of every readable picture, by key; unreadable ones are left out."""
    folder.mkdir(parents=True, exist_ok=True)
    unique = {picture.key: picture for picture in pictures}
    threads = max(1, min(MAX_THREADS, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="thumb") as pool:
        made = pool.map(lambda picture: _thumbnail(picture, folder), unique.values())
        return {key: thumb for key, thumb in zip(unique, made, strict=True) if thumb}


def _thumbnail(picture: Picture, folder: Path) -> Thumb | None:
    try:
        name = picture.thumb_name()
        return _existing(folder / name) or _make(picture, folder / name)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None  # missing, not an image, or too large: the page says so instead


def make_preview(picture: Picture, folder: Path, *, max_side_px: int) -> Path | None:
    """A larger copy of a picture, for the before/after comparison of a served
    page (which serves nothing from outside the run directory); None if unreadable."""
    try:
        target = folder / picture.thumb_name()
        if _existing(target) is None:
            folder.mkdir(parents=True, exist_ok=True)
            _make(picture, target, max_side_px)
        return target
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _existing(target: Path) -> Thumb | None:
    """A thumbnail made by an earlier report, if it is there and readable."""
    try:
        with Image.open(target) as done:
            done.load()
            return Thumb(target.name, done.width, done.height)
    except (OSError, ValueError):
        return None


def _make(picture: Picture, target: Path, max_side_px: int = MAX_SIDE_PX) -> Thumb:
    source = picture.path if picture.path is not None else io.BytesIO(picture.data or b"")
    with Image.open(source) as image:
        image.draft("RGB", (max_side_px, max_side_px))  # JPEGs decode at a fraction
        small = _flatten(ImageOps.exif_transpose(image))
        small.thumbnail((max_side_px, max_side_px), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    # A cache, not a result: written aside and renamed, without the fsyncs (a
    # thumbnail lost to a crash is unreadable above, and simply made again).
    aside = target.with_name(f".{target.name}.{threading.get_ident()}.part")
    aside.write_bytes(out.getvalue())
    os.replace(aside, target)
    return Thumb(target.name, small.width, small.height)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB for JPEG; transparent product cut-outs go on white, as a shop shows them."""
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
