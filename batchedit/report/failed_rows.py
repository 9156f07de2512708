"""`batchedit report RUN_DIR --failed-csv FILE`: the rows that did not succeed,
as a manifest to edit and run as it is.

Each row is written with its original fields, read again from the manifest
the run used (summary.json says where), with the job's `defaults:` and model
folded in, and its `columns:` mapping applied (the mapped fields get their
own columns), since the new file runs without the job file. Prompt templates
stay templates, so a fix to a column still flows into the prompt. Local image
paths are rewritten relative to the new file's folder, so they still resolve
from there. A row the manifest no longer has (edited or moved since the run)
is rebuilt from its report line instead: what was sent, braces escaped.

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
from batchedit.manifest.job import JobSettings, apply_overrides, load_job
from batchedit.manifest.reader import RawValue, open_manifest
from batchedit.manifest.rows import IMAGE_COLUMNS
from batchedit.manifest.sources import is_empty
from batchedit.manifest.spreadsheet import spreadsheet_row
from batchedit.manifest.template import TemplateError
from batchedit.records import ReportRecord, Status
from batchedit.report.review import RunReport

NOT_SUCCEEDED = frozenset(Status) - {Status.SUCCEEDED}
Cells = dict[str, str]


@dataclass(frozen=True, slots=True)
class FailedRowsWritten:
    path: Path
    rows: int
    from_report: int  # rows rebuilt from the report, the manifest no longer having them


def write_failed_csv(
    run: RunReport, target: Path, statuses: Collection[Status] = NOT_SUCCEEDED
) -> FailedRowsWritten:
    target = Path(os.path.abspath(target))
    _refuse_own_files(run, target)
    wanted = {record.row: record for record in run.records if record.status in statuses}
    rows: dict[int, Cells] = {}
    job = _job(run)
    if job is not None:
        for index, values in _manifest_rows(job, wanted):
            model = wanted[index].model or job.model
            rows[index] = _cells(values, job.manifest.parent, target.parent, model)
    rebuilt = 0
    for index, record in wanted.items():
        if index not in rows:
            rows[index] = _cells_from_record(record, run.manifest_dir, target.parent)
            rebuilt += 1
    ordered = [rows[index] for index in sorted(rows)]
    _write(target, ordered)
    return FailedRowsWritten(target, len(ordered), rebuilt)


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
    """The job as it ran: its defaults and model, over the manifest summary.json names."""
    source, manifest = run.last_run.source, run.last_run.manifest
    if manifest is None or not Path(manifest).is_file():
        return None
    try:
        job = load_job(Path(source)) if source is not None else None
    except SourceError:
        job = None  # the job file moved or broke since: the manifest alone still serves
    if job is None:
        return JobSettings(source=Path(manifest), manifest=Path(manifest))
    return apply_overrides(job, manifest=Path(manifest))


def _manifest_rows(
    job: JobSettings, wanted: Mapping[int, ReportRecord]
) -> Iterator[tuple[int, dict[str, RawValue]]]:
    """The wanted rows' values (defaults, then the row's own non-empty values), matched
    by row number and id, so a manifest edited since the run cannot mix rows up."""
    manifest = open_manifest(job.manifest, delimiter=job.delimiter)
    defaults: dict[str, RawValue] = {**job.defaults, **manifest.defaults}
    for raw in manifest.rows():
        record = wanted.get(raw.index)
        if record is None or not raw.values:
            continue
        values = dict(defaults)
        mapped = job.columns.apply(raw.values)  # the job's `columns:`, which the file won't have
        values.update((k, v) for k, v in mapped.items() if not is_empty(v) or k not in values)
        with suppress(TemplateError):  # a broken id template: the ids will not match below
            values["id"] = job.columns.render_id(values) or values.get("id")
        if _as_text(values.get("id")).strip() == record.id:
            yield raw.index, values


def _cells(values: Mapping[str, RawValue], base: Path, target_dir: Path, model: str) -> Cells:
    cells = {"id": _as_text(values.get("id"))}
    for name, value in values.items():
        if name == "image" or name in IMAGE_COLUMNS:
            items = value if isinstance(value, tuple) else _as_text(value).split("|")
            cells[name] = "|".join(_rebase(item.strip(), base, target_dir) for item in items)
        else:
            cells[name] = _as_text(value)
    if is_empty(values.get("model")) and model != DEFAULT_MODEL:
        cells["model"] = model  # the job's (or --model's), which the bare file would not know
    return cells


def _cells_from_record(record: ReportRecord, base: Path | None, target_dir: Path) -> Cells:
    prompt = record.prompt or ""
    if record.status is not Status.INVALID:  # as sent: no template left, braces are literal
        prompt = prompt.replace("{", "{{").replace("}", "}}")
    images = [_rebase(given, base, target_dir) if base else given for given in record.images]
    cells = {"id": record.id, "prompt": prompt, "image": "|".join(images)}
    for name, value in record.params.items():
        # The Google models' two names go back to the friendly columns; any other
        # parameter to its param.<field> column, which validation maps back alike.
        column = _FRIENDLY_COLUMNS.get(name, f"param.{name}")
        cells[column] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if record.model and record.model != DEFAULT_MODEL:
        cells["model"] = record.model
    cells.update((name, _as_text(value)) for name, value in record.fields.items())
    return cells


_FRIENDLY_COLUMNS = {"aspectRatio": "aspect_ratio", "imageSize": "resolution"}


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
    columns: dict[str, None] = {"id": None}
    for row in rows:
        columns.update(dict.fromkeys(row))
    with atomic_writer(target, "w") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(spreadsheet_row(columns))
        writer.writerows(spreadsheet_row(row.get(name, "") for name in columns) for row in rows)
