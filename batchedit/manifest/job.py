"""Job files and settings: what to run, with which model, into which run directory.

A SOURCE is either a job file (YAML with a `manifest:` key) or a bare
manifest. Settings are checked where they are read, with the job file's
line in the message, and the command line's overrides go through the same
checks; then `iter_rows` streams the manifest through one RowValidator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from batchedit.catalogue import current_catalogue
from batchedit.errors import SourceError, UsageError
from batchedit.manifest.columns import ColumnMap, parse_columns
from batchedit.manifest.decoding import local_paths, predecode
from batchedit.manifest.header import JobProblems, header_problems
from batchedit.manifest.naming import OutputSpec, output_fields, resolve_signing
from batchedit.manifest.reader import (
    CSV_SUFFIXES,
    JSONL_SUFFIXES,
    YAML_SUFFIXES,
    Manifest,
    RawValue,
    open_manifest,
    open_source,
)
from batchedit.manifest.rows import RowValidator, with_prompt_suffix
from batchedit.manifest.setting_checks import check_allow_models
from batchedit.manifest.settings import SETTINGS
from batchedit.manifest.settings import JobSettings as JobSettings  # its home is the table
from batchedit.manifest.template import template_fields
from batchedit.manifest.yaml_reader import (
    defaults_from_node,
    key_line,
    key_lines,
    line_of,
    top_level_keys,
    yaml_error,
    yaml_loader,
)
from batchedit.records import InvalidRow, Problem, Row
from batchedit.suggest import did_you_mean, unknown_name

#: Settings the command line and Python may override (`defaults:` only comes from files).
SETTING_NAMES: tuple[str, ...] = tuple(SETTINGS)
#: Settings whose value in the job file is a mapping or a list rather than a single value.
_MAPPING_SETTINGS = frozenset(name for name, spec in SETTINGS.items() if spec.structured)
JOB_KEYS: tuple[str, ...] = SETTING_NAMES + ("defaults",)
_CHECKS: dict[str, Callable[[object], object]] = {
    name: spec.check for name, spec in SETTINGS.items()
}


def _check_model_allowed(job: JobSettings) -> str | None:
    """Why the job's default model cannot be used, or None."""
    catalogue = current_catalogue()
    if catalogue.spec_for(job.model, job.allow_models) is not None:
        return None
    return catalogue.unknown_model_message(job.model)


def load_job(source: Path) -> JobSettings:
    """Read a job file, or wrap a bare manifest in default settings."""
    suffix = source.suffix.lower()
    if suffix in YAML_SUFFIXES:
        keys = top_level_keys(source)
        if keys is not None and "manifest" in keys:
            return _load_job_file(source)
    elif suffix in CSV_SUFFIXES + JSONL_SUFFIXES:
        open_source(source).close()  # a missing file fails here, saying where it looked
    else:
        raise SourceError(
            str(source),
            None,
            "name a job file (.yaml with a manifest: key) or a manifest "
            f"({', '.join(CSV_SUFFIXES + YAML_SUFFIXES + JSONL_SUFFIXES)})",
        )
    return JobSettings(source=source, manifest=source)


def _load_job_file(source: Path) -> JobSettings:
    label = str(source)
    with open_source(source) as stream:
        loader = yaml.SafeLoader(stream)
        try:
            node = loader.get_single_node()
            assert isinstance(node, yaml.MappingNode)  # yaml_top_level_keys found a mapping
            return _settings_from_node(loader, node, source)
        except yaml.YAMLError as exc:
            raise yaml_error(label, exc) from exc
        finally:
            loader.dispose()


def _settings_from_node(
    loader: yaml.SafeLoader, node: yaml.MappingNode, source: Path
) -> JobSettings:
    label = str(source)
    settings: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else ""
        line = line_of(key_node)
        if key not in JOB_KEYS:
            raise SourceError(label, line, unknown_name("setting", key, JOB_KEYS))
        if key in settings:
            raise SourceError(label, line, f"'{key}:' is given twice")
        if key == "defaults":
            settings[key] = defaults_from_node(loader, value_node, label)
            settings["default_lines"] = key_lines(value_node)
            continue
        value_line = line_of(value_node)
        if key in _MAPPING_SETTINGS:
            try:
                mapping = loader.construct_object(value_node, deep=True)
                settings[key] = _CHECKS[key](mapping)
            except ValueError as exc:
                raise SourceError(label, value_line, str(exc)) from exc
            continue
        if not isinstance(value_node, yaml.ScalarNode):
            raise SourceError(label, value_line, f"{key}: must be a single value")
        try:
            settings[key] = _CHECKS[key](loader.construct_object(value_node))
        except ValueError as exc:
            raise SourceError(label, value_line, str(exc)) from exc
    _resolve_files(settings, node, source)
    if not settings["manifest"].is_file():
        line = key_line(node, "manifest")
        raise SourceError(
            label,
            line,
            f"manifest '{settings['manifest']}' not found "
            f"(looked for {settings['manifest'].absolute()}); paths are relative to the job file",
        )
    job = JobSettings(source=source, **settings)
    problem = _check_model_allowed(job)
    if problem is not None:
        raise SourceError(label, key_line(node, "model"), problem)
    return job


#: Settings naming a file or folder, each relative to the job file.
_PATH_SETTINGS = ("manifest", "output_dir", "metrics_file")


def _resolve_files(settings: dict[str, Any], node: yaml.MappingNode, source: Path) -> None:
    """Paths relative to the job file; `output: c2pa_sign:` files checked to exist."""
    for name in _PATH_SETTINGS:
        if name in settings:
            settings[name] = source.parent / settings[name]
    if isinstance(output := settings.get("output"), OutputSpec):
        try:
            settings["output"] = resolve_signing(output, source.parent)
        except ValueError as exc:
            raise SourceError(str(source), key_line(node, "output"), str(exc)) from exc


def apply_overrides(job: JobSettings, **overrides: object) -> JobSettings:
    """The command line's settings over the job's; None means "not given"."""
    changes: dict[str, object] = {}
    pieces = overrides.get("output")
    if isinstance(pieces, dict):  # the command line's pieces, laid over the job's output:
        given = {key: value for key, value in pieces.items() if value is not None}
        overrides["output"] = {**output_fields(job.output), **given} if given else None
    for name, value in overrides.items():
        if name not in _CHECKS:
            raise UsageError(unknown_name("setting", name, SETTING_NAMES))
        if value is None:
            continue
        try:
            changes[name] = _CHECKS[name](value)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    if "columns" in changes:
        changes["columns"] = parse_columns(changes["columns"]).over(job.columns)
    if "allow_models" in changes:
        changes["allow_models"] = job.allow_models | check_allow_models(changes["allow_models"])
    if isinstance(output := changes.get("output"), OutputSpec):
        try:
            changes["output"] = resolve_signing(output, Path.cwd())
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    updated = dataclasses.replace(job, **changes)  # type: ignore[arg-type]
    problem = _check_model_allowed(updated)
    if problem is not None:
        raise UsageError(problem)
    return updated


def open_rows(
    job: JobSettings, *, decode: bool = True, notes: bool = True
) -> tuple[Manifest, RowValidator]:
    """The manifest and a fresh validator for one pass over it (`decode`: see
    decoding.py; `notes`: values taken in another spelling are said, once)."""
    manifest = open_manifest(job.manifest, delimiter=job.delimiter)
    if manifest.kind == "csv":
        _check_mapped_columns(job, manifest)
    defaults: dict[str, RawValue] = {**job.defaults, **manifest.defaults}
    where = {name: (str(job.source), _default_line(job, name)) for name in job.defaults}
    where.update((name, (str(job.manifest), 1)) for name in manifest.defaults)
    problems = header_problems(
        manifest, job.columns, defaults, job.model, job.allow_models, where=where
    )
    if problems:
        raise JobProblems(problems)
    validator = RowValidator(
        str(job.manifest),
        job.manifest.parent,
        defaults,
        job.model,
        columns=job.columns,
        allowed_models=job.allow_models,
        output=job.output,
        decode=decode,
        run_dir=job.output_dir,
        prepare=job.inputs.prepare,
        notes=notes and decode,
    )
    return manifest, validator


def _default_line(job: JobSettings, name: str) -> int:
    """The job file's line of a default (`param.x` stands under `params:`)."""
    lines = job.default_lines
    if name in lines:
        return lines[name]
    return lines.get("params", 1) if name.startswith("param.") else 1


def _check_mapped_columns(job: JobSettings, manifest: Manifest) -> None:
    """A mapped column the header lacks would make every row invalid: say so once
    per column, at its line of the job file, with the header's nearest name
    (`Variant Sku` for `Variant SKU`: column names match case included)."""
    in_file = _columns_in_file(job)
    problems: list[Problem] = []
    for name, reads in _columns_read(job.columns):
        for column in reads:
            if column in manifest.columns:
                continue
            hint = did_you_mean(column, manifest.columns)
            fix = (
                f"{hint} (names match the header exactly, case included)"
                if hint
                else f"its columns: {', '.join(manifest.columns)}"
            )
            what = "id template" if name == "id" and job.columns.id_template else name
            message = f"columns: {what} reads '{column}', which {job.manifest} does not have; {fix}"
            line = in_file.get((name, column))
            if line is None:  # given as --column on the command line
                raise UsageError(f"--column {name}={column}: {message}")
            problems.append(Problem(str(job.source), line, message, "columns"))
    if problems:
        raise JobProblems(problems)


def _columns_read(columns: ColumnMap) -> list[tuple[str, tuple[str, ...]]]:
    """Each mapped field and the columns it reads (an id template's columns under id)."""
    pairs = list(columns.sources.items())
    if columns.id_template is not None:
        pairs.append(("id", template_fields(columns.id_template, what="id")))
    return pairs


def _columns_in_file(job: JobSettings) -> dict[tuple[str, str], int]:
    """(field, column) -> its line, for each column the job file's `columns:`
    reads; read again, and only when a mapped column is missing, so a job's
    settings need not carry the lines."""
    if job.source == job.manifest:
        return {}
    with yaml_loader(job.source) as loader:
        node = loader.get_single_node()
        if not isinstance(node, yaml.MappingNode):
            return {}
        for key_node, value_node in node.value:
            if key_node.value == "columns" and isinstance(value_node, yaml.MappingNode):
                lines = key_lines(value_node)
                given = parse_columns(loader.construct_object(value_node, deep=True))
                return {
                    (name, column): lines.get(name, line_of(value_node))
                    for name, reads in _columns_read(given)
                    for column in reads
                }
    return {}


def iter_rows(
    job: JobSettings, *, decode: bool = True, notes: bool = True
) -> Iterator[Row | InvalidRow]:
    """Every row (of the job's shard), checked, in manifest order; each call
    streams afresh. Every row is still validated, so duplicate ids are caught.
    A pass after the one that told the user (the run's, after its plan) passes
    `notes=False`: a value taken as `1K` is said once per command."""
    manifest, validator = open_rows(job, decode=decode, notes=notes)
    rows = (validator.check(raw) for raw in manifest.rows())
    if job.prompt_suffixes:
        added = job.prompt_suffixes
        rows = (with_prompt_suffix(row, added.get(row.id)) for row in rows)
    shard = job.shard
    return rows if shard is None else (row for row in rows if shard.owns(row.id))


def validate_job(job: JobSettings) -> list[Problem]:
    """Every problem of every row, for `batchedit.validate`, with the command
    line's overrides. Problems of the job or header (every row would fail
    alike) come back alone; an unreadable job or manifest raises SourceError
    instead: that is exit 2, not a list of rows."""
    return list(iter_problems(job))


def iter_problems(job: JobSettings) -> Iterator[Problem]:
    """Every problem, streamed: the job's and header's alone if there are any,
    else each row's, in manifest order (local images decoded first, in parallel)."""
    try:
        predecode(local_paths(iter_rows(job, decode=False)), prepare=job.inputs.prepare)
        rows = iter_rows(job)
    except JobProblems as exc:
        yield from exc.problems
        return
    for row in rows:
        if isinstance(row, InvalidRow):
            yield from row.problems
