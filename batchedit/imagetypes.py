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
