"""File-system helpers that keep invariants 2 and 9: whole files only, and
names derived from row ids that cannot leave their folder. Appends to
JSON-lines files are jsonlines.py's (`append_lines`), with its torn-tail policy."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: Names Windows reserves for devices, whatever their case or extension (`CON`,
#: `con.png`, `Aux.tar.gz`): such a file cannot be made there, or opens the device.
_WINDOWS_DEVICE = re.compile(r"(?:CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(?=\.|$)", re.IGNORECASE)
MAX_NAME_CHARS = 120
PARTIAL_SUFFIX = ".part"  # what a file written aside is called until renamed
#: A run directory's folders batchedit writes into: the results, and the hidden
#: state. Named here, below every layer, since validation refuses inputs inside
#: them (manifest/) as the run directory's paths name them (state/rundir.py).
RUN_OUTPUTS_DIR = "outputs"
RUN_STATE_DIR = ".batchedit"


def _read_umask() -> int:
    """The process's umask, read once at import (setting it back at once; no
    thread writes files yet): mkstemp makes files 0600, and a report should
    be as readable as the outputs beside it, 0644 under the usual umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_read_umask()


def safe_name(row_id: str) -> str:
    """A file-name stem for a row id, unique per id.

    Ids may hold any characters; anything outside `[A-Za-z0-9._-]` is folded,
    leading dots are dropped (no hidden files, no `..`), a name Windows keeps
    for a device (`CON`, `nul.png`, `COM1`) gets a `_` after its device part,
    and when the name had to change a short hash of the original id keeps two
    ids that fold alike (`a/b` and `a_b`) apart.
    """
    folded = _UNSAFE.sub("_", row_id).lstrip(".")[:MAX_NAME_CHARS] or "row"
    device = _WINDOWS_DEVICE.match(folded)
    if device is not None:
        folded = f"{folded[: device.end()]}_{folded[device.end() :]}"
    if folded == row_id:
        return folded
    digest = hashlib.sha256(row_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{folded}-{digest}"


@contextmanager
def atomic_writer(path: Path, mode: str = "wb", *, sync: bool = True) -> Iterator[IO[Any]]:
    """A file handle whose content appears at `path` whole or not at all: it
    writes a temporary file in the same folder, fsyncs it, then renames it over
    the target and fsyncs the folder; on any error the temporary file is
    removed and `path` untouched. `sync=False` skips both fsyncs: whole should
    the process die, not the machine; only for files worth less than an fsync
    (the simulator's rendered results, drawn again on demand)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if sync:
        fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Write `data` to `path` whole or not at all (see `atomic_writer`)."""
    with atomic_writer(path, sync=sync) as handle:
        handle.write(data)


def replace_synced(source: Path, target: Path) -> None:
    """Rename `source`, a file already written whole aside (a download, a hard
    link, a journal set aside), over `target`, durably: its content fsynced
    first, then the rename fsynced in the target's folder (and in the source's
    when it leaves another); folders missing on the way to `target` are made,
    and their own entries fsynced. With `atomic_writer`, the only renames
    batchedit makes (tests/test_architecture.py holds every other module to it)."""
    descriptor = os.open(source, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    make_folders(target.parent)
    os.replace(source, target)
    fsync_dir(target.parent)
    if source.parent != target.parent:
        fsync_dir(source.parent)


def make_folders(folder: Path) -> None:
    """`folder` and any parents missing, each new entry fsynced in its parent,
    so a file renamed into it durably is not lost with its folder."""
    missing: list[Path] = []
    while not folder.is_dir() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    if not missing:
        return
    missing[0].mkdir(parents=True, exist_ok=True)
    for made in reversed(missing):
        fsync_dir(made.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable; harmless where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with suppress(OSError):  # some file systems cannot fsync a directory
            os.fsync(fd)
    finally:
        os.close(fd)


def remove_partial_files(folder: Path, *, recursive: bool = True) -> int:
    """Delete the hidden `.NAME.*.part` files that writes aside leave behind when
    a process is killed mid-write, in `folder` (and below it, if `recursive`);
    call it only while holding the run's lock, and never on a folder another
    writer is using at the time."""
    removed = 0
    found = folder.rglob if recursive else folder.glob
    for path in found(f".*{PARTIAL_SUFFIX}"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed
