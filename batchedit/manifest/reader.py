"""Manifests: open a CSV, YAML or JSONL manifest and stream it as raw rows, one at a time.

A manifest is read more than once (validate, plan, run) and may be large, so
no reader keeps more than one row in memory. Trouble confined to one row is a
problem on that row, so one bad row never sinks the rest; only a file that
cannot be read at all (missing, not UTF-8, broken YAML, a bad header) raises
SourceError. The readers live in csv_reader.py, yaml_reader.py and
jsonl_reader.py; what the
values mean is decided later, by rows.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from batchedit.errors import SourceError
from batchedit.manifest.csv_reader import csv_rows, read_csv_header
from batchedit.manifest.jsonl_reader import JSONL_SUFFIXES, jsonl_rows
from batchedit.manifest.sources import RawRow, RawValue, open_source
from batchedit.manifest.yaml_reader import yaml_defaults, yaml_rows

__all__ = [
    "CSV_SUFFIXES",
    "JSONL_SUFFIXES",
    "YAML_SUFFIXES",
    "Manifest",
    "RawRow",
    "RawValue",
    "open_manifest",
    "open_source",
]

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Manifest:
    """An opened manifest; `rows()` streams it from the start on every call."""

    path: Path
    kind: Literal["csv", "yaml", "jsonl"]
    defaults: Mapping[str, RawValue] = field(default_factory=dict)
    columns: tuple[str, ...] = ()  # the CSV header; empty for YAML
    delimiter: str = ","

    def rows(self) -> Iterator[RawRow]:
        if self.kind == "csv":
            return csv_rows(self.path, self.delimiter)
        if self.kind == "jsonl":
            return jsonl_rows(self.path)
        return yaml_rows(self.path)


def open_manifest(path: Path, *, delimiter: str | None = None) -> Manifest:
    """Open a manifest by its extension, reading only what must be known up front
    (the CSV header and delimiter, the YAML `defaults:`), so a broken file fails
    before any work. A CSV's delimiter is sniffed unless given; `.tsv` is tab."""
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        if delimiter is None and suffix == ".tsv":
            delimiter = "\t"
        columns, chosen = read_csv_header(path, delimiter)
        return Manifest(path, "csv", columns=columns, delimiter=chosen)
    if suffix in YAML_SUFFIXES:
        return Manifest(path, "yaml", defaults=yaml_defaults(path))
    if suffix in JSONL_SUFFIXES:
        open_source(path).close()  # a missing file fails here, saying where it looked
        return Manifest(path, "jsonl")
    allowed = ", ".join(CSV_SUFFIXES + YAML_SUFFIXES + JSONL_SUFFIXES)
    message = f"cannot tell the manifest's format from its extension; use one of {allowed}"
    raise SourceError(str(path), None, message)
