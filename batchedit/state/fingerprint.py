"""Content digests of local images and the request fingerprint of a row.

The fingerprint names exactly what a row pays for (model, rendered prompt,
images with the content of local files, parameters); it travels with the row
through the journal and the report so a re-run can tell an unchanged row from
a changed one. Hashing reads files, so it runs in a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from batchedit.errors import InputError
from batchedit.records import EditRequest

_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileDigest:
    sha256: str
    size: int


class FileDigests:
    """sha256 of local files, computed once per (path, size, mtime)."""

    def __init__(self) -> None:
        self._known: dict[tuple[Path, int, int], FileDigest] = {}

    async def digest(self, path: Path) -> FileDigest:
        """Raises InputError when the file cannot be read (it may have gone since validation)."""
        return await asyncio.to_thread(self.digest_now, path)

    def digest_now(self, path: Path) -> FileDigest:
        """`digest`, for code already running in a thread."""
        try:
            stat = path.stat()
            key = (path, stat.st_size, stat.st_mtime_ns)
            known = self._known.get(key)
            if known is None:
                known = FileDigest(sha256_file(path), stat.st_size)
                self._known[key] = known
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
        return known


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def request_fingerprint(request: EditRequest, digests: FileDigests) -> str:
    """A stable hash of what the row asks for; local images count by content.
    Reads files: call it from a thread."""
    images = []
    for image in request.images:
        if image.path is None:
            images.append(image.given)
        else:
            images.append("sha256:" + digests.digest_now(image.path).sha256)
    canonical = json.dumps(
        [request.model, request.prompt, images, request.params()],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
