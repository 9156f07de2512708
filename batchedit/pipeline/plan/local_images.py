"""Before a run plans its rows: every distinct local image decoded once (so a
broken file makes its rows invalid before anything is paid), and, for a first
run refused or stopped before it began, its folder left as it was found."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

from batchedit.errors import InputError
from batchedit.fsutil import atomic_write_bytes
from batchedit.manifest.decoding import DECODED_FILE, local_paths, predecode
from batchedit.manifest.job import JobSettings, iter_rows
from batchedit.state.fingerprint import FileDigests
from batchedit.state.rundir import RunPaths

#: In the state folder: the key of the manifest (and job) last found to name no
#: local image, so a re-run of it skips preflight's pass for local image paths.
NO_LOCAL_IMAGES_FILE = "no-local-images"


def predecode_local_images(job: JobSettings, paths: RunPaths, digests: FileDigests) -> None:
    """Every distinct local image decoded once, in parallel, before anything is
    paid: the survey's rows then find a verdict (a broken file makes its rows
    invalid). That takes a pass over the manifest for the paths, skipped when
    the same manifest and job named no local image last time (a catalog of
    hosted images, run nightly). Only speed rides on the skip: a row whose
    image has no verdict yet is decoded when it is checked."""
    hint = paths.state_dir / NO_LOCAL_IMAGES_FILE
    key = _settings_key(job)
    with suppress(OSError):
        if key is not None and hint.read_text(encoding="ascii") == key:
            return
    found = False

    def noting(rows: Iterator[Path]) -> Iterator[Path]:
        nonlocal found
        for path in rows:
            found = True
            yield path

    predecode(
        noting(local_paths(iter_rows(job, decode=False))),
        paths.state_dir,
        digest_of=lambda path: _digest_or_none(digests, path),
        prepare=job.inputs.prepare,
    )
    with suppress(OSError):
        if found or key is None:
            hint.unlink(missing_ok=True)
        elif paths.state_dir.is_dir():  # a run's (its lock made it); `plan` leaves no trace
            atomic_write_bytes(hint, key.encode("ascii"))


def _settings_key(job: JobSettings) -> str | None:
    """What decides the rows' local image paths: the manifest's and the job
    file's bytes and the column map (`--column` may point `image` elsewhere)."""
    columns = job.columns
    digest = hashlib.sha256(repr((sorted(columns.sources.items()), columns.id_template)).encode())
    try:
        for path in dict.fromkeys((job.manifest, job.source)):
            with open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def remove_unstarted_run_dir(paths: RunPaths) -> None:
    """Leave no trace of a first run refused or stopped before it began: just
    the lock (and the decode verdicts of its images, or the note that it has
    none) were made. A folder holding anything more is left as it is."""
    with suppress(OSError):
        made = {paths.lock.name, DECODED_FILE, NO_LOCAL_IMAGES_FILE}
        if set(os.listdir(paths.state_dir)) - made:
            return
        paths.lock.unlink(missing_ok=True)
        (paths.state_dir / DECODED_FILE).unlink(missing_ok=True)
        (paths.state_dir / NO_LOCAL_IMAGES_FILE).unlink(missing_ok=True)
        paths.state_dir.rmdir()
        paths.root.rmdir()  # refused when it holds anything else


def _digest_or_none(digests: FileDigests, path: Path) -> str | None:
    try:
        return digests.digest_now(path).sha256
    except InputError:
        return None
