"""The image formats the media endpoint takes, told by content, never by name.

Shared by the uploader, which checks a file before spending a request on it,
and the simulator, which refuses what the real endpoint would refuse.
"""

from __future__ import annotations

#: The media endpoint takes 1 byte to 16 MiB.
MAX_UPLOAD_BYTES = 16 * 1024 * 1024


def sniff_image_type(data: bytes) -> str | None:
    """The MIME type of a PNG, JPEG or WebP file from its first bytes, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


#: Formats a result must not be, told by their first bytes, for the message.
_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"BM", "BMP"),
    (b"%!PS", "EPS (PostScript)"),
    (b"\xc5\xd0\xd3\xc6", "EPS (PostScript)"),
    (b"%PDF", "PDF"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
)


def describe_content(data: bytes) -> str:
    """What a body that is not PNG, JPEG or WebP is, for a message: a format
    named by its magic bytes, or a short, printable look at its start."""
    if not data:
        return "empty"
    for magic, name in _OTHER_MAGIC:
        if data.startswith(magic):
            return name
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "HEIF/AVIF"
    head = data[:40].decode("ascii", "replace")
    shown = "".join(char if char.isprintable() else "." for char in head)
    if head.lstrip().startswith("<"):
        return f"not an image but markup (it begins {shown!r})"
    return f"not an image (it begins {shown!r})"
