"""The writer's storage side: results downloaded, verified as images, and
stored under `outputs/` so that a file appears only complete (invariant 2).

Decoding and format conversion run in a thread; the bytes go to a hidden
temporary name in the same folder, are fsynced, then renamed into place, in
one thread call per file. Before that each result is checked, labelled and,
when asked, converted and signed (prepare.py). Names come from the row's
output stem (naming.py), so no row id or field can place a file outside
`outputs/`; a last check here refuses any target that would, whatever
produced it, and any target another row of this run already wrote (compared
case-folded: one file on macOS and Windows), so a row never overwrites
another row's file (invariant 9). The report lists exactly the files
written: the converted result, and the service's original when kept.

Only PNG, JPEG and WebP results are accepted, under the picture policy
(pictures.py): told by their container and opened by Pillow with those
formats only (no TIFF, ICO, or EPS that would have Pillow run Ghostscript);
anything else fails its row naming what it is, at once: fetching it again
would bring the same. A result larger than its request can yield (4x the
catalogue's pixels, 100 MP when it cannot say) is refused from its header,
never decoded. A disk that refuses the write (full, read-only) is a
LocalFailure: the run stops, exit 4.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import itertools
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from batchedit.api.client import ModellixClient
from batchedit.api.task_state import TaskState
from batchedit.errors import DownloadError, LocalFailure
from batchedit.fsutil import atomic_write_bytes, safe_name
from batchedit.manifest.naming import OutputSpec
from batchedit.manifest.seen_ids import SeenIds
from batchedit.pictures import result_pixel_cap
from batchedit.pipeline.checks import expected_pixels, expected_shape
from batchedit.pipeline.metadata import Provenance
from batchedit.pipeline.prepare import EXTENSIONS, ImageInfo, prepare_output
from batchedit.records import Check, OutputFile, Row
from batchedit.state.rundir import RunPaths

OUTPUTS_DIR = "outputs"
RUN_ID_FILE = "run_id"


@dataclass(frozen=True, slots=True)
class StoredResults:
    """A task's stored files, and the checks any of them failed."""

    outputs: tuple[OutputFile, ...]
    checks: tuple[Check, ...]


class OutputStore:
    """Downloads a finished task's results into the run directory."""

    def __init__(
        self,
        run_dir: Path,
        client: ModellixClient,
        spec: OutputSpec | None = None,
        *,
        strict_checks: bool = False,
    ) -> None:
        self.run_dir = run_dir
        #: A result failing a check fails its row (the writer reads this).
        self.strict_checks = strict_checks
        self.folder = run_dir / OUTPUTS_DIR
        self._client = client
        self.spec = spec or OutputSpec()
        self._run_id: str | None = None
        self._run_id_lock = asyncio.Lock()
        #: Case-folded paths under outputs/ written in this run -> the row that
        #: wrote it, in a few bytes per path (a million-row run stays small).
        self._owners = SeenIds()

    async def store_checked(self, row: Row, state: TaskState) -> StoredResults:
        """Every resource of a succeeded task, checked, labelled and stored as
        `STEM.EXT` or `STEM-N.EXT` when several, STEM being the row's output
        name (its id by default); the service's own file beside it when kept
        (`STEM.original.EXT` if the format did not change). The pipeline
        creates `outputs/` once before any task can finish."""
        several = len(state.resources) > 1
        base = row.output_stem or safe_name(row.id)
        expected = expected_shape(row.request)
        max_pixels = result_pixel_cap(expected_pixels(row.request))
        request = row.request
        prompt = request.prompt if self.spec.provenance == "full" else None
        provenance = Provenance(request.model, state.task_id, await self.run_id(), prompt)
        stored: list[OutputFile] = []
        checks: list[Check] = []
        for number, resource in enumerate(state.resources, start=1):
            # One decode per result: the download's check prepares it too.
            data, prepared = await self._client.download_checked(
                resource.url,
                functools.partial(
                    prepare_output,
                    spec=self.spec,
                    provenance=provenance,
                    expected=expected,
                    max_pixels=max_pixels,
                ),
            )
            assert prepared is not None  # a check was given
            info = prepared.source
            stem = base + (f"-{number}" if several else "")
            checks.extend(check for check in prepared.checks if check not in checks)
            carries = prepared.signed or (prepared.source_c2pa and prepared.data is data)
            stored.append(await self._store(row, stem, prepared.data, prepared.info, c2pa=carries))
            if prepared.keep_original:
                same = prepared.info.format == info.format
                name = f"{stem}.original" if same else stem
                stored.append(await self._store(row, name, data, info, c2pa=prepared.source_c2pa))
        return StoredResults(tuple(stored), tuple(checks))

    async def run_id(self) -> str:
        """The run's id in the provenance record: one per run directory, made by
        its first run and kept in its state folder, so a result fetched again
        by a later run is stored byte for byte as before."""
        async with self._run_id_lock:
            if self._run_id is None:
                self._run_id = await asyncio.to_thread(_load_run_id, RunPaths(self.run_dir))
            return self._run_id

    def remove(self, relative_paths: Iterable[str]) -> None:
        """Delete output files a row no longer has (its name or format changed);
        only files under outputs/ are ever touched. Synchronous, for a thread."""
        for relative in relative_paths:
            target = (self.run_dir / relative).resolve()
            if target.is_relative_to(self.folder.resolve()) and target.is_file():
                target.unlink()

    async def _store(
        self, row: Row, stem: str, data: bytes, info: ImageInfo, *, c2pa: bool = False
    ) -> OutputFile:
        extension = EXTENSIONS[info.format]
        relative = f"{stem}.{extension}"
        self.claim(row, relative)
        try:
            sha256 = await self._write_whole(self.folder / relative, data)
        except OSError as exc:
            raise LocalFailure(
                f"cannot write {OUTPUTS_DIR}/{relative}: {exc.strerror or exc}"
            ) from exc
        return OutputFile(
            path=f"{OUTPUTS_DIR}/{relative}",
            sha256=sha256,
            bytes=len(data),
            width=info.width,
            height=info.height,
            format=info.format.lower(),
            c2pa=c2pa,
        )

    def claim(self, row: Row, relative: str) -> None:
        """The last guard against two rows sharing a file: validation refuses
        names that collide, but a name like `x-1` of a row with one result and
        the first of another's two results can meet only here."""
        owner = self._owners.first_line(relative.casefold(), row.index)
        if owner is not None and owner != row.index:
            raise DownloadError(
                f"{OUTPUTS_DIR}/{relative} is already the file of row {owner} in this run "
                "(names are compared ignoring case); give the rows distinct output names",
                retry_may_cure=False,
            )

    async def _write_whole(self, target: Path, data: bytes) -> str:
        """Write `data` at `target` whole (aside, fsync, rename); its sha256."""
        relative = (
            target.relative_to(self.folder).parts if target.is_relative_to(self.folder) else ()
        )
        if not relative or any(part.startswith(".") or "\0" in part for part in relative):
            raise DownloadError(f"refusing to write outside {self.folder}: {str(target)!r}")
        aside = target.with_name(f".{target.name}.{_PROCESS_TOKEN}{next(_ASIDE_NUMBERS)}.part")
        # One thread call hashes, opens, writes, fsyncs, closes and renames: one
        # hop off the loop per file, and a run stopped mid-write (a 402, a signal)
        # cannot leave a file handle open behind it.
        writing = asyncio.ensure_future(
            asyncio.to_thread(_write_synced, aside, target, data, len(relative) > 1)
        )
        try:
            return await asyncio.shield(writing)
        except BaseException:
            await asyncio.shield(_remove_when_written(writing, aside))
            raise


#: Aside names: unique within the process by a counter, between processes by a
#: random token drawn once (not one urandom call per file).
_PROCESS_TOKEN = secrets.token_hex(4)
_ASIDE_NUMBERS = itertools.count()


def _load_run_id(paths: RunPaths) -> str:
    path = paths.state_dir / RUN_ID_FILE
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = path.read_text(encoding="ascii").strip()
        if text:
            return text
    made = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, made.encode("ascii") + b"\n")
    return made


def _write_synced(aside: Path, target: Path, data: bytes, make_folder: bool) -> str:
    digest = hashlib.sha256(data).hexdigest()
    if make_folder:
        target.parent.mkdir(parents=True, exist_ok=True)
    with open(aside, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(aside, target)
    return digest


async def _remove_when_written(writing: asyncio.Future[str], aside: Path) -> None:
    """The thread runs on after a cancel: let it finish before removing its file."""
    await asyncio.wait({writing})
    if not writing.cancelled():
        writing.exception()  # seen here (a full disk, say): the caller raises its own
    await asyncio.to_thread(aside.unlink, missing_ok=True)
