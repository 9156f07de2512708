"""One decoding policy for every picture batchedit opens (invariant 13).

Every picture is opened here, under the same three rules:

- **Only the formats named.** A caller names what it takes (results:
  `RESULT_FORMATS`, PNG, JPEG and WebP) and Pillow is asked to open those
  alone (`Image.open(formats=...)`), so no file can reach a plugin that runs
  an external program (EPS through Ghostscript), whatever it claims to be.
- **Caps before decoding.** The container is walked first, within bounds
  (containers.py): the size its header declares is held to the caller's
  pixel cap and the bytes besides the pixels to MAX_METADATA_BYTES before
  Pillow reads a byte of it. A 13000x13000 PNG of 657 KB is refused as what
  it is, not expanded into 500 MB to find out.
- **One budget of pixels in flight.** Decoding takes its pixels from one
  `PixelBudget` shared by every worker thread, so the memory held by decoded
  pictures is bounded by the budget, not by how many workers there are.

`PictureRefused` says why a picture was not opened (its message reads after
the picture's name: "is 13000x13000 px ..."), and whether the same
bytes would be refused again (`final`): a picture over a cap, in a format
not taken, or past a bound is; one that ends early may be a download cut
short. Pillow's own decompression-bomb check stays as a backstop for any
picture opened elsewhere, set once here to the largest cap of the policy.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from batchedit.containers import MIB, Layout, Malformed, OverLimit, read_layout, sniff_format
from batchedit.imagetypes import describe_content

#: What a result may be: the formats the service sends (DESIGN.md, invariant 10).
RESULT_FORMATS = ("PNG", "JPEG", "WEBP")
#: Bytes besides the pixels a picture may carry: ICC, EXIF, XMP, C2PA, text, tables.
MAX_METADATA_BYTES = 16 * MIB
#: A result is refused above this many times the pixels the catalogue expects...
RESULT_PIXEL_FACTOR = 4
#: ...or above this many pixels when the catalogue cannot say.
MAX_RESULT_PIXELS = 100_000_000
#: The largest picture any use of the policy opens; Pillow's own check, for
#: pictures opened elsewhere, is set to it.
MAX_ANY_PIXELS = 250_000_000
#: Pixels decoded at once across the process, by default: about three 4K
#: results (16.8 MP each) at a few bytes a pixel.
DEFAULT_BUDGET_PIXELS = 48_000_000

Image.MAX_IMAGE_PIXELS = MAX_ANY_PIXELS
#: glibc's mallopt parameter for the size above which an allocation is mapped alone.
_M_MMAP_THRESHOLD = -3
#: The size from which memory is mapped alone, and so given back when freed.
RETURNED_ALLOCATION_BYTES = 128 * 1024


def return_large_allocations() -> bool:
    """Have glibc map every allocation of RETURNED_ALLOCATION_BYTES or more on
    its own, so it goes back to the system when freed; whether it was set.

    By default glibc raises that threshold as large blocks are freed, up to
    32 MiB, after which a decoded picture's 16 MiB blocks come from the heap
    of whichever worker thread decoded it and stay there: 40 4K results at
    concurrency 20 grew to 1.1 GB of RSS with the pixel budget holding 48 MP
    (192 MB), and stay at 210 MB with the threshold fixed. Called by the
    command line and the Python API's `run`; a MALLOC_MMAP_THRESHOLD_ the
    user set wins, and elsewhere than glibc nothing changes."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt)
    return bool(mallopt(_M_MMAP_THRESHOLD, RETURNED_ALLOCATION_BYTES))


class PictureRefused(Exception):
    """A picture the policy will not decode; `final` when the same bytes would
    be refused again (fetching a result again cannot help then)."""

    def __init__(self, message: str, *, final: bool) -> None:
        super().__init__(message)
        self.message = message
        self.final = final


def result_pixel_cap(expected_pixels: int | None) -> int:
    """The most pixels a result may have: RESULT_PIXEL_FACTOR times what its
    request asks for, or MAX_RESULT_PIXELS when the catalogue cannot say."""
    if expected_pixels is None or expected_pixels <= 0:
        return MAX_RESULT_PIXELS
    return min(MAX_ANY_PIXELS, RESULT_PIXEL_FACTOR * expected_pixels)


def inspect_picture(
    source: Path | BinaryIO,
    *,
    formats: tuple[str, ...],
    max_pixels: int,
    max_metadata_bytes: int = MAX_METADATA_BYTES,
) -> Layout:
    """The layout of the picture in `source` (a path, or a seekable binary
    file), within every cap, without decoding it; PictureRefused naming what
    is wrong. Blocking: call it from a thread."""
    with _opened(source) as fp:
        head = fp.read(16)
        found = sniff_format(head)
        if found is None or found not in formats:
            named = found or describe_content(head)
            raise PictureRefused(f"is {named}; only {_shown(formats)} are accepted", final=True)
        try:
            layout = read_layout(fp, max_metadata_bytes=max_metadata_bytes)
        except OverLimit as exc:
            message = f"carries {exc}; refused without decoding it"
            raise PictureRefused(message, final=True) from exc
        except Malformed as exc:
            raise PictureRefused(f"is not a valid image ({exc})", final=False) from exc
    if layout.pixels > max_pixels:
        raise PictureRefused(
            f"is {layout.width}x{layout.height} px ({layout.pixels / 1e6:.0f} MP), over the "
            f"{max_pixels / 1e6:.3g} MP allowed here; refused without decoding it",
            final=True,
        )
    return layout


def open_picture(
    source: Path | BinaryIO, layout: Layout, *, formats: tuple[str, ...]
) -> Image.Image:
    """`source`, which `inspect_picture` passed as `layout`, opened by Pillow
    with `formats` only and not yet decoded; the caller closes it."""
    if not isinstance(source, Path):
        source.seek(0)
    try:
        image = Image.open(source, formats=formats)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise PictureRefused(f"is not a valid image ({exc})", final=False) from exc
    except Image.DecompressionBombError as exc:
        raise PictureRefused(f"is far too large ({exc})", final=True) from exc
    if image.size != (layout.width, layout.height):
        image.close()
        raise PictureRefused(
            f"declares {layout.width}x{layout.height} px in its header but opens as "
            f"{image.width}x{image.height}",
            final=True,
        )
    return image


def load_picture(image: Image.Image, *, draft_px: int | None = None) -> None:
    """Decode `image` whole; a JPEG at a reduced scale (1/2 to 1/8) no smaller
    than `draft_px` on its long side when given (libjpeg still reads every byte
    of its scans, so a file cut short fails the same). Take the budget for
    `decoded_pixels` first."""
    try:
        if draft_px is not None and image.format == "JPEG":
            image.draft(image.mode, (draft_px, draft_px))
        image.load()
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise PictureRefused(f"is not a valid image ({exc})", final=False) from exc


def decoded_pixels(picture: Layout | Image.Image, *, draft_px: int | None = None) -> int:
    """The pixels `load_picture(..., draft_px=...)` holds for `picture` (its
    walked layout, or an image opened and not yet decoded): a JPEG drafted to
    the largest scale (1/2, 1/4, 1/8) that keeps both sides at least
    `draft_px`, as libjpeg and Pillow choose it; else the whole picture. Take
    this much of the budget before decoding."""
    found: str | None
    if isinstance(picture, Layout):
        width, height, found = picture.width, picture.height, picture.format
    else:
        (width, height), found = picture.size, picture.format
    if draft_px is None or found != "JPEG":
        return width * height
    fits = min(width // draft_px, height // draft_px)
    scale = next((s for s in (8, 4, 2) if fits >= s), 1)
    return -(-width // scale) * -(-height // scale)


@contextmanager
def _opened(source: Path | BinaryIO) -> Iterator[BinaryIO]:
    """`source` as a binary file at its start: a path opened (and closed after)."""
    if isinstance(source, Path):
        with open(source, "rb") as fp:
            yield fp
    else:
        source.seek(0)
        yield source


def _shown(formats: tuple[str, ...]) -> str:
    """`("PNG", "JPEG", "WEBP")` -> "PNG, JPEG and WebP"."""
    names = ["WebP" if name == "WEBP" else name for name in formats]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


@dataclass(eq=False, slots=True)
class _Waiter:
    weight: int
    wake: Callable[[], None]
    granted: bool = False


@dataclass(eq=False)
class PixelBudget:
    """Pixels being decoded at once, across every worker thread: a semaphore
    weighted by pixels, its waiters served in turn (a large picture is not
    passed over for ever by small ones). A picture larger than the whole
    budget waits until nothing else holds any, then runs alone.

    `hold` blocks a worker thread; `hold_async` waits on the event loop
    instead, so a coroutine takes its share before it hands work to a thread
    and no thread of the pool sits waiting."""

    max_pixels: int = DEFAULT_BUDGET_PIXELS
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _queue: deque[_Waiter] = field(default_factory=deque)
    _in_use: int = 0
    #: The most pixels ever held at once (tests and benchmarks read it).
    peak: int = 0

    def __post_init__(self) -> None:
        if self.max_pixels < 1:
            raise ValueError(f"a pixel budget must be at least 1 pixel, got {self.max_pixels}")

    @property
    def in_use(self) -> int:
        with self._lock:
            return self._in_use

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Hold `pixels` of the budget for the block, waiting for them first."""
        ready = threading.Event()
        waiter = _Waiter(max(1, pixels), ready.set)
        self._enqueue(waiter)
        ready.wait()
        try:
            yield
        finally:
            self._release(waiter.weight)

    @asynccontextmanager
    async def hold_async(self, pixels: int) -> AsyncIterator[None]:
        """`hold`, waiting on the running event loop rather than in a thread."""
        loop = asyncio.get_running_loop()
        granted: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(_settle, granted)

        waiter = _Waiter(max(1, pixels), wake)
        self._enqueue(waiter)
        try:
            await granted
        except BaseException:
            with self._lock:
                if not waiter.granted:
                    self._queue.remove(waiter)
                    self._admit()
                    raise
            self._release(waiter.weight)  # granted as it was cancelled: give it back
            raise
        try:
            yield
        finally:
            self._release(waiter.weight)

    def _enqueue(self, waiter: _Waiter) -> None:
        with self._lock:
            self._queue.append(waiter)
            self._admit()

    def _release(self, weight: int) -> None:
        with self._lock:
            self._in_use -= weight
            self._admit()

    def _admit(self) -> None:
        """Grant the waiters at the head of the line while they fit (called locked)."""
        while self._queue:
            head = self._queue[0]
            if self._in_use and self._in_use + head.weight > self.max_pixels:
                return
            self._queue.popleft()
            head.granted = True
            self._in_use += head.weight
            self.peak = max(self.peak, self._in_use)
            head.wake()


#: The process's one budget: results, inputs and thumbnails all draw on it.
PIXEL_BUDGET = PixelBudget()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
