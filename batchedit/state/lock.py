"""One run at a time per run directory.

The lock is an advisory `flock` on the run directory itself (the directory
opened read-only), so the kernel drops it the moment its holder exits,
however it exits: a run killed with `kill -9` never leaves a lock behind that
blocks the next one. It is taken on the directory rather than on a file in
it because a user tidying up deletes files: a lock on a file that was
deleted (or on a state folder removed whole) still holds, but only for
whoever opened that file; a second run creating the file afresh would lock
a new one and get in. The directory stays while a run writes into it.

Beside it, the lock file in the state folder holds the holder's pid (for the
message a second run prints and for `status`) and is flocked too, so a run of
an earlier batchedit, which locks only the file, and this one exclude each
other. On a file system where a directory cannot be flocked (NFS emulates
flock with byte-range locks, which want a file open for writing), the lock
file alone guards the directory, as before.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from batchedit.errors import UsageError
from batchedit.state.rundir import RunPaths

log = logging.getLogger(__name__)


class RunLocked(UsageError):
    """Another process is running into the same run directory."""


class RunLock:
    """A held run-directory lock; `claim` adds the state folder's lock file."""

    def __init__(self, paths: RunPaths) -> None:
        self.paths = paths
        self._file_fd: int | None = None

    def claim(self) -> None:
        """Make the state folder and the lock file, flock the file too and write
        our pid into it. Separate from taking the lock so that a run refused
        before it starts (its state lost) leaves the directory as it was."""
        if self._file_fd is not None:
            return
        self.paths.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.paths.lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _flock_or_refuse(fd, self.paths)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._file_fd = fd

    def release(self) -> None:
        fd, self._file_fd = self._file_fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # no pid: nobody holds it
        finally:
            os.close(fd)  # closing drops the flock


@contextmanager
def run_lock(paths: RunPaths, *, claim: bool = True) -> Iterator[RunLock]:
    """Hold the run directory's lock for the block, or raise RunLocked at once.

    The run directory is made if it is missing (the lock is on it). With
    `claim` False the state folder is left untouched until `RunLock.claim`."""
    paths.root.mkdir(parents=True, exist_ok=True)
    dir_fd = os.open(paths.root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(dir_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _locked(paths, _pid_in_lock_file(paths)) from None
        except OSError as exc:  # no flock on a directory here: the lock file alone guards
            log.debug("%s: cannot flock the run directory (%s); using the lock file", paths, exc)
        lock = RunLock(paths)
        try:
            if claim:
                lock.claim()
            yield lock
        finally:
            lock.release()
    finally:
        os.close(dir_fd)  # closing drops the flock


def lock_holder(paths: RunPaths) -> int | None:
    """The pid of a live process holding the lock, or None; takes no lock itself."""
    pid = _pid_in_lock_file(paths)
    if pid is None or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)  # PermissionError too means alive, owned by someone else
    except ProcessLookupError:
        return None  # a pid left by a killed run
    except PermissionError:
        return pid
    return pid


def _flock_or_refuse(fd: int, paths: RunPaths) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _locked(paths, _read_pid(fd)) from None


def _locked(paths: RunPaths, holder: int | None) -> RunLocked:
    return RunLocked(
        f"{paths.root} is in use by another batchedit run"
        + (f" (pid {holder})" if holder else "")
        + "; wait for it to finish, or stop it, then run again"
    )


def _pid_in_lock_file(paths: RunPaths) -> int | None:
    """The pid the lock file names; None when it names none or is gone."""
    try:
        fd = os.open(paths.lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        return _read_pid(fd)
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None
