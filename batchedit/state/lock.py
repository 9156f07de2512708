"""One run at a time per run directory.

The lock is an advisory `flock` on a file in the state folder, so the kernel
drops it the moment its holder exits, however it exits: a run killed with
`kill -9` never leaves a lock behind that blocks the next one. The file holds
the holder's pid, for the message a second run prints.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from batchedit.errors import UsageError
from batchedit.state.rundir import RunPaths


class RunLocked(UsageError):
    """Another process is running into the same run directory."""


@contextmanager
def run_lock(paths: RunPaths) -> Iterator[None]:
    """Hold the run directory's lock for the block, or raise RunLocked at once."""
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            raise RunLocked(
                f"{paths.root} is in use by another batchedit run"
                + (f" (pid {holder})" if holder else "")
                + "; wait for it to finish, or stop it, then run again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # no pid: nobody holds it
    finally:
        os.close(fd)  # closing drops the flock


def lock_holder(paths: RunPaths) -> int | None:
    """The pid of a live process holding the lock, or None; takes no lock itself."""
    try:
        fd = os.open(paths.lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        pid = _read_pid(fd)
    finally:
        os.close(fd)
    if pid is None or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)  # PermissionError too means alive, owned by someone else
    except ProcessLookupError:
        return None  # a pid left by a killed run
    except PermissionError:
        return pid
    return pid


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None
