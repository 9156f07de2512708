"""An image file's pixel payload: every byte but its metadata, told by the
container's structure alone (no decoding).

A result relabelled in place (its XMP packet replaced by exiv2) must still be
the image that was checked. Decoding it again proves only that it decodes,
and costs as much as the first decode (a tenth of a second for a 4K JPEG).
Comparing payloads proves more for far less: if every byte that is not
metadata is the same as in the file just decoded and checked, the new file
holds the same pixels. Where the structure cannot be read to its end, the
caller decodes instead; nothing is assumed.

Which parts hold the pixels is the container walk's to say (containers.py):

- PNG: the critical chunks (IHDR, PLTE, IDAT, IEND) and the ones that change
  pixels (tRNS, and APNG's acTL, fcTL, fdAT), in order, to IEND.
- JPEG: every segment but APPn, COM and fill bytes, and the scans to EOI.
- WebP: the RIFF chunks holding image data (VP8, VP8L, ALPH, ANIM, ANMF).

Both files are read a block at a time and hashed, never held whole.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from batchedit.containers import pixel_digest, sniff_format
from batchedit.pictures import MAX_METADATA_BYTES


def same_pixels(before: bytes | Path, after: bytes | Path, pillow_format: str) -> bool:
    """Whether `after` holds exactly the pixel payload of `before`, both in
    `pillow_format` (False also when either cannot be read to its end: decode
    it then)."""
    digests = []
    for source in (before, after):
        with _binary(source) as fp:
            if sniff_format(fp.read(12)) != pillow_format:
                return False
            digests.append(pixel_digest(fp, max_metadata_bytes=MAX_METADATA_BYTES))
    return digests[0] is not None and digests[0] == digests[1]


@contextmanager
def _binary(source: bytes | Path) -> Iterator[BinaryIO]:
    if isinstance(source, Path):
        with open(source, "rb") as fp:
            yield fp
    else:
        yield io.BytesIO(source)
