"""`batchedit report RUN_DIR --html FILE`: the before/after review page of a run.

Reads the run directory only (report.jsonl, summary.json, outputs/) and the
input images the manifest named, found relative to the manifest's folder
(summary.json records where it was). Writes FILE and, beside it, a folder of
thumbnails (`FILE-stem_files/`); the page links each thumbnail to the full
file, relative to the page, so the page, its folder and the run directory can
be zipped and opened anywhere without a network or a server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import pathname2url

from batchedit.errors import UsageError
from batchedit.fsutil import atomic_writer
from batchedit.records import ReportRecord
from batchedit.report.counts import ReportCounts
from batchedit.report.report_file import read_report
from batchedit.report.review_page import PageHeader, RowView, Tile, write_page
from batchedit.report.summary import LastRun, format_seconds, read_last_run
from batchedit.report.thumbnails import Picture, Thumb, make_thumbnails, picture_for
from batchedit.state.rundir import RunPaths

PAGE_MODE = 0o644


@dataclass(frozen=True, slots=True)
class RunReport:
    """What a finished (or interrupted) run left behind, read back."""

    paths: RunPaths
    records: tuple[ReportRecord, ...]
    last_run: LastRun  # summary.json; all None when it is missing

    @property
    def manifest_dir(self) -> Path | None:
        manifest = self.last_run.manifest
        return Path(manifest).parent if manifest is not None else None


@dataclass(frozen=True, slots=True)
class PageWritten:
    path: Path
    rows: int
    thumbnails: int


def load_run(run_dir: Path) -> RunReport:
    """report.jsonl and summary.json, with FILE:LINE for a line that cannot be read."""
    paths = RunPaths(run_dir)
    if not paths.report.is_file():
        raise UsageError(
            f"{run_dir} has no report.jsonl; name a run directory (the --out of a run)"
        )
    records = tuple(read_report(paths.report))
    return RunReport(paths, records, read_last_run(paths) or LastRun())


def write_review(run: RunReport, page: Path) -> PageWritten:
    """Make the thumbnails (in threads), then write the page whole or not at all."""
    page = Path(os.path.abspath(page))
    folder = page.with_name(f"{page.stem}_files")
    base = run.manifest_dir
    pictures: list[Picture] = []
    for record in run.records:
        pictures.extend(p for p in _input_pictures(record, base) if p is not None)
        pictures.extend(_output_picture(run.paths, path) for path in _output_paths(record))
    thumbs = make_thumbnails(pictures, folder)
    links = _Links(page.parent, folder)
    views = (_row_view(record, run.paths, base, thumbs, links) for record in run.records)
    with atomic_writer(page, "w") as out:
        write_page(out, _header(run), views)
    page.chmod(PAGE_MODE)  # a page to share, not a private temporary file
    return PageWritten(page, len(run.records), len(thumbs))


def _output_paths(record: ReportRecord) -> list[str]:
    return [output.path for output in record.outputs]


def _input_pictures(record: ReportRecord, base: Path | None) -> list[Picture | None]:
    if base is None:
        return [None if "://" in given else _unlocated(given) for given in record.images]
    return [picture_for(given, base) for given in record.images]


def _unlocated(given: str) -> Picture | None:
    """Without the manifest's folder only absolute paths and data: URIs can be found."""
    if given.lower().startswith("data:") or Path(given).expanduser().is_absolute():
        return picture_for(given, Path.cwd())
    return None


def _output_picture(paths: RunPaths, path: str) -> Picture:
    full = Path(os.path.abspath(paths.root / path))
    return Picture(key=str(full), path=full)


@dataclass(frozen=True, slots=True)
class _Links:
    page_dir: Path
    folder: Path

    def to(self, path: Path) -> str:
        """A relative URL from the page to a local file."""
        return pathname2url(os.path.relpath(path, self.page_dir))

    def thumb(self, thumb: Thumb) -> str:
        return self.to(self.folder / thumb.name)


def _row_view(
    record: ReportRecord,
    paths: RunPaths,
    base: Path | None,
    thumbs: Mapping[str, Thumb],
    links: _Links,
) -> RowView:
    inputs = tuple(
        _input_tile(given, picture, thumbs, links)
        for given, picture in zip(record.images, _input_pictures(record, base), strict=True)
    )
    outputs = []
    for n, output in enumerate(record.outputs, start=1):
        picture = _output_picture(paths, output.path)
        thumb = thumbs.get(picture.key)
        caption = "result" if len(record.outputs) == 1 else f"result {n}"
        detail = f"{output.width}×{output.height} {output.format}"
        if thumb is None:
            outputs.append(Tile(caption, note=f"missing: {output.path}", detail=detail))
        else:
            outputs.append(_thumb_tile(caption, picture, thumb, links, detail))
    return RowView(record, inputs, tuple(outputs))


def _input_tile(
    given: str, picture: Picture | None, thumbs: Mapping[str, Thumb], links: _Links
) -> Tile:
    if picture is None:
        if "://" in given:
            parts = urlsplit(given)
            return Tile(f"{parts.hostname}{parts.path}", href=given, note="remote image")
        return Tile(given, note="image not found (manifest folder unknown)")
    thumb = thumbs.get(picture.key)
    caption = "data: image" if picture.path is None else Path(given).name
    if thumb is None:
        return Tile(caption, note="not found or not an image")
    return _thumb_tile(caption, picture, thumb, links, "")


def _thumb_tile(caption: str, picture: Picture, thumb: Thumb, links: _Links, detail: str) -> Tile:
    href = links.to(picture.path) if picture.path is not None else None
    return Tile(
        caption,
        href=href,
        thumb=links.thumb(thumb),
        width=thumb.width,
        height=thumb.height,
        detail=detail,
    )


def _header(run: RunReport) -> PageHeader:
    counts = ReportCounts()
    for record in run.records:
        counts.add(record)
    return PageHeader(
        title=run.paths.root.resolve().name,
        subtitle=str(run.paths.root.resolve()),
        facts=_facts(run.last_run, len(run.records)),
        rows=len(run.records),
        statuses=counts.statuses,
        categories=counts.categories,
    )


def _facts(last: LastRun, rows: int) -> tuple[str, ...]:
    facts = [f"{rows} rows"]
    if last.finished_at is not None:
        facts.append(f"finished {last.finished_at[:16].replace('T', ' ')} UTC")
    if last.wall_time_s is not None:
        facts.append(f"wall time {format_seconds(float(last.wall_time_s))}")
    if last.paid_submissions is not None:
        facts.append(f"{last.paid_submissions} paid submissions in the last run")
    if last.latency_p50_s is not None and last.latency_p95_s is not None:
        p50, p95 = last.latency_p50_s, last.latency_p95_s
        facts.append(f"task latency p50 {p50:.1f} s, p95 {p95:.1f} s")
    if last.manifest is not None:
        facts.append(f"manifest {Path(last.manifest).name}")
    return tuple(facts)
