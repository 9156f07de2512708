"""The writer's storage side: results downloaded, verified as images, and
stored under `outputs/` so that a file appears only complete (invariant 2).

Decoding and format conversion run in a thread; the bytes go to a hidden
temporary name in the same folder, are fsynced, then renamed into place, in
one thread call per file. Before that each result is checked (checks.py), labelled and,
when asked, converted with its metadata kept (metadata.py), and signed
(c2pa_boxes.py). Names come from the row's output stem (naming.py), so no row id
or field can place a file outside `outputs/`; a last check here refuses any
target that would, whatever produced it, and any target another row of this
run already wrote (compared case-folded: one file on macOS and Windows), so a
row never overwrites another row's file (invariant 9). The report lists
exactly the files written: the converted result, and the service's original
when kept.

Only PNG, JPEG and WebP results are accepted, told by their first bytes and
decoded by Pillow with those formats only (no TIFF, ICO, or EPS that would
have Pillow run Ghostscript); anything else fails its row naming what it is,
at once: fetching it again would bring the same. A disk that refuses the
write (full, read-only) is a LocalFailure: the run stops, exit 4.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import itertools
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from batchedit.api.client import ModellixClient
from batchedit.api.task_state import TaskState
from batchedit.errors import DownloadError, LocalFailure
from batchedit.fsutil import atomic_write_bytes, safe_name
from batchedit.imagetypes import describe_content, sniff_image_type
from batchedit.manifest.naming import OutputSpec
from batchedit.manifest.seen_ids import SeenIds
from batchedit.pipeline.c2pa_boxes import has_c2pa, sign_output, webp_is_lossless
from batchedit.pipeline.checks import (
    ExpectedShape,
    check_image,
    expected_shape,
    format_limit_problem,
)
from batchedit.pipeline.metadata import (
    Provenance,
    encode_image,
    fit_xmp,
    label_xmp,
    read_carried,
    restamp_xmp,
)
from batchedit.pipeline.payload import same_pixels
from batchedit.records import Check, OutputFile, Row
from batchedit.state.rundir import RunPaths

OUTPUTS_DIR = "outputs"
RUN_ID_FILE = "run_id"
_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
ACCEPTED_FORMATS = tuple(_EXTENSIONS)
#: A JPEG whose pixels are only checked is decoded no smaller than this on its
#: long side (the blank check reads a 64 px sample of it).
CHECK_DECODE_PX = 512


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class StoredResults:
    """A task's stored files, and the checks any of them failed."""

    outputs: tuple[OutputFile, ...]
    checks: tuple[Check, ...]


def inspect_image(data: bytes) -> ImageInfo:
    """Decode `data` fully (a truncated file fails here); synchronous, for a thread.
    A body that is not PNG, JPEG or WebP fails for good (`retry_may_cure`
    False), naming what it is."""
    image, (width, height) = decode_result(data)
    with image:
        return ImageInfo(image.format or "", width, height)


def decode_result(
    data: bytes, *, draft_px: int | None = None
) -> tuple[Image.Image, tuple[int, int]]:
    """`data` opened as PNG, JPEG or WebP only and decoded whole; the caller
    closes it. A body cut short fails with a DownloadError a new download may
    cure; a body that is no such image at all fails for good. With `draft_px`
    a JPEG is decoded at a reduced scale (1/2 to 1/8) no smaller than that on
    its long side: libjpeg still reads every byte of the scans, so a file
    cut short or corrupt fails the same, at a tenth of the CPU and memory at
    4K. Returned with the full size (the image's own is then the reduced one)."""
    if sniff_image_type(data) is None:
        raise DownloadError(
            f"the result is {describe_content(data)}; only PNG, JPEG and WebP are accepted",
            retry_may_cure=False,
        )
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DownloadError(f"the downloaded result is not a valid image ({exc})") from exc
    full_size = image.size
    try:
        if draft_px is not None and image.format == "JPEG":
            image.draft(image.mode, (draft_px, draft_px))
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        image.close()
        raise DownloadError(f"the downloaded result is not a valid image ({exc})") from exc
    return image, full_size


@dataclass(frozen=True, slots=True)
class Prepared:
    """A result made ready to store, and what the report says about it."""

    data: bytes  # the row's output file: the service's bytes, or a re-encoding
    info: ImageInfo
    source: ImageInfo  # the service's file as it came
    keep_original: bool  # store the service's bytes too, untouched
    source_c2pa: bool  # the service's file carries a C2PA manifest
    signed: bool  # `data` carries a manifest we signed
    checks: tuple[Check, ...]


def prepare_output(
    data: bytes, spec: OutputSpec, provenance: Provenance, expected: ExpectedShape | None
) -> Prepared:
    """Decode a downloaded result once, check it, then convert and label it as
    `spec` says, keeping its ICC profile, EXIF and XMP. The download's own
    check: a body that does not decode may be fetched again; anything failing
    after it decoded would fail the same on a new download, so it is final.
    Synchronous, for a thread.

    A JPEG stored as it came (relabelled in place, no manifest to rewrite)
    has its pixels only checked: it is decoded at a reduced scale."""
    source_c2pa = has_c2pa(data)
    checked_only = (
        sniff_image_type(data) == "image/jpeg"
        and spec.pillow_format in (None, "JPEG")
        and not source_c2pa
    )
    image, size = decode_result(data, draft_px=CHECK_DECODE_PX if checked_only else None)
    try:
        return _prepare(image, size, data, source_c2pa, spec, provenance, expected)
    except DownloadError as exc:
        if not exc.retry_may_cure:
            raise
        raise DownloadError(exc.message, retry_may_cure=False) from exc
    finally:
        image.close()


def _prepare(
    image: Image.Image,
    size: tuple[int, int],
    data: bytes,
    source_c2pa: bool,
    spec: OutputSpec,
    provenance: Provenance,
    expected: ExpectedShape | None,
) -> Prepared:
    """A result in the wanted format is never encoded again (a `quality`
    applies to conversions only): it is relabelled in place, or stored as it
    came with `ai_label: off`; one holding a C2PA manifest is written afresh
    without it (the original is kept beside, see c2pa_boxes.py)."""
    width, height = size  # the file's: `image` may be decoded at a reduced scale
    source = ImageInfo(image.format or "", width, height)
    source_format = source.format
    checks = check_image(image, expected, size)
    target = spec.pillow_format or source_format
    problem = format_limit_problem(target, width, height)
    if problem is not None:
        raise DownloadError(problem)
    carried = read_carried(image)
    xmp = carried.xmp
    if spec.ai_label != "off":
        xmp = label_xmp(carried.xmp, spec.ai_label, provenance)
    xmp = fit_xmp(xmp, target, spec.ai_label, provenance)
    if target != source_format:
        output = encode_image(image, target, spec.quality, carried, xmp)
    elif xmp == carried.xmp or xmp is None:
        output = data
    elif source_c2pa:  # the new XMP breaks the manifest: write a file without it
        lossless = webp_is_lossless(data)
        output = encode_image(image, target, None, carried, xmp, lossless_source=lossless)
    else:
        output = restamp_xmp(data, xmp)  # in place: the pixels are not encoded again
    info = ImageInfo(target, width, height)
    signed = False
    if spec.c2pa_sign is not None:
        title = f"{provenance.task_id}.{_EXTENSIONS[target]}"
        output = sign_output(output, target, data, source_format, spec.c2pa_sign, title)
        signed = True
    if output is not data and (signed or target == source_format):
        # What is stored must be the image checked: relabelled in place, the
        # same pixel bytes say so; anything else must decode, whatever made it.
        if not same_pixels(data, output, target):
            inspect_image(output)
    changed = output is not data
    keep = changed and (spec.keep_original or (source_c2pa and spec.c2pa == "keep"))
    return Prepared(output, info, source, keep, source_c2pa, signed, checks)


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
                    prepare_output, spec=self.spec, provenance=provenance, expected=expected
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
        extension = _EXTENSIONS[info.format]
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
