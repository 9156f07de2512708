"""An image file's pixel payload: every byte but its metadata, told by the
container's structure alone (no decoding).

A result relabelled in place (its XMP packet replaced by exiv2) must still be
the image that was checked. Decoding it again proves only that it decodes,
and costs as much as the first decode (a tenth of a second for a 4K JPEG).
Comparing payloads proves more for far less: if every byte that is not
metadata is the same as in the file just decoded and checked, the new file
holds the same pixels. Where the structure cannot be read to its end, the
caller decodes instead; nothing is assumed.

- PNG: the critical chunks (IHDR, PLTE, IDAT, IEND) and the ones that change
  pixels (tRNS, and APNG's acTL, fcTL, fdAT), in order, to IEND.
- JPEG: everything from the first marker that is not APPn or COM to the end
  (tables, frame and scans), after the metadata segments at the start.
- WebP: the RIFF chunks holding image data (VP8, VP8L, ALPH, ANIM, ANMF).
"""

from __future__ import annotations

import struct

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_PIXEL_CHUNKS = frozenset(
    {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"acTL", b"fcTL", b"fdAT"}
)
_WEBP_PIXEL_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF"})


def same_pixels(before: bytes, after: bytes, pillow_format: str) -> bool:
    """Whether `after` holds exactly the pixel payload of `before` (False also
    when either cannot be read to its end: decode it then)."""
    read = {"PNG": _png_payload, "JPEG": _jpeg_payload, "WEBP": _webp_payload}.get(pillow_format)
    if read is None:
        return False
    first, second = read(before), read(after)
    return first is not None and first == second


def _png_payload(data: bytes) -> list[bytes] | None:
    if not data.startswith(_PNG_SIGNATURE):
        return None
    kept: list[bytes] = []
    position = len(_PNG_SIGNATURE)
    while position + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, position)
        kind = data[position + 4 : position + 8]
        end = position + 12 + length
        if end > len(data):
            return None  # cut short
        if kind in _PNG_PIXEL_CHUNKS:
            kept.append(data[position:end])  # length, type, data and CRC
        if kind == b"IEND":
            return kept
        position = end
    return None  # no IEND


def _jpeg_payload(data: bytes) -> memoryview | None:
    if not data.startswith(b"\xff\xd8"):
        return None
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if not (0xE0 <= marker <= 0xEF or marker == 0xFE):  # not APPn, not COM
            return memoryview(data)[position:] if data.endswith(b"\xff\xd9") else None
        (length,) = struct.unpack_from(">H", data, position + 2)
        position += 2 + length
    return None


def _webp_payload(data: bytes) -> list[bytes] | None:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    kept: list[bytes] = []
    position = 12
    while position + 8 <= len(data):
        kind = data[position : position + 4]
        (length,) = struct.unpack_from("<I", data, position + 4)
        end = position + 8 + length + (length & 1)  # chunks are padded to even sizes
        if position + 8 + length > len(data):
            return None
        if kind in _WEBP_PIXEL_CHUNKS:
            kept.append(data[position : position + 8 + length])
        position = end
    return kept if kept and position >= len(data) else None
