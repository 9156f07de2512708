"""Keyword settings of the Python API turned into a job, as the CLI's options are."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from batchedit.errors import UsageError
from batchedit.manifest.job import JobSettings, apply_overrides, load_job
from batchedit.manifest.prices import load_prices
from batchedit.state.invocation import Setting

PathLike = str | os.PathLike[str]


def job_from(
    source: PathLike,
    *,
    out: PathLike | None = None,
    prices: PathLike | Mapping[str, object] | None = None,
    settings: Mapping[str, object],
) -> JobSettings:
    """The job file (or bare manifest) with `settings` laid over it; `defaults`
    are merged field by field over the job's."""
    given = dict(settings)
    defaults = given.pop("defaults", None)
    if out is not None:
        given["output_dir"] = Path(out)
    if isinstance(prices, str | os.PathLike):
        given["prices"] = load_prices(Path(prices))
    elif prices is not None:
        given["prices"] = prices
    job = apply_overrides(load_job(Path(source)), **given)
    if defaults is None:
        return job
    if not isinstance(defaults, Mapping):
        raise UsageError("defaults must be a mapping of field: value")
    merged = {**job.defaults, **{str(k): _default_value(v) for k, v in defaults.items()}}
    return dataclasses.replace(job, defaults=merged)


def _default_value(value: object) -> str | int | float | bool | tuple[str, ...] | None:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise UsageError(f"defaults: {value!r} is not a text, number, or list of texts")


def recorded(settings: Mapping[str, object], out: PathLike | None) -> dict[str, Setting]:
    """The settings as JSON values, kept in the run directory for `batchedit retry`."""
    kept: dict[str, Setting] = {}
    for name, value in settings.items():
        if name == "defaults":
            continue  # retry reads the job file again; defaults given in Python are not kept
        kept[name] = _json_value(value)
    if out is not None:
        kept["output_dir"] = str(Path(out).resolve())
    return kept


def _json_value(value: object) -> Setting:
    if isinstance(value, os.PathLike):
        return str(Path(value).resolve())
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_value(item) for item in value]
    return str(value)
