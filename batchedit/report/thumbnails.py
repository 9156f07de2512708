"""Small JPEG thumbnails for the review page, made under the picture policy.

A review page of 5,000 rows cannot show 10,000 full-size photos, so each
picture gets a thumbnail beside the page, named after the picture's path,
size and modification time: re-making the page after a re-run only redoes
what changed, and an input used by many rows is made once.

Every picture is opened as the run opens it (pictures.py, invariant 13): a
result only as PNG, JPEG or WebP, an input also as TIFF or HEIF as input
preparation takes it (manifest/input_files.py), chosen by content with
`Image.open(formats=...)`, so an EPS that validation refused never reaches
Ghostscript; the size its header declares is held to the cap before a pixel
is decoded, and decoding draws on the process's one pixel budget, a JPEG
at the reduced scale (`draft`) nearest the thumbnail. A picture the policy
refuses, or that is missing or broken, becomes an `Unshown` naming why, which
the page shows as a placeholder tile. Decoding is CPU work in C that
releases the GIL, so a few threads really run in parallel.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
from collections.abc import Iterable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps
from tqdm import tqdm

from batchedit.catalogue.spec import UPLOAD_FORMATS
from batchedit.containers import Layout
from batchedit.fsutil import atomic_write_bytes
from batchedit.manifest.input_files import MAX_INPUT_PIXELS, read_input_header
from batchedit.pictures import (
    MAX_RESULT_PIXELS,
    PIXEL_BUDGET,
    RESULT_FORMATS,
    PictureRefused,
    decoded_pixels,
    inspect_picture,
    load_picture,
    open_picture,
)

MAX_SIDE_PX = 360  # shown at up to 180 CSS pixels: sharp on a 2x screen
JPEG_QUALITY = 82
MAX_THREADS = 4


@dataclass(frozen=True, slots=True)
class Picture:
    """Something to show: a local file, or the bytes of a data: URI. An input
    is opened in the input formats (TIFF and HEIF too), a result in the
    result formats only."""

    key: str  # what the page calls it: the path or the URI as given
    path: Path | None = None
    data: bytes | None = None
    is_input: bool = False

    def thumb_name(self) -> str:
        digest = hashlib.sha256(self.key.encode("utf-8", "surrogatepass"))
        if self.path is not None:
            stat = self.path.stat()
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        return digest.hexdigest()[:20] + ".jpg"


@dataclass(frozen=True, slots=True)
class Thumb:
    name: str  # file name inside the thumbnail folder
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Unshown:
    """A picture without a thumbnail, and why, in words for its placeholder tile."""

    reason: str
    missing: bool = False  # the file is not there at all


Shown = Thumb | Unshown


def picture_for(given: str, base_dir: Path) -> Picture | None:
    """The input picture an image reference names, or None for a remote URL
    (the page never loads anything from the network)."""
    if given.lower().startswith("data:"):
        _, _, payload = given.partition(",")
        try:
            data = base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            return None
        return Picture(key="data:" + hashlib.sha256(data).hexdigest(), data=data, is_input=True)
    if "://" in given:
        return None
    path = Path(os.path.abspath(base_dir / Path(given).expanduser()))
    return Picture(key=str(path), path=path, is_input=True)


def make_thumbnails(
    pictures: Iterable[Picture],
    folder: Path,
    *,
    known: MutableMapping[str, Shown] | None = None,
    progress: bool = False,
) -> Mapping[str, Shown]:
    """A thumbnail, or why not, for every picture, by key; made in worker
    threads under the pixel budget. `known` (by thumbnail name, which changes
    with the file) is consulted first and filled in, so a server makes each
    only once; `progress` shows a bar on stderr (in a terminal)."""
    folder.mkdir(parents=True, exist_ok=True)
    unique = {picture.key: picture for picture in pictures}
    memo: MutableMapping[str, Shown] = {} if known is None else known
    threads = max(1, min(MAX_THREADS, os.cpu_count() or 1))
    bar = tqdm(
        total=len(unique),
        desc="thumbnails",
        unit="pic",
        leave=False,
        disable=None if progress else True,
    )

    def one(picture: Picture) -> Shown:
        try:
            name = picture.thumb_name()
        except OSError as exc:
            return _unshown_os(exc)
        shown = memo.get(name)
        if shown is None:
            shown = _thumbnail(picture, folder / name)
            memo[name] = shown
        bar.update()
        return shown

    with bar, ThreadPoolExecutor(max_workers=threads, thread_name_prefix="thumb") as pool:
        return dict(zip(unique, pool.map(one, unique.values()), strict=True))


def make_preview(picture: Picture, folder: Path, *, max_side_px: int) -> Path | None:
    """A larger copy of a picture, for the before/after comparison of a served
    page (which serves nothing from outside the run directory); None if the
    policy refuses it or it cannot be read."""
    try:
        target = folder / picture.thumb_name()
    except OSError:
        return None
    if _existing(target) is None:
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(_thumbnail(picture, target, max_side_px), Unshown):
            return None
    return target


def _thumbnail(picture: Picture, target: Path, max_side_px: int = MAX_SIDE_PX) -> Shown:
    """The thumbnail at `target` (made unless an earlier report left it), or why not."""
    done = _existing(target)
    if done is not None:
        return done
    try:
        return _make(picture, target, max_side_px)
    except PictureRefused as exc:
        return Unshown(f"not shown: it {exc.message}")
    except OSError as exc:
        return _unshown_os(exc)
    except (ValueError, SyntaxError, EOFError) as exc:
        return Unshown(f"not shown: it cannot be decoded ({exc})")


def _unshown_os(exc: OSError) -> Unshown:
    if isinstance(exc, FileNotFoundError):
        return Unshown("not found", missing=True)
    return Unshown(f"not shown: it cannot be read ({exc.strerror or exc})")


def _existing(target: Path) -> Thumb | None:
    """A thumbnail made by an earlier report, if it is there: only ever a JPEG
    of our own, written whole (so its header is enough)."""
    try:
        with Image.open(target, formats=("JPEG",)) as done:
            return Thumb(target.name, done.width, done.height)
    except (OSError, ValueError, SyntaxError):
        return None


def _opened(picture: Picture) -> Image.Image:
    """The picture opened under the policy, not yet decoded; PictureRefused
    naming why not. Inputs as input preparation reads them (TIFF and HEIF
    too, up to MAX_INPUT_PIXELS), results as the writer does."""
    source = picture.path if picture.path is not None else io.BytesIO(picture.data or b"")
    if not picture.is_input:
        layout = inspect_picture(source, formats=RESULT_FORMATS, max_pixels=MAX_RESULT_PIXELS)
    elif isinstance(source, Path):
        header = read_input_header(source)
        layout = Layout(header.format, header.width, header.height, metadata_bytes=0)
    else:  # a data: URI: what the media endpoint takes, walked as a result is
        layout = inspect_picture(source, formats=UPLOAD_FORMATS, max_pixels=MAX_INPUT_PIXELS)
    return open_picture(source, layout, formats=(layout.format,))


def _make(picture: Picture, target: Path, max_side_px: int) -> Thumb:
    with _opened(picture) as image:
        with PIXEL_BUDGET.hold(decoded_pixels(image, draft_px=max_side_px)):
            load_picture(image, draft_px=max_side_px)  # a JPEG decodes at a fraction
            small = _flatten(ImageOps.exif_transpose(image))
            # A box reduction by a whole factor first, then Lanczos from at most
            # twice the size: 3.5 ms for a 1K PNG where Lanczos from the whole
            # picture (reducing_gap 2) took 10, and no difference at 180 CSS px.
            small.thumbnail((max_side_px, max_side_px), Image.Resampling.LANCZOS, reducing_gap=1.0)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    atomic_write_bytes(target, out.getvalue())
    return Thumb(target.name, small.width, small.height)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB for JPEG; transparent product cut-outs go on white, as a shop shows them."""
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
