"""A local folder as a destination: files copied (or hard-linked) in whole.

Every file is written aside in its folder, fsynced and renamed over its
name, so a reader (a web server serving the folder, a sync agent) never sees
half a picture. A copy is hashed on the way and checked against the report:
a result changed since the run is not published. What is at a name is told
by hashing it; a folder has no version tags, so `over` is checked by the
caller just before (a folder offers no conditional write).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import stat
from collections.abc import Collection
from pathlib import Path

from batchedit.errors import UsageError
from batchedit.fsutil import PARTIAL_SUFFIX, atomic_write_bytes, atomic_writer, replace_synced
from batchedit.report.publish.destination import Found, Upload
from batchedit.state.fingerprint import sha256_file

CHUNK_BYTES = 1 << 20


class FolderDestination:
    def __init__(self, root: Path, *, link: bool = False) -> None:
        self.root = root
        self.link = link

    @property
    def where(self) -> str:
        return str(self.root)

    def shown(self, name: str) -> str:
        return str(self.root / name)

    async def found(self, names: Collection[str]) -> dict[str, Found]:
        return await asyncio.to_thread(self._found, list(names))

    def _found(self, names: list[str]) -> dict[str, Found]:
        present = {}
        for name in names:
            try:
                present[name] = Found(os.lstat(self.root / name).st_size)
            except FileNotFoundError:
                continue
            except NotADirectoryError:  # a file where a folder of the name should be
                present[name] = Found(-1)
        return present

    async def content_sha256(self, name: str) -> str | None:
        path = self.root / name
        if path.is_symlink() or not path.is_file():
            return None  # a folder or a link at the name is never the export's
        return await asyncio.to_thread(sha256_file, path)

    async def put_file(self, upload: Upload, *, over: Found | None) -> str | None:
        destination = self.root / upload.name
        if self.link:
            await asyncio.to_thread(_link, upload, destination)
        else:
            await asyncio.to_thread(_copy, upload, destination)
        return None

    async def put_bytes(
        self, name: str, data: bytes, *, content_type: str, over: Found | None
    ) -> str | None:
        await asyncio.to_thread(atomic_write_bytes, self.root / name, data)
        return None

    async def read_bytes(self, name: str, *, max_bytes: int) -> bytes | None:
        path = self.root / name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        if size > max_bytes:
            raise UsageError(f"{path} is {size} bytes, more than the {max_bytes} expected")
        return await asyncio.to_thread(path.read_bytes)

    async def delete(self, name: str) -> None:
        path = self.root / name
        await asyncio.to_thread(path.unlink, missing_ok=True)


def _link(upload: Upload, destination: Path) -> None:
    """Hard-link the source at `destination`, whole or not at all."""
    if sha256_file(upload.source) != upload.sha256:
        raise changed_since_run(upload.source)
    destination.parent.mkdir(parents=True, exist_ok=True)
    aside = destination.with_name(f".{destination.name}.{os.getpid()}{PARTIAL_SUFFIX}")
    aside.unlink(missing_ok=True)
    try:
        os.link(upload.source, aside)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise UsageError("--link needs DIR on the same file system as RUN_DIR") from exc
        raise
    replace_synced(aside, destination)


def _copy(upload: Upload, destination: Path) -> None:
    """Copy the source to `destination` through a file aside, hashing on the
    way, with the source's permission bits (as `shutil.copymode`)."""
    mode = stat.S_IMODE(os.stat(upload.source).st_mode)
    with open(upload.source, "rb") as src, atomic_writer(destination) as dst:
        os.fchmod(dst.fileno(), mode)
        digest = hashlib.sha256()
        while chunk := src.read(CHUNK_BYTES):
            digest.update(chunk)
            dst.write(chunk)
        if digest.hexdigest() != upload.sha256:
            raise changed_since_run(upload.source)


def changed_since_run(source: Path) -> UsageError:
    return UsageError(
        f"{source} is not the file the report recorded (changed since the run); "
        "run again to fetch it, then export"
    )
