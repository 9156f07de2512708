"""What every manifest reader shares: the raw row, what counts as a value not
given, opening a file with a message that says what was tried when it cannot
be read, and reading it as UTF-8 line by line."""

from __future__ import annotations

from collections.abc import Generator, Mapping
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


def is_empty(value: RawValue) -> bool:
    """An empty cell, a YAML null or an empty list: the field was not given."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, tuple) and not any(item.strip() for item in value)


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


def decoded_lines(path: Path) -> Generator[str, None, None]:
    """The file's lines as text, numbered from 1 by the caller; a byte that is
    not UTF-8 is reported on its own line, and an Excel BOM is dropped."""
    with open_source(path) as stream:
        for number, raw in enumerate(stream, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                message = f"is not UTF-8 (bad byte at column {exc.start + 1}); save it as UTF-8"
                raise SourceError(str(path), number, message) from exc
            yield text.removeprefix("\ufeff") if number == 1 else text
