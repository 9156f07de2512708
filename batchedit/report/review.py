"""The before/after review page of a run: `batchedit report RUN_DIR --html FILE`
writes it as a file to share, `batchedit review` serves it (review_server.py).

Reads the run directory only (report.jsonl, summary.json, decisions.jsonl,
outputs/) and the input images the manifest named, found relative to the
manifest's folder (summary.json records where it was). The static page goes
to FILE with, beside it, a folder of thumbnails (`FILE-stem_files/`); it
links each thumbnail to the full file, relative to the page, so the page, its
folder and the run directory can be zipped and opened anywhere without a
network or a server. Where the links point is the `Links` seam: the server
gives its own URLs instead.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import urlsplit
from urllib.request import pathname2url

from batchedit.fsutil import atomic_writer
from batchedit.records import OutputFile, ReportRecord
from batchedit.report.counts import ReportCounts
from batchedit.report.decisions import (
    Decision,
    ReviewState,
    chosen_output,
    decided_sha256,
    read_decisions,
    review_state,
    with_decisions,
)
from batchedit.report.report_file import no_report_yet, read_report
from batchedit.report.review_page import PageHeader, RowView, Tile, web_link, write_page
from batchedit.report.summary import LastRun, format_seconds, read_last_run
from batchedit.report.thumbnails import Picture, Shown, Thumb, Unshown, make_thumbnails, picture_for
from batchedit.state.rundir import RunPaths

PAGE_MODE = 0o644
#: The page's state for a row with no result: nothing to decide, so never
#: "undecided" (the Undecided filter is the results awaiting a decision).
NO_RESULT = "no-result"


@dataclass(frozen=True, slots=True)
class RunReport:
    """What a finished (or interrupted) run left behind, read back."""

    paths: RunPaths
    records: tuple[ReportRecord, ...]  # `decision` filled from decisions.jsonl as it is now
    last_run: LastRun  # summary.json; all None when it is missing
    checks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # failed output checks
    decisions: Mapping[str, Decision] = field(default_factory=dict)  # the latest per row

    @property
    def manifest_dir(self) -> Path | None:
        manifest = self.last_run.manifest
        return Path(manifest).parent if manifest is not None else None

    @property
    def last_run_started(self) -> str | None:
        """When the last run began (ISO, UTC): rows finished since changed in it."""
        finished, wall = self.last_run.finished_at, self.last_run.wall_time_s
        if finished is None or wall is None:
            return None
        try:
            end = datetime.fromisoformat(finished.replace("Z", "+00:00"))
        except ValueError:
            return None
        return _iso(end - timedelta(seconds=float(wall)))


class Links(Protocol):
    """Where the page's links point: relative files (the static page) or the server."""

    def to(self, path: Path) -> str | None: ...

    def thumb(self, thumb: Thumb) -> str: ...


@dataclass(frozen=True, slots=True)
class PageWritten:
    path: Path
    rows: int
    thumbnails: int


def load_run(run_dir: Path) -> RunReport:
    """report.jsonl and summary.json, with FILE:LINE for a line that cannot be read."""
    paths = RunPaths(run_dir)
    if not paths.report.is_file():
        raise no_report_yet(paths, "no report.jsonl; name a run directory (the --out of a run)")
    decisions = read_decisions(paths.decisions)
    records = tuple(with_decisions(read_report(paths.report), decisions))
    last_run = read_last_run(paths) or LastRun()
    return RunReport(paths, records, last_run, _checks(paths.report), decisions)


def _checks(report: Path) -> dict[str, tuple[str, ...]]:
    """Each row's failed output checks (`checks`), for the rows that have any.
    Read from the lines as written, so the page shows them whichever version
    wrote the report."""
    found: dict[str, tuple[str, ...]] = {}
    with open(report, encoding="utf-8") as lines:
        for line in lines:
            if '"checks"' not in line:
                continue
            try:
                data = json.loads(line)
            except ValueError:
                continue  # read_report has said which line, and stopped
            flags = data.get("checks") if isinstance(data, dict) else None
            if isinstance(flags, list) and flags:
                found[str(data.get("id"))] = tuple(str(flag) for flag in flags)
    return found


def write_review(run: RunReport, page: Path) -> PageWritten:
    """Make the thumbnails (in threads), then write the page whole or not at all."""
    page = Path(os.path.abspath(page))
    folder = page.with_name(f"{page.stem}_files")
    thumbs = make_thumbnails(all_pictures(run), folder, progress=True)
    with atomic_writer(page, "w") as out:
        write_run_page(out, run, thumbs, _Links(page.parent, folder), live=False)
    page.chmod(PAGE_MODE)  # a page to share, not a private temporary file
    made = sum(1 for shown in thumbs.values() if isinstance(shown, Thumb))
    return PageWritten(page, len(run.records), made)


def all_pictures(run: RunReport) -> Iterator[Picture]:
    """Every picture the page shows: the inputs it can find, and the outputs."""
    base = run.manifest_dir
    for record in run.records:
        yield from (p for p in _input_pictures(record, base) if p is not None)
        yield from (_output_picture(run.paths, path) for path in _output_paths(record))


def write_run_page(
    out: IO[str], run: RunReport, thumbs: Mapping[str, Shown], links: Links, *, live: bool
) -> None:
    """The page, static (`live` False: decisions shown, not made) or served."""
    base, started = run.manifest_dir, run.last_run_started
    views = (_row_view(record, run, base, thumbs, links, started) for record in run.records)
    write_page(out, _header(run), views, live=live)


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

    def to(self, path: Path) -> str | None:
        return self._relative(path)

    def thumb(self, thumb: Thumb) -> str:
        return self._relative(self.folder / thumb.name)

    def _relative(self, path: Path) -> str:
        """A relative URL from the page to a local file."""
        return pathname2url(os.path.relpath(path, self.page_dir))


def _row_view(
    record: ReportRecord,
    run: RunReport,
    base: Path | None,
    thumbs: Mapping[str, Shown],
    links: Links,
    started: str | None,
) -> RowView:
    inputs = tuple(
        _input_tile(given, picture, thumbs, links)
        for given, picture in zip(record.images, _input_pictures(record, base), strict=True)
    )
    outputs = []
    for n, output in enumerate(record.outputs, start=1):
        picture = _output_picture(run.paths, output.path)
        shown = thumbs.get(picture.key)
        caption = "result" if len(record.outputs) == 1 else f"result {n}"
        detail = " · ".join(
            (f"{output.width}×{output.height} {output.format}", *provenance(output))
        )
        if isinstance(shown, Thumb):
            outputs.append(_thumb_tile(caption, picture, shown, links, detail))
        elif shown is None or shown.missing:
            outputs.append(Tile(caption, note=f"missing: {output.path}", detail=detail))
        else:
            outputs.append(Tile(caption, note=shown.reason, detail=detail))
    decision = run.decisions.get(record.id)
    note = decision.note if decision is not None else ""
    stale = review_state(record, decision) is ReviewState.STALE
    return RowView(
        record,
        inputs,
        tuple(outputs),
        state=page_state(record, decision),
        note="" if stale else note,  # a note on a result that is gone is not this one's
        previous_note=note if stale else "",
        checks=run.checks.get(record.id, ()),
        choice=chosen_output(record, decision)[0] + 1,
        changed=started is not None and (record.finished_at or "") >= started,
    )


def page_state(record: ReportRecord, decision: Decision | None) -> str:
    """Where a row stands on the page: its review state when it has a result
    to decide on, else NO_RESULT (an invalid, failed or pending row)."""
    if decided_sha256(record) is None:
        return NO_RESULT
    return review_state(record, decision).value


def provenance(output: OutputFile) -> tuple[str, ...]:
    """What an output says of where it came from, shown on its tile: its C2PA
    manifest, the service's original kept beside it (with its manifest), and
    the AI label its XMP carries."""
    said = []
    if output.c2pa:
        said.append("C2PA")
    original = output.original
    if original is not None:
        said.append("C2PA original kept" if original.c2pa else "original kept")
    if output.label is not None:
        said.append(f"AI label: {output.label}")
    return tuple(said)


def _input_tile(
    given: str, picture: Picture | None, thumbs: Mapping[str, Shown], links: Links
) -> Tile:
    if picture is None:
        if "://" not in given:
            return Tile(given, note="image not found (manifest folder unknown)")
        if web_link(given) is None:  # javascript://, file://, ...: text, never a link
            return Tile(given, note="not an http(s) link")
        # Never fetched by the page (it works offline, and a shop's image host
        # need not learn who reviews): a link out, opened only when clicked.
        parts = urlsplit(given)
        return Tile(f"{parts.hostname}{parts.path}", href=given, note="remote image")
    shown = thumbs.get(picture.key)
    caption = "data: image" if picture.path is None else Path(given).name
    if isinstance(shown, Thumb):
        return _thumb_tile(caption, picture, shown, links, "")
    return Tile(caption, note=shown.reason if isinstance(shown, Unshown) else "not found")


def _thumb_tile(caption: str, picture: Picture, thumb: Thumb, links: Links, detail: str) -> Tile:
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
    states: Counter[str] = Counter(
        page_state(record, run.decisions.get(record.id)) for record in run.records
    )
    started = run.last_run_started
    return PageHeader(
        title=run.paths.root.resolve().name,
        subtitle=str(run.paths.root.resolve()),
        facts=_facts(run.last_run, len(run.records)),
        rows=len(run.records),
        statuses=counts.statuses,
        categories=counts.categories,
        states=states,
        checks=Counter(flag for flags in run.checks.values() for flag in flags),
        changed=sum(
            1 for r in run.records if started is not None and (r.finished_at or "") >= started
        ),
    )


def _iso(moment: datetime) -> str:
    """The report's own form (`utc_now_iso`), so the two compare as strings."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
