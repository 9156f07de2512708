"""`batchedit export RUN_DIR --to DIR`: the chosen results, ready for a shop import.

Each chosen row's outputs are copied (or hard-linked, `--link`) into DIR
under their output names (the path under `outputs/`), each written aside and
renamed, and `DIR/feed.csv` lists them (id, file, sha256, width, height,
format, model, decision) for a shop import to map. DIR may hold other
files: export keeps a small manifest (`DIR/.batchedit-export.json`) of what
it wrote, and refuses, before writing anything, to overwrite a file it did
not write or one changed since it did. Files it wrote that are no longer
chosen (a row rejected since) are removed, so DIR always matches feed.csv.
A copy is hashed on the way and checked against the report: a result
changed since the run is not published. Nor is a simulator's result
(the report's `origin` is `simulated`): an export choosing any is refused
before anything is written, unless `allow_simulated` (`--allow-simulated`).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from batchedit.errors import UsageError
from batchedit.fsutil import PARTIAL_SUFFIX, atomic_write_bytes, atomic_writer, fsync_dir
from batchedit.records import OutputFile, ReportRecord, Status, Verdict
from batchedit.report.review import RunReport
from batchedit.state.fingerprint import sha256_file

MANIFEST = ".batchedit-export.json"
FEED = "feed.csv"
FEED_COLUMNS = ("id", "file", "sha256", "width", "height", "format", "model", "decision")
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Exported:
    feed: Path
    files: int  # in DIR now
    written: int  # copied or linked this time (the others were there already)
    removed: int  # written by an earlier export, no longer chosen


@dataclass(frozen=True, slots=True)
class _Item:
    record: ReportRecord
    output: OutputFile
    name: str  # relative to DIR, POSIX


def export_outputs(
    run: RunReport,
    target: Path,
    *,
    only: Verdict | None = None,
    link: bool = False,
    allow_simulated: bool = False,
) -> Exported:
    """Publish the succeeded rows' outputs (only those decided `only`, if given);
    refuse (UsageError, nothing written) if any is a simulator's, unless allowed."""
    items = list(_chosen(run, only))
    if not allow_simulated:
        _refuse_simulated(run, items)
    target.mkdir(parents=True, exist_ok=True)
    owned = _read_manifest(target)
    _refuse_foreign(target, [item.name for item in items] + [FEED], owned)
    # Record the intent first: a crash between here and the end leaves files
    # the manifest already names, so the next export may replace them.
    planned = {item.name: item.output.sha256 for item in items}
    _write_manifest(target, {**owned, **planned})
    written = 0
    for item in items:
        destination = target / item.name
        if owned.get(item.name) == item.output.sha256 and _same(destination, item.output):
            continue
        _place(run.paths.root / item.output.path, destination, item.output, link=link)
        written += 1
    removed = 0
    for name in sorted(set(owned) - set(planned) - {FEED}):
        stale = target / name
        if stale.is_file() and sha256_file(stale) == owned[name]:
            stale.unlink()
            removed += 1
    feed = target / FEED
    with atomic_writer(feed, "w") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FEED_COLUMNS)
        for item in items:
            output, record = item.output, item.record
            writer.writerow(
                (
                    record.id,
                    item.name,
                    output.sha256,
                    output.width,
                    output.height,
                    output.format,
                    record.model or "",
                    record.decision.value if record.decision else "",
                )
            )
    _write_manifest(target, {**planned, FEED: sha256_file(feed)})
    return Exported(feed, len(items), written, removed)


def _chosen(run: RunReport, only: Verdict | None) -> Iterator[_Item]:
    for record in run.records:
        if record.status is not Status.SUCCEEDED or (only and record.decision is not only):
            continue
        for output in record.outputs:
            yield _Item(record, output, _output_name(run, output))


def _refuse_simulated(run: RunReport, items: list[_Item]) -> None:
    """Simulated pictures are never published as the service's by default."""
    rows = len({item.record.id for item in items if item.record.simulated})
    if rows:
        raise UsageError(
            f"{rows} row(s) of {run.paths.root} hold results from the simulator, not the "
            "service; nothing was exported. Run the job for real into the run directory "
            "first (it pays for those rows), or give --allow-simulated to export them anyway"
        )


def _output_name(run: RunReport, output: OutputFile) -> str:
    """The path under outputs/, checked: a report line cannot send a file elsewhere."""
    path = PurePosixPath(output.path)
    parts = path.parts
    if len(parts) < 2 or parts[0] != "outputs" or ".." in parts or path.is_absolute():
        raise UsageError(
            f"{run.paths.report}: output path {output.path!r} is not under outputs/; "
            "run again to rewrite the report"
        )
    return str(PurePosixPath(*parts[1:]))


def _read_manifest(target: Path) -> dict[str, str]:
    path = target / MANIFEST
    if not path.exists():
        return {}
    with contextlib.suppress(ValueError, KeyError, TypeError):  # unreadable: said below
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"]
        if isinstance(files, dict) and all(isinstance(v, str) for v in files.values()):
            return {str(name): sha for name, sha in files.items()}
    raise UsageError(f"{path} is unreadable; remove it only if DIR holds no earlier export")


def _write_manifest(target: Path, files: dict[str, str]) -> None:
    text = json.dumps({"written_by": "batchedit export", "files": files}, indent=1) + "\n"
    atomic_write_bytes(target / MANIFEST, text.encode())


def _refuse_foreign(target: Path, names: list[str], owned: dict[str, str]) -> None:
    """Every file export would write over must be one it wrote, unchanged since."""
    foreign = []
    for name in names:
        path = target / name
        if not os.path.lexists(path):
            continue
        if name not in owned or not path.is_file() or sha256_file(path) != owned[name]:
            foreign.append(str(path))
    if foreign:
        shown = "\n  ".join(foreign[:20]) + ("\n  ..." if len(foreign) > 20 else "")
        raise UsageError(
            f"refusing to overwrite {len(foreign)} file(s) that batchedit export did not write "
            f"(or that changed since):\n  {shown}\nexport into an empty folder, or move them away"
        )


def _same(path: Path, output: OutputFile) -> bool:
    try:
        return path.stat().st_size == output.bytes and sha256_file(path) == output.sha256
    except OSError:
        return False


def _place(source: Path, destination: Path, output: OutputFile, *, link: bool) -> None:
    """Copy or hard-link `source` to `destination`, whole or not at all."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    if link:
        if sha256_file(source) != output.sha256:
            raise _changed(source)
        aside = destination.with_name(f".{destination.name}.{os.getpid()}{PARTIAL_SUFFIX}")
        aside.unlink(missing_ok=True)
        try:
            os.link(source, aside)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                raise UsageError("--link needs DIR on the same file system as RUN_DIR") from exc
            raise
        os.replace(aside, destination)
        fsync_dir(destination.parent)
        return
    fd, name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=PARTIAL_SUFFIX, dir=destination.parent
    )
    try:
        digest = hashlib.sha256()
        with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
            while chunk := src.read(CHUNK_BYTES):
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        if digest.hexdigest() != output.sha256:
            raise _changed(source)
        shutil.copymode(source, name)
        os.replace(name, destination)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    fsync_dir(destination.parent)


def _changed(source: Path) -> UsageError:
    return UsageError(
        f"{source} is not the file the report recorded (changed since the run); "
        "run again to fetch it, then export"
    )
