"""What a place to publish into must answer: a local folder or an object store.

An export asks a destination few things: what is present at some names,
what content a present name holds (a folder hashes the file; a store reads
the sha256 the export put in the object's metadata), and to write, read or
delete one name. A write names the version it expects to replace (`over`),
so a store that can make the write conditional (S3's If-None-Match and
If-Match) refuses it when someone else wrote there since the export looked:
the export never overwrites what it did not see. Names are POSIX paths
relative to the destination (a folder, or a bucket's prefix).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from batchedit.errors import UsageError

#: Metadata key holding the sha256 of an object's content (S3: x-amz-meta-batcheditsha256):
#: letters and digits only, as Azure's metadata names must be.
SHA256_METADATA = "batcheditsha256"
#: The MIME type a published image is served with, by the report's format name.
CONTENT_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "webp": "image/webp",
}


@dataclass(frozen=True, slots=True)
class Found:
    """Something present at a name."""

    size: int
    tag: str | None = None  # the store's version of it (an S3 ETag); None in a folder


@dataclass(frozen=True, slots=True)
class Upload:
    """A file to publish at `name`, whose content must be `sha256`."""

    name: str
    source: Path
    sha256: str
    size: int
    content_type: str


class DestinationChanged(UsageError):
    """Someone wrote at a name after the export looked: nothing of theirs is replaced."""


class Destination(Protocol):
    """A folder or an object store prefix, as the export sees it."""

    @property
    def where(self) -> str:
        """The destination as the user named it, for messages."""
        ...

    def shown(self, name: str) -> str:
        """Where `name` is, in full, for messages."""
        ...

    async def found(self, names: Collection[str]) -> dict[str, Found]:
        """Which of `names` are present (anything at all: a folder counts too)."""
        ...

    async def content_sha256(self, name: str) -> str | None:
        """The sha256 of what is at `name` (as far as the destination can tell),
        or None when it cannot be ours: not a regular file, no such metadata."""
        ...

    async def put_file(self, upload: Upload, *, over: Found | None) -> str | None:
        """Write `upload.source` at its name, replacing `over` (None: nothing may
        be there); the new version's tag. Raises UsageError if the source is no
        longer the file the report recorded, DestinationChanged if the name
        changed since it was looked at."""
        ...

    async def put_bytes(
        self, name: str, data: bytes, *, content_type: str, over: Found | None
    ) -> str | None:
        """Write `data` at `name`, as `put_file` does."""
        ...

    async def read_bytes(self, name: str, *, max_bytes: int) -> bytes | None:
        """The content at `name`, None when absent; UsageError past `max_bytes`."""
        ...

    async def delete(self, name: str) -> None:
        """Remove `name`; nothing there is not an error."""
        ...
