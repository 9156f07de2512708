"""`batchedit report RUN_DIR --failed-csv FILE`: the rows that did not succeed,
as a manifest to edit and run as it is.

It is a fix list: each row is written with the manifest's own columns, read
again from the manifest the run used (summary.json says where), and nothing
else of the row, so the column a user edits is the one the next run reads.
A row that did not say something the job did fills it in, since the new file
runs without the job file: the job's `defaults:` (into the column its
`columns:` mapping reads that field from, or a column of the field's name)
and its model. The mapping itself cannot live in a CSV, so it goes with the
file as `--column FIELD=COLUMN` options (`column_options`) for the commands
to run it. A `problem` column says why each row is there; the manifest
reader takes it as any other column (into the report's `fields`). Prompt
templates stay templates, so a fix to a column still flows into the prompt.
Local image paths are rewritten relative to the new file's folder, so they
still resolve from there. A row the manifest no longer has (edited or moved
since the run) is rebuilt from its report line instead: what was sent,
braces escaped. With no row to fix, no file is written.

The file is for a spreadsheet as much as for `run`: a cell that could start a
formula (`=`, `+`, `-`, `@`, tab, CR) is written with a `'` before it, which
the CSV manifest reader takes off again (manifest/spreadsheet.py).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Collection, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from batchedit.catalogue import DEFAULT_MODEL
from batchedit.errors import SourceError, UsageError
from batchedit.fsutil import atomic_writer
from batchedit.manifest.columns import ColumnMap
from batchedit.manifest.job import JobSettings, apply_overrides, load_job
from batchedit.manifest.reader import RawValue, open_manifest
from batchedit.manifest.rows import IMAGE_COLUMNS
from batchedit.manifest.sources import is_empty
from batchedit.manifest.spreadsheet import spreadsheet_row
from batchedit.manifest.template import TemplateError
from batchedit.records import ReportRecord, Status
from batchedit.report.review import RunReport
from batchedit.state.invocation import load_invocation

NOT_SUCCEEDED = frozenset(Status) - {Status.SUCCEEDED}
Cells = dict[str, str]


#: The fix list's column saying why each row is in it.
PROBLEM_COLUMN = "problem"
#: The run's settings that say how the manifest is read, kept by `run` in its invocation.
_READING_SETTINGS = ("columns", "delimiter")


@dataclass(frozen=True, slots=True)
class FailedRowsWritten:
    path: Path | None  # None: no row to fix, so no file was written
    rows: int
    from_report: int  # rows rebuilt from the report, the manifest no longer having them
    column_options: tuple[str, ...] = ()  # the run's `columns:`, as --column options


def write_failed_csv(
    run: RunReport, target: Path, statuses: Collection[Status] = NOT_SUCCEEDED
) -> FailedRowsWritten:
    target = Path(os.path.abspath(target))
    _refuse_own_files(run, target)
    wanted = {record.row: record for record in run.records if record.status in statuses}
    rows: dict[int, Cells] = {}
    job = _job(run)
    columns = ColumnMap() if job is None else job.columns
    if job is not None:
        for index, own, mapped in _manifest_rows(job, wanted):
            model = wanted[index].model or job.model
            rows[index] = _cells(own, mapped, columns, model)
            _rebase_images(rows[index], columns, job.manifest.parent, target.parent)
    rebuilt = 0
    for index, record in wanted.items():
        if index not in rows:
            rows[index] = _cells_from_record(record, columns)
            if run.manifest_dir is not None:
                _rebase_images(rows[index], columns, run.manifest_dir, target.parent)
            rebuilt += 1
    if not rows:
        return FailedRowsWritten(None, 0, 0)
    ordered = []
    for index in sorted(rows):
        # First, for the eye; it replaces a `problem` column of a fix list run again.
        cells = {PROBLEM_COLUMN: "", **rows[index]}
        cells[PROBLEM_COLUMN] = problem_of(wanted[index])
        ordered.append(cells)
    _write(target, ordered)
    return FailedRowsWritten(target, len(ordered), rebuilt, columns.as_options())


def problem_of(record: ReportRecord) -> str:
    """Why a row did not succeed, in a line: its status, its error's category
    and message (a row without an error is one the run did not finish)."""
    error = record.error
    if error is not None:
        return f"{record.status.value} ({error.category.value}): {error.message}"
    if record.status is Status.PENDING:
        return "pending: the run stopped before this row finished"
    return record.status.value


def _refuse_own_files(run: RunReport, target: Path) -> None:
    """The new manifest must not replace the run's own job file or manifest:
    they are what its report and a re-run read."""
    for what, own in (("manifest", run.last_run.manifest), ("job file", run.last_run.source)):
        if own is not None and _same_file(Path(own), target):
            raise UsageError(
                f"--failed-csv {target} is the run's own {what}; write the failed rows "
                "to a new file (e.g. failed.csv beside it)"
            )


def _same_file(own: Path, target: Path) -> bool:
    if own.resolve() == target.resolve():
        return True
    try:
        return os.path.samefile(own, target)
    except OSError:
        return False


def _job(run: RunReport) -> JobSettings | None:
    """The job as it ran: its defaults, model and column mapping (the job
    file's, and the command line's the run recorded), over the manifest
    summary.json names."""
    source, manifest = run.last_run.source, run.last_run.manifest
    if manifest is None or not Path(manifest).is_file():
        return None
    try:
        job = load_job(Path(source)) if source is not None else None
    except SourceError:
        job = None  # the job file moved or broke since: the manifest alone still serves
    if job is None:
        job = JobSettings(source=Path(manifest), manifest=Path(manifest))
    try:
        recorded = load_invocation(run.paths.root).overrides
    except UsageError:
        recorded = {}  # not started by `batchedit run` (a merge): the job alone
    reading = {name: recorded[name] for name in _READING_SETTINGS if name in recorded}
    try:
        return apply_overrides(job, manifest=Path(manifest), **reading)
    except UsageError:
        return apply_overrides(job, manifest=Path(manifest))


def _manifest_rows(
    job: JobSettings, wanted: Mapping[int, ReportRecord]
) -> Iterator[tuple[int, dict[str, RawValue], dict[str, RawValue]]]:
    """The wanted rows' own columns (the defaults filled in where the row is
    empty) and the fields mapped from them, matched by row number and id, so a
    manifest edited since the run cannot mix rows up."""
    manifest = open_manifest(job.manifest, delimiter=job.delimiter)
    defaults: dict[str, RawValue] = {**job.defaults, **manifest.defaults}
    for raw in manifest.rows():
        record = wanted.get(raw.index)
        if record is None or not raw.values:
            continue
        own = dict(raw.values)
        for name, value in defaults.items():
            _fill(own, name, value, job.columns)
        mapped = job.columns.apply(own)  # the job's `columns:`, which the file won't have
        with suppress(TemplateError):  # a broken id template: the ids will not match below
            mapped["id"] = job.columns.render_id(mapped) or mapped.get("id")
        if _as_text(mapped.get("id")).strip() == record.id:
            yield raw.index, own, mapped


def _fill(cells: dict[str, RawValue], name: str, value: RawValue, columns: ColumnMap) -> None:
    """`value` for field `name` where the row gives none: into the column the
    mapping reads the field from (so that the mapping finds it), else the
    field's own column."""
    sources = columns.sources.get(name, (name,))
    if all(is_empty(cells.get(column)) for column in sources):
        cells[sources[0]] = value


def _cells(
    own: Mapping[str, RawValue], mapped: Mapping[str, RawValue], columns: ColumnMap, model: str
) -> Cells:
    values = dict(own)
    if is_empty(mapped.get("model")) and model != DEFAULT_MODEL:
        # The job's (or --model's), which the bare file would not know.
        _fill(values, "model", model, columns)
    return {name: _as_text(value) for name, value in values.items()}


def _cells_from_record(record: ReportRecord, columns: ColumnMap) -> Cells:
    prompt = record.prompt or ""
    if record.status is not Status.INVALID:  # as sent: no template left, braces are literal
        prompt = prompt.replace("{", "{{").replace("}", "}}")
    cells = {"id": record.id, "prompt": prompt, "image": "|".join(record.images)}
    for name, value in record.params.items():
        # The Google models' two names go back to the friendly columns; any other
        # parameter to its param.<field> column, which validation maps back alike.
        column = _FRIENDLY_COLUMNS.get(name, f"param.{name}")
        cells[column] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if record.model and record.model != DEFAULT_MODEL:
        cells["model"] = record.model
    fields = {name: _as_text(value) for name, value in record.fields.items()}
    # A field the mapping reads from the manifest's own columns (kept in `fields`)
    # is left to them: one column per value, the one the user knows.
    for name, sources in columns.sources.items():
        if all(column in fields for column in sources):
            cells.pop(name, None)
    if columns.id_template is not None:
        cells.pop("id", None)
    cells.update(fields)
    return cells


_FRIENDLY_COLUMNS = {"aspectRatio": "aspect_ratio", "imageSize": "resolution"}


def _rebase_images(cells: Cells, columns: ColumnMap, base: Path, target_dir: Path) -> None:
    """Local image paths of every column images are read from, made relative
    to the new file's folder."""
    for name in ("image", *IMAGE_COLUMNS, *columns.sources.get("image", ())):
        if name in cells:
            items = cells[name].split("|")
            cells[name] = "|".join(_rebase(item.strip(), base, target_dir) for item in items)


def _rebase(given: str, base: Path, target_dir: Path) -> str:
    """A local path relative to the manifest, rewritten relative to the new file."""
    if not given or "://" in given or given.lower().startswith("data:"):
        return given
    path = Path(given).expanduser()
    if path.is_absolute():
        return given
    return os.path.relpath(os.path.abspath(base / path), target_dir)


def _as_text(value: RawValue) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return "|".join(value)
    return str(value)


def _write(target: Path, rows: list[Cells]) -> None:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    with atomic_writer(target, "w") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(spreadsheet_row(columns))
        writer.writerows(spreadsheet_row(row.get(name, "") for name in columns) for row in rows)
