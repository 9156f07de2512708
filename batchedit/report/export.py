"""`batchedit export RUN_DIR --to DEST`: the chosen results, where the shop reads them.

DEST is a local folder or an object store prefix (`s3://`, `gs://`, `az://`):
each chosen row's chosen candidate (decisions.py: `choice`, else its first
output) is published under its output name (the path under `outputs/`);
`all_candidates` publishes every output of the row, the chosen first, so the
feeds list the rest as additional images. Only deliverables are published,
never a kept original unless asked (below). And `feed.csv` beside them lists
them, one line per output (id, file, sha256, width, height, format, model,
decision, and `image_link` under
`--public-base-url`) for a shop import to map, a cell that could start a
spreadsheet formula with a `'` before it (manifest/spreadsheet.py);
`--feed merchant` and `--feed shopify` add the shops' own files
(publish/feeds.py, shopify.py), whose values stay verbatim.
With `with_originals` (`--with-originals`) each output's kept original (the
service's own file, holding its C2PA manifest) is published too, under
`originals/` with the output's name and its own extension, and `feed.csv`
gains an `original` column naming it; the shops' feeds list the outputs only.
How files get there is publish/sync.py's: only what changed is written,
nothing the export did not write is overwritten (unless `force`), files no
longer chosen are removed only with `prune`, and a stopped export resumes.
A file is checked against the report on its way: a result changed since the
run is not published. Nor is a simulator's result (the report's `origin` is
`simulated`): an export choosing any is refused before anything is written,
unless `allow_simulated` (`--allow-simulated`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from batchedit.errors import UsageError
from batchedit.manifest.spreadsheet import spreadsheet_row
from batchedit.records import OutputFile, ReportRecord, Status, Verdict
from batchedit.report.decisions import Decision, chosen_output
from batchedit.report.publish.destination import CONTENT_TYPES, Upload
from batchedit.report.publish.feeds import FEED_KINDS, PublishedRow, merchant_feed
from batchedit.report.publish.links import PublicBase
from batchedit.report.publish.shopify import shopify_feed
from batchedit.report.publish.sync import Feed, SyncOptions, sync
from batchedit.report.publish.targets import open_destination
from batchedit.report.review import RunReport

FEED = "feed.csv"
FEED_COLUMNS = ("id", "file", "sha256", "width", "height", "format", "model", "decision")
#: Files written at a time: enough to keep a bucket's connection busy, few enough
#: that a store's conditional puts (each held in memory whole) stay small.
MAX_IN_FLIGHT = 8


@dataclass(frozen=True, slots=True)
class ExportOptions:
    only: Verdict | None = None  # only the rows decided so in review
    link: bool = False  # hard-link into a local folder instead of copying
    force: bool = False  # replace files at the chosen names that export did not write
    prune: bool = False  # remove files an earlier export wrote that are no longer chosen
    public_base_url: str | None = None  # where DEST is served: feed.csv's image_link
    feeds: tuple[str, ...] = ()  # "merchant", "shopify"
    max_in_flight: int = MAX_IN_FLIGHT  # files written at a time
    show_progress: bool = False
    allow_simulated: bool = False  # publish the simulator's results too
    all_candidates: bool = False  # every output of a row, the chosen first; else the chosen
    with_originals: bool = False  # the kept originals too, under originals/


@dataclass(frozen=True, slots=True)
class Exported:
    where: str  # DEST as named
    feeds: tuple[str, ...]  # the feeds' names in DEST
    files: int  # chosen files in DEST now
    written: int  # copied or uploaded this time (the others were there already)
    removed: int  # written by an earlier export, no longer chosen, removed (--prune)
    left: int  # written by an earlier export, no longer chosen, left in place
    replaced: int  # someone else's files replaced (--force)
    warnings: tuple[str, ...] = ()  # choices set aside for the first candidate


ORIGINALS = "originals"


@dataclass(frozen=True, slots=True)
class _Item:
    record: ReportRecord
    output: OutputFile
    name: str  # relative to DEST, POSIX
    original: str | None = None  # with_originals: the name its kept original is published at


async def export_outputs(
    run: RunReport, target: str | Path, options: ExportOptions = ExportOptions()
) -> Exported:
    """Publish the succeeded rows' outputs (only those decided `options.only`, if given);
    refuse (UsageError, nothing written) if any is a simulator's, unless allowed."""
    base = PublicBase.parse(options.public_base_url) if options.public_base_url else None
    unknown = sorted(set(options.feeds) - set(FEED_KINDS))
    if unknown:
        raise UsageError(f"--feed {unknown[0]}: one of {', '.join(FEED_KINDS)}")
    if options.feeds and base is None:
        raise UsageError(
            "--feed merchant/shopify name each picture by its URL: give --public-base-url, "
            "the address DEST is served at"
        )
    warnings: list[str] = []
    items = list(_chosen(run, options, warnings))
    if not options.allow_simulated:
        _refuse_simulated(run, items)
    feeds = [Feed(FEED, _feed_csv(items, base, originals=options.with_originals), "text/csv")]
    if base is not None:
        rows = _published_rows(items)
        if "merchant" in options.feeds:
            feeds.append(merchant_feed(rows, base))
        if "shopify" in options.feeds:
            feeds.append(shopify_feed(rows, base))
    uploads = [
        Upload(
            item.name,
            run.paths.root / item.output.path,
            item.output.sha256,
            item.output.bytes,
            CONTENT_TYPES.get(item.output.format.lower(), "application/octet-stream"),
        )
        for item in items
    ]
    uploads += [_original_upload(run, item) for item in items if item.original is not None]
    if len({upload.name for upload in uploads}) != len(uploads):
        raise UsageError(
            f"an output is named like an original under {ORIGINALS}/; "
            "export without --with-originals, or rename the outputs"
        )
    dest = open_destination(target, link=options.link)
    synced = await sync(
        dest,
        uploads,
        feeds,
        SyncOptions(
            force=options.force,
            prune=options.prune,
            max_in_flight=options.max_in_flight,
            show_progress=options.show_progress,
        ),
    )
    return Exported(
        dest.where,
        tuple(feed.name for feed in feeds),
        synced.files,
        synced.written,
        synced.removed,
        synced.left,
        synced.replaced,
        tuple(warnings),
    )


def _original_upload(run: RunReport, item: _Item) -> Upload:
    kept = item.output.original
    assert kept is not None and item.original is not None  # chosen so
    extension = kept.path.rsplit(".", 1)[-1].lower()
    kind = CONTENT_TYPES.get(extension, "application/octet-stream")
    return Upload(item.original, run.paths.root / kept.path, kept.sha256, kept.bytes, kind)


def _feed_csv(items: Sequence[_Item], base: PublicBase | None, *, originals: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = FEED_COLUMNS + (("image_link",) if base else ())
    writer.writerow(columns + (("original",) if originals else ()))
    for item in items:
        output, record = item.output, item.record
        line = [
            record.id,
            item.name,
            output.sha256,
            output.width,
            output.height,
            output.format,
            record.model or "",
            record.decision.value if record.decision else "",
        ]
        if base is not None:
            line.append(base.link(item.name))
        if originals:
            line.append(item.original or "")
        writer.writerow(spreadsheet_row(line))  # opened in a spreadsheet: no formula
    return out.getvalue().encode()


def _published_rows(items: Sequence[_Item]) -> list[PublishedRow]:
    """The chosen rows, each with its published names in order (items come row by row)."""
    rows: list[PublishedRow] = []
    for item in items:
        if rows and rows[-1].record is item.record:
            rows[-1] = PublishedRow(item.record, (*rows[-1].names, item.name))
        else:
            rows.append(PublishedRow(item.record, (item.name,)))
    return rows


def _chosen(run: RunReport, options: ExportOptions, warnings: list[str]) -> Iterator[_Item]:
    """Per row to publish: its chosen output, then (all_candidates) the others in
    order; with `with_originals`, each with the name its kept original goes to."""
    only = options.only
    for record in run.records:
        if record.status is not Status.SUCCEEDED or (only and record.decision is not only):
            continue
        for output in _candidates(record, run.decisions.get(record.id), options, warnings):
            name = _output_name(run, output.path)
            kept = output.original
            original = None
            if options.with_originals and kept is not None:
                extension = _output_name(run, kept.path).rsplit(".", 1)[-1]
                original = f"{ORIGINALS}/{name.rsplit('.', 1)[0]}.{extension}"
            yield _Item(record, output, name, original)


def _candidates(
    record: ReportRecord, decision: Decision | None, options: ExportOptions, warnings: list[str]
) -> list[OutputFile]:
    if not record.outputs:
        return []
    index, set_aside = chosen_output(record, decision)
    if set_aside is not None:
        warnings.append(set_aside)
    chosen = record.outputs[index]
    if not options.all_candidates:
        return [chosen]
    return [chosen, *(output for n, output in enumerate(record.outputs) if n != index)]


def _refuse_simulated(run: RunReport, items: list[_Item]) -> None:
    """Simulated pictures are never published as the service's by default."""
    rows = len({item.record.id for item in items if item.record.simulated})
    if rows:
        raise UsageError(
            f"{rows} row(s) of {run.paths.root} hold results from the simulator, not the "
            "service; nothing was exported. Run the job for real into the run directory "
            "first (it pays for those rows), or give --allow-simulated to export them anyway"
        )


def _output_name(run: RunReport, relative: str) -> str:
    """The path under outputs/, checked: a report line cannot send a file elsewhere."""
    path = PurePosixPath(relative)
    parts = path.parts
    if len(parts) < 2 or parts[0] != "outputs" or ".." in parts or path.is_absolute():
        raise UsageError(
            f"{run.paths.report}: output path {relative!r} is not under outputs/; "
            "run again to rewrite the report"
        )
    return str(PurePosixPath(*parts[1:]))
