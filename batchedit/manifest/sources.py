"""What every manifest reader shares: the raw row, and opening a file with a
message that says what was tried when it cannot be read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from batchedit.errors import SourceError
from batchedit.records import FieldValue

#: A raw manifest value: a scalar, or (YAML only) a list such as several images.
RawValue = FieldValue | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RawRow:
    """One manifest row as read, before any field is interpreted."""

    index: int  # 1-based data row
    line: int  # 1-based line of the file where the row starts
    values: Mapping[str, RawValue]
    problems: tuple[str, ...] = ()


def open_source(path: Path) -> BinaryIO:
    """Open a job file or manifest, saying what was tried when it cannot be read."""
    try:
        return path.open("rb")
    except FileNotFoundError:
        message = f"file not found (looked for {path.absolute()})"
    except IsADirectoryError:
        message = "is a folder; name a manifest (.csv, .yaml) or a job file"
    except OSError as exc:
        message = f"cannot read {path.absolute()}: {exc.strerror or exc}"
    raise SourceError(str(path), None, message)
