"""The structure of a PNG, JPEG or WebP file, walked within bounds, before any decoding.

Pillow's header reading holds every metadata chunk it meets in memory (60 MB
of XMP in a 64x64 PNG becomes 60 MB of text, then copies of it) and steps
through a JPEG's fill bytes one byte at a time (64 MiB of them is a quarter
of a minute of CPU). So the picture policy (pictures.py) walks the container
here first, reading only part headers:

- the picture's size, from its header (PNG IHDR, JPEG SOFn, WebP VP8X, VP8L
  or VP8), so the pixel cap is applied before anything is decoded;
- how many bytes come besides the pixels (text chunks, ICC, EXIF, XMP, C2PA,
  JPEG tables and fill bytes), refused past `max_metadata_bytes` without
  reading them;
- whether it carries a C2PA manifest (a PNG `caBX` chunk, a WebP `C2PA`
  chunk, a JPEG APP11 segment holding a JUMBF box of the C2PA type);
- the parts that hold the picture, so a relabelled file can be told to hold
  the same pixels by a digest of those parts alone (`pixel_digest`).

At most MAX_PARTS headers are read, pixel data is skipped by seeking, and a
run of JPEG fill bytes is skipped a block at a time, so the walk is bounded
in bytes and in time whatever the file says. `Malformed` is a file that ends
before its structure does, or is not the format it starts as (a new download
may cure it); `OverLimit` is one past a bound (the same file is refused again).
"""

from __future__ import annotations

import hashlib
import io
from collections import deque
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import BinaryIO

MIB = 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The JUMBF type UUID of a C2PA manifest store: "c2pa" then the ISO suffix.
C2PA_UUID = bytes.fromhex("6332706100110010800000aa00389b71")
#: Part headers read at most (a 30 MB PNG written in 8 KiB IDAT chunks has ~4,000).
MAX_PARTS = 100_000
_BLOCK = 64 * 1024
#: PNG chunks that hold or shape the pixels (a relabelling keeps them byte for byte).
_PNG_PIXELS = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"acTL", b"fcTL", b"fdAT"})
_WEBP_PIXELS = frozenset({b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF"})
#: JPEG start-of-frame markers (those that are not DHT, JPG or DAC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class Malformed(Exception):
    """The file ends before its structure does, or breaks it: perhaps cut short."""


class OverLimit(Exception):
    """The file is past a bound of the walk: the same bytes would be refused again."""


@dataclass(frozen=True, slots=True)
class Part:
    """One chunk, segment or run of a container: `pixels` when it holds or
    shapes the picture, else metadata (or, in a JPEG, fill bytes); `c2pa`
    when it holds (part of) a C2PA manifest store."""

    offset: int
    length: int  # the whole part: header, data, checksum and padding
    pixels: bool
    c2pa: bool = False


@dataclass(frozen=True, slots=True)
class Layout:
    """What the walk learned: the format as Pillow names it, the size its
    header declares, the bytes besides the pixels, and what it carries."""

    format: str  # "PNG", "JPEG" or "WEBP"
    width: int
    height: int
    metadata_bytes: int
    c2pa: bool = False

    @property
    def pixels(self) -> int:
        return self.width * self.height


def sniff_format(head: bytes) -> str | None:
    """ "PNG", "JPEG" or "WEBP" from a file's first 12 bytes, else None."""
    if head.startswith(PNG_SIGNATURE):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def read_layout(fp: BinaryIO, *, max_metadata_bytes: int) -> Layout:
    """Walk `fp` (seekable, at its start); Malformed, OverLimit, or the layout.
    A file of no known format is Malformed too: the caller sniffs first to
    say what it is instead."""
    walker = _Walker(fp, max_metadata_bytes)
    deque(walker.parts(), maxlen=0)  # walk every part: the walker keeps what it read
    if walker.width <= 0 or walker.height <= 0:
        raise Malformed(f"the {walker.format} header declares no size")
    return Layout(
        walker.format, walker.width, walker.height, walker.metadata_bytes, c2pa=walker.c2pa
    )


def carries_c2pa(fp: BinaryIO, *, max_metadata_bytes: int) -> bool:
    """Whether the walk meets a C2PA manifest before it ends or stops at a bound."""
    walker = _Walker(fp, max_metadata_bytes)
    with suppress(Malformed, OverLimit):  # a walk that stops says what it met so far
        for _ in walker.parts():
            if walker.c2pa:
                return True
    return walker.c2pa


def copy_without_c2pa(fp: BinaryIO, out: BinaryIO, *, max_metadata_bytes: int) -> None:
    """`fp`'s file written to `out` without the parts holding its C2PA manifest,
    every other byte as it was (a WebP's RIFF size set to what is left): what
    a label can be added to without breaking a manifest's binding, and
    without encoding a pixel again. Malformed or OverLimit as `read_layout`."""
    walker = _Walker(fp, max_metadata_bytes)
    parts = list(walker.parts())
    if not parts:
        raise Malformed(f"the {walker.format} file holds nothing to copy")
    spans = [(0, parts[0].offset)]  # the signature, SOI or RIFF header
    spans += [(part.offset, part.length) for part in parts if not part.c2pa]
    written = 0
    for offset, length in spans:
        fp.seek(offset)
        remaining = length
        while remaining:
            block = fp.read(min(_BLOCK, remaining))
            if not block:
                raise Malformed(f"the {walker.format} file ends inside its structure")
            out.write(block)
            remaining -= len(block)
        written += length
    if walker.format == "WEBP":
        out.seek(4)
        out.write((written - 8).to_bytes(4, "little"))


def pixel_digest(fp: BinaryIO, *, max_metadata_bytes: int) -> str | None:
    """The sha256 of every part that holds the picture, read a block at a time;
    None when the file cannot be walked to its end (a JPEG must end with EOI)."""
    try:
        walker = _Walker(fp, max_metadata_bytes)
        spans = [(part.offset, part.length) for part in walker.parts() if part.pixels]
    except (Malformed, OverLimit):
        return None
    if not walker.ended:
        return None
    digest = hashlib.sha256()
    for offset, length in spans:
        fp.seek(offset)
        remaining = length
        while remaining:
            block = fp.read(min(_BLOCK, remaining))
            if not block:
                return None
            digest.update(block)
            remaining -= len(block)
    return digest.hexdigest()


class _Walker:
    """One pass over one file's parts; fills in what it learns on the way."""

    def __init__(self, fp: BinaryIO, max_metadata_bytes: int) -> None:
        self.fp = fp
        self.max_metadata_bytes = max_metadata_bytes
        fp.seek(0, io.SEEK_END)
        self.size = fp.tell()
        fp.seek(0)
        head = fp.read(12)
        fp.seek(0)
        self.format = sniff_format(head) or ""
        self.width = self.height = 0
        self.metadata_bytes = 0
        self.c2pa = False
        self._c2pa_boxes: set[bytes] = set()  # JPEG: APP11 box instances of a manifest
        self.ended = False  # the structure's own end was reached (IEND, EOI, RIFF size)
        self._count = 0

    def parts(self) -> Iterator[Part]:
        walk = {"PNG": self._png, "JPEG": self._jpeg, "WEBP": self._webp}.get(self.format)
        if walk is None:
            raise Malformed("not a PNG, JPEG or WebP file")
        for part in walk():
            self._count += 1
            if self._count > MAX_PARTS:
                raise OverLimit(f"more than {MAX_PARTS} parts in its {self.format} structure")
            if not part.pixels:
                self._metadata(part.length)
            yield part

    def _metadata(self, count: int) -> None:
        self.metadata_bytes += count
        if self.metadata_bytes > self.max_metadata_bytes:
            raise OverLimit(
                f"more than {_shown(self.max_metadata_bytes)} besides its pixels "
                "(metadata: text, ICC, EXIF, XMP, C2PA)"
            )

    def _read(self, count: int) -> bytes:
        data = self.fp.read(count)
        if len(data) < count:
            raise Malformed(f"the {self.format} file ends inside its structure (cut short?)")
        return data

    def _skip_to(self, offset: int) -> None:
        if offset > self.size:
            raise Malformed(f"the {self.format} file ends inside its structure (cut short?)")
        self.fp.seek(offset)

    # -- PNG ---------------------------------------------------------------

    def _png(self) -> Iterator[Part]:
        self._skip_to(len(PNG_SIGNATURE))
        first = True
        while True:
            offset = self.fp.tell()
            header = self._read(8)
            length, kind = int.from_bytes(header[:4], "big"), header[4:]
            if length > 0x7FFFFFFF or (first and kind != b"IHDR"):
                raise Malformed("not a valid PNG chunk sequence")
            if kind == b"IHDR":
                data = self._read(8)
                self.width = int.from_bytes(data[:4], "big")
                self.height = int.from_bytes(data[4:], "big")
            elif kind == b"caBX":
                self.c2pa = True
            first = False
            end = offset + 12 + length
            yield Part(offset, 12 + length, kind in _PNG_PIXELS, c2pa=kind == b"caBX")
            self._skip_to(end)
            if kind == b"IEND":
                self.ended = True
                return

    # -- JPEG --------------------------------------------------------------

    def _jpeg(self) -> Iterator[Part]:
        self._skip_to(2)
        while True:
            fill = self._skip_fill()
            offset = self.fp.tell() - 1  # the 0xFF before the marker
            if fill:
                yield Part(offset - fill, fill, pixels=False)
            marker = self._read(1)[0]
            if marker == 0xDA:  # start of scan: the entropy-coded data runs to the end
                yield Part(offset, self.size - offset, pixels=True)
                self.fp.seek(max(0, self.size - 2))
                self.ended = self.fp.read(2) == b"\xff\xd9"
                return
            if marker in (0xD8, 0xD9):
                raise Malformed("the JPEG has no image data before its end")
            if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM, RSTn: no length
                yield Part(offset, 2, pixels=True)
                continue
            length = int.from_bytes(self._read(2), "big")
            if length < 2:
                raise Malformed("not a valid JPEG segment sequence")
            metadata = 0xE0 <= marker <= 0xEF or marker == 0xFE  # APPn, COM
            c2pa = False
            if marker in _SOF:
                data = self._read(min(length - 2, 5))
                if len(data) == 5:
                    self.height = int.from_bytes(data[1:3], "big")
                    self.width = int.from_bytes(data[3:5], "big")
            elif marker == 0xEB:
                c2pa = self._jpeg_c2pa(self._read(min(length - 2, 40)))
            yield Part(offset, 2 + length, pixels=not metadata, c2pa=c2pa)
            self._skip_to(offset + 2 + length)

    def _jpeg_c2pa(self, data: bytes) -> bool:
        """Whether an APP11 segment (JPEG XT: "JP", box instance (2), packet
        sequence (4), then the box) holds a manifest: the first of a box
        begins with the C2PA superbox, its continuations share its instance."""
        if data[:2] != b"JP":
            return False
        instance = data[2:4]
        if is_c2pa_jumbf(data[8:]):
            self._c2pa_boxes.add(instance)
            self.c2pa = True
        return instance in self._c2pa_boxes

    def _skip_fill(self) -> int:
        """Step over a marker's 0xFF and any fill bytes before it (a block at a
        time, never a byte at a time); the fill bytes skipped. Leaves the file
        just after the last 0xFF."""
        if self._read(1) != b"\xff":
            raise Malformed("not a valid JPEG segment sequence")
        fill = 0
        while True:
            block = self.fp.read(_BLOCK)
            if not block:
                raise Malformed("the JPEG file ends inside its structure (cut short?)")
            run = len(block) - len(block.lstrip(b"\xff"))
            fill += run
            if fill > self.max_metadata_bytes:
                raise OverLimit(
                    f"more than {_shown(self.max_metadata_bytes)} of JPEG fill bytes "
                    "before its image data"
                )
            if run < len(block):
                self.fp.seek(run - len(block), io.SEEK_CUR)
                return fill

    # -- WebP --------------------------------------------------------------

    def _webp(self) -> Iterator[Part]:
        riff_end = 8 + int.from_bytes(self._read(8)[4:], "little")
        if riff_end > self.size:
            raise Malformed("the WebP file is shorter than its RIFF header says (cut short?)")
        self._skip_to(12)
        canvas = False
        while self.fp.tell() + 8 <= riff_end:
            offset = self.fp.tell()
            header = self._read(8)
            kind, length = header[:4], int.from_bytes(header[4:], "little")
            data = self._read(min(length, 10))
            if kind == b"VP8X" and len(data) >= 10:
                canvas = True
                self.width = 1 + int.from_bytes(data[4:7], "little")
                self.height = 1 + int.from_bytes(data[7:10], "little")
            elif kind == b"VP8L":
                if not canvas and len(data) >= 5:
                    bits = int.from_bytes(data[1:5], "little")
                    self.width, self.height = 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
            elif kind == b"VP8 " and not canvas and len(data) >= 10:
                self.width = int.from_bytes(data[6:8], "little") & 0x3FFF
                self.height = int.from_bytes(data[8:10], "little") & 0x3FFF
            elif kind == b"C2PA":
                self.c2pa = True
            end = min(riff_end, offset + 8 + length + (length & 1))  # padded to even
            yield Part(offset, end - offset, kind in _WEBP_PIXELS, c2pa=kind == b"C2PA")
            self._skip_to(end)
        self.ended = True


def is_c2pa_jumbf(box: bytes) -> bool:
    """A JUMBF superbox (`jumb`) whose description box (`jumd`) has the C2PA type."""
    return box[4:8] == b"jumb" and box[12:16] == b"jumd" and box[16:32] == C2PA_UUID


def _shown(count: int) -> str:
    return f"{count // MIB} MiB" if count % MIB == 0 else f"{count} bytes"
