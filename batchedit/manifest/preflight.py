"""Preflight of a row's images, before anything is paid for.

URLs must be https (plain http only on loopback, for the simulator) or
data:image URIs; local files must exist and be what the media endpoint takes:
PNG, JPEG or WebP by their first bytes (never by extension), 1 byte to 16 MiB.
Cheap checks only (a stat and 16 bytes), so validation stays fast; the uploader
checks again when it reads the whole file, since a file may change between.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from batchedit.imagetypes import MAX_UPLOAD_BYTES, sniff_image_type
from batchedit.manifest.input_files import INPUT_FORMATS, shown_formats, sniff_input

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_DATA_URI = re.compile(r"data:image/[A-Za-z0-9.+-]+;base64,", re.IGNORECASE)


def url_problem(given: str) -> str | None:
    """'' for an acceptable URL, what is wrong with a bad one (to follow the
    image's name: `image 'X' uses plain http; ...`), None for a local path."""
    lowered = given.lower()
    if lowered.startswith("data:"):
        if _DATA_URI.match(given):
            return ""
        return "is a data: URI but not data:image/...;base64,..."
    if not _URL_SCHEME.match(given):
        return None
    parts = urlsplit(given)
    if parts.scheme.lower() == "https" and parts.hostname:
        return ""
    if parts.scheme.lower() == "http" and parts.hostname in LOOPBACK_HOSTS:
        return ""
    if parts.scheme.lower() == "http":
        return (
            "uses plain http; use an https:// URL "
            "(http is allowed only for localhost, 127.0.0.1 and [::1])"
        )
    return "is not an https:// URL, a data:image URI or a local file"


def problem_kind(problem: str) -> str:
    """A local file's problem without the part naming the file: the words before
    the parenthesis every message here ends with (`not found (looked for P)`),
    so each row's missing file is one kind of problem."""
    return problem.split(" (", 1)[0]


def local_file_problem(path: Path, *, prepare: bool = False) -> str | None:
    """Preflight of a local image before anything is paid for: there, a regular
    file, and by its first bytes (the extension does not count) PNG, JPEG or
    WebP of 1 byte to 16 MiB, or, when inputs are prepared before upload
    (`prepare`), any of INPUT_FORMATS of any size. None when it will do."""
    try:
        if not path.is_file():
            return f"is not a regular file ({path})" if path.exists() else _not_found(path)
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        return f"cannot be read ({path}: {exc.strerror or exc})"
    if size == 0:
        return f"is an empty file ({path})"
    if prepare:
        if sniff_input(head) not in INPUT_FORMATS:
            return f"is not a {shown_formats(INPUT_FORMATS, 'or')} image by its content ({path})"
        return None
    if size > MAX_UPLOAD_BYTES:
        mib = size / (1024 * 1024)
        return f"is {mib:.1f} MiB; the media endpoint takes at most 16 MiB ({path})"
    if sniff_image_type(head) is None:
        return f"is not a PNG, JPEG or WebP image by its content ({path})"
    return None


def _not_found(path: Path) -> str:
    return f"not found (looked for {path})"
