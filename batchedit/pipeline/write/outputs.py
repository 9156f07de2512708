"""The writer's storage side: results downloaded, verified as images, and
stored under `outputs/` so that a file appears only complete (invariant 2).

Decoding and format conversion run in a thread; the bytes go to a hidden
temporary name in the same folder, then are fsynced and renamed into place
with the folder fsynced (fsutil.replace_synced), in one thread call per
file. Before that each result is checked, labelled and, when asked,
converted and signed (prepare.py). Names come from the row's output stem
(naming.py), so no row id or field can place a file outside `outputs/`; a
last check here refuses any target that would, whatever produced it, and
any target another row of this run already wrote (compared case-folded: one
file on macOS and Windows), so a row never overwrites another row's file
(invariant 9). The report lists exactly the files written: one output per
result, the service's original (when kept) an attribute of it.

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
import itertools
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from batchedit.api.client import ModellixClient
from batchedit.api.download import Fetched
from batchedit.api.task_state import TaskState
from batchedit.errors import DownloadError, LocalFailure
from batchedit.fsutil import (
    PARTIAL_SUFFIX,
    RUN_OUTPUTS_DIR,
    atomic_write_bytes,
    replace_synced,
    safe_name,
)
from batchedit.manifest.naming import OutputSpec
from batchedit.manifest.seen_ids import SeenIds
from batchedit.pictures import PIXEL_BUDGET, PixelBudget, result_pixel_cap
from batchedit.pipeline.write.checks import ExpectedShape, expected_pixels, expected_shape
from batchedit.pipeline.write.metadata import Provenance
from batchedit.pipeline.write.prepare import (
    EXTENSIONS,
    Prepared,
    decode_weight,
    inspect_result,
    prepare_file,
)
from batchedit.records import Check, OriginalFile, OutputFile, Row
from batchedit.state.rundir import RunPaths

RUN_ID_FILE = "run_id"
T = TypeVar("T")


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
        budget: PixelBudget = PIXEL_BUDGET,
    ) -> None:
        self.run_dir = run_dir
        #: A result failing a check fails its row (the writer reads this).
        self.strict_checks = strict_checks
        self.folder = run_dir / RUN_OUTPUTS_DIR
        self._client = client
        self.spec = spec or OutputSpec()
        #: Pixels decoded at once, shared with every other decoding thread.
        self.budget = budget
        self._run_id: str | None = None
        self._run_id_lock = asyncio.Lock()
        #: Case-folded paths under outputs/ written in this run -> the row that
        #: wrote it, in a few bytes per path (a million-row run stays small).
        self._owners = SeenIds()

    async def store_checked(self, row: Row, state: TaskState) -> StoredResults:
        """Every resource of a succeeded task, checked, labelled and stored as
        `STEM.EXT` or `STEM-N.EXT` when several, STEM being the row's output
        name (its id by default), one output per resource; the service's own
        file beside it when kept (`STEM.original.EXT`), as that output's
        `original`. The pipeline creates `outputs/` once before any task can
        finish."""
        several = len(state.resources) > 1
        base = row.output_stem or safe_name(row.id)
        request = row.request
        prompt = request.prompt if self.spec.provenance == "full" else None
        provenance = Provenance(request.model, state.task_id, await self.run_id(), prompt)
        prepare = functools.partial(
            self._prepare,
            max_pixels=result_pixel_cap(expected_pixels(request)),
            provenance=provenance,
            expected=expected_shape(request),
        )
        stored: list[OutputFile] = []
        checks: list[Check] = []
        for number, resource in enumerate(state.resources, start=1):
            made: list[Path] = []  # files written aside for this result, until placed
            try:
                # One decode per result: the download's check prepares it too.
                fetched, prepared = await self._client.download_to(
                    resource.url, self._aside(made), functools.partial(prepare, made=made)
                )
                assert prepared is not None  # a check was given
                stem = base + (f"-{number}" if several else "")
                checks.extend(check for check in prepared.checks if check not in checks)
                stored.append(await self._store(row, stem, fetched, prepared))
            finally:
                await asyncio.shield(asyncio.to_thread(_remove_all, made))
        return StoredResults(tuple(stored), tuple(checks))

    async def _prepare(
        self,
        fetched: Fetched,
        *,
        max_pixels: int,
        provenance: Provenance,
        expected: ExpectedShape | None,
        made: list[Path],
    ) -> Prepared:
        """A downloaded result under the picture policy: its container checked
        in a thread, then decoded and prepared in a thread once the pixel
        budget has its pixels for it (waited for here, on the loop, so no
        thread of the pool sits waiting)."""
        layout = await asyncio.to_thread(inspect_result, fetched.path, max_pixels=max_pixels)
        work = functools.partial(
            prepare_file,
            fetched,
            layout,
            self.spec,
            provenance,
            expected,
            aside=lambda: self._aside(made),
        )
        async with self.budget.hold_async(decode_weight(layout, self.spec)):
            return await _to_the_end(work)

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

    def _aside(self, made: list[Path]) -> Path:
        """A new hidden name in outputs/ for a file on its way (swept as a
        leftover `.part` should the process die), noted in `made`."""
        path = self.folder / f".{_PROCESS_TOKEN}{next(_ASIDE_NUMBERS)}{PARTIAL_SUFFIX}"
        made.append(path)
        return path

    async def _store(self, row: Row, stem: str, fetched: Fetched, prepared: Prepared) -> OutputFile:
        """The prepared output renamed into place as `STEM.EXT`, and the
        service's own file beside it as `STEM.original.EXT` when kept: an
        attribute of the output, never an output of its own."""
        info, source = prepared.info, prepared.source
        placed = await self._place(row, f"{stem}.{EXTENSIONS[info.format]}", prepared.output)
        original = None
        if prepared.keep_original:
            name = f"{stem}.original.{EXTENSIONS[source.format]}"
            kept = await self._place(row, name, fetched.path)
            original = OriginalFile(kept, fetched.sha256, fetched.bytes, prepared.source_c2pa)
        as_it_came = prepared.output == fetched.path
        return OutputFile(
            path=placed,
            sha256=prepared.sha256,
            bytes=prepared.bytes,
            width=info.width,
            height=info.height,
            format=info.format.lower(),
            c2pa=prepared.signed or (prepared.source_c2pa and as_it_came),
            original=original,
            label=prepared.label,
        )

    def claim(self, row: Row, relative: str) -> None:
        """The last guard against two rows sharing a file: validation refuses
        names that collide, but a name like `x-1` of a row with one result and
        the first of another's two results can meet only here."""
        owner = self._owners.first_line(relative.casefold(), row.index)
        if owner is not None and owner != row.index:
            raise DownloadError(
                f"{RUN_OUTPUTS_DIR}/{relative} is already the file of row {owner} in this run "
                "(names are compared ignoring case); give the rows distinct output names",
                retry_may_cure=False,
            )

    async def _place(self, row: Row, relative: str, source: Path) -> str:
        """`source`, a whole file in outputs/, fsynced and renamed to `relative`
        under outputs/ (confined there, and claimed for `row`); its report path."""
        self.claim(row, relative)
        target = self.folder / relative
        parts = target.relative_to(self.folder).parts if target.is_relative_to(self.folder) else ()
        if not parts or any(part.startswith(".") or "\0" in part for part in parts):
            raise DownloadError(f"refusing to write outside {self.folder}: {str(target)!r}")
        try:
            # One thread call fsyncs and renames: one hop off the loop per file.
            await _to_the_end(functools.partial(replace_synced, source, target))
        except OSError as exc:
            raise LocalFailure(
                f"cannot write {RUN_OUTPUTS_DIR}/{relative}: {exc.strerror or exc}"
            ) from exc
        return f"{RUN_OUTPUTS_DIR}/{relative}"


async def _to_the_end(work: Callable[[], T]) -> T:
    """`work` in a thread, waited for to its end even when the caller is
    cancelled (a run stopped by a 402 or a signal): the thread runs on after a
    cancel, and its files and its share of the pixel budget are given back
    only once it has stopped."""
    running = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        await asyncio.wait({running})
        if not running.cancelled():
            running.exception()  # seen here: the cancel is what the caller raises
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


def _remove_all(paths: list[Path]) -> None:
    """Files written aside and not placed (a failure, a cancel): removed."""
    for path in paths:
        path.unlink(missing_ok=True)
