"""The CSV manifest reader: catalog exports as they come out of a shop or a PIM.

Comma, semicolon and tab files are told apart by the header line (European
spreadsheets write semicolons), an Excel BOM is dropped, quoted cells may hold
newlines, and every row carries the line it starts on. A row whose cell count
does not match the header is that row's problem, never the file's. A cell
that begins with `'` before `=`, `+`, `-`, `@`, a tab or a CR is read without
that `'`: the form batchedit's own CSVs (the failed-rows manifest) write to
keep a spreadsheet from taking the cell for a formula (spreadsheet.py).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import closing
from itertools import chain
from pathlib import Path

from batchedit.errors import SourceError
from batchedit.manifest.sources import RawRow, decoded_lines
from batchedit.manifest.spreadsheet import PREFIX, from_spreadsheet_cell

#: Candidate delimiters, in the order that wins a tie.
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
#: A data: URI of a 16 MiB image is about 22 MB of base64; csv's default cap is 128 KiB.
_MAX_CSV_FIELD_CHARS = 32 * 1024 * 1024


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of a CSV file from its header line: the candidate that
    occurs most often outside quotes; a comma when none does."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda candidate: counts[candidate])  # first wins a tie
    return best if counts[best] else ","


def read_csv_header(path: Path, delimiter: str | None) -> tuple[tuple[str, ...], str]:
    """The header's column names and the delimiter (given, or sniffed)."""
    with closing(decoded_lines(path)) as lines:
        first = next(lines, "")
        chosen = delimiter or sniff_delimiter(first)
        reader = csv.reader(chain([first], lines), delimiter=chosen)
        return _read_header(reader, str(path)), chosen


def csv_rows(path: Path, delimiter: str) -> Iterator[RawRow]:
    csv.field_size_limit(max(csv.field_size_limit(), _MAX_CSV_FIELD_CHARS))
    with closing(decoded_lines(path)) as lines:
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        header = _read_header(reader, str(path))
        index = 0
        while True:
            start = reader.line_num + 1  # csv counts lines read, so a row starts just after
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                index += 1
                yield RawRow(index, start, {}, (_csv_problem(exc),))
                continue
            if any(cells):  # blank lines, and lines of only delimiters, are no rows
                index += 1
                yield _csv_row(index, start, header, _values(cells), delimiter)


def _values(cells: list[str]) -> list[str]:
    """The cells as their values: a spreadsheet's `'` prefix taken off (the test
    first: almost no cell starts with one)."""
    return [from_spreadsheet_cell(cell) if cell[:1] == PREFIX else cell for cell in cells]


def _read_header(reader: Iterator[list[str]], label: str) -> tuple[str, ...]:
    try:
        names = tuple(cell.strip() for cell in _values(next(reader, [])))
    except csv.Error as exc:
        raise SourceError(label, 1, f"cannot read the header row: {exc}") from exc
    if not any(names):
        raise SourceError(label, 1, "has no header row; the first line must name the columns")
    first_number: dict[str, int] = {}  # one look per column: a wide header stays linear
    for number, name in enumerate(names, start=1):
        if not name:
            problem = f"column {number} of the header has no name; name it or delete it"
            raise SourceError(label, 1, problem)
        first = first_number.setdefault(name, number)
        if first != number:
            problem = (
                f"column '{name}' appears twice in the header (columns "
                f"{first} and {number}); column names must be unique"
            )
            raise SourceError(label, 1, problem)
    return names


def _named(header: tuple[str, ...], most: int = 20) -> str:
    """The header's columns for a message, the first `most` of a wide one."""
    if len(header) <= most:
        return ", ".join(header)
    return ", ".join(header[:most]) + f", ... ({len(header) - most} more)"


def _csv_row(
    index: int, line: int, header: tuple[str, ...], cells: list[str], delimiter: str
) -> RawRow:
    # Trailing empty cells are what spreadsheets leave behind; only real extra data is wrong.
    while len(cells) > len(header) and not cells[-1].strip():
        cells.pop()
    if len(cells) == len(header):
        return RawRow(index, line, dict(zip(header, cells, strict=True)))
    values = {name: cells[i] if i < len(cells) else "" for i, name in enumerate(header)}
    shown = DELIMITER_NAMES[delimiter] if delimiter in DELIMITER_NAMES else repr(delimiter)
    columns = _named(header)
    if len(cells) > len(header):
        problem = (
            f"row has {len(cells)} cells but the header has {len(header)} columns "
            f"({columns}); quote cells that contain a {shown}, or name the extra column"
        )
    else:
        problem = (
            f"row has {len(cells)} cells but the header has {len(header)} columns "
            f"({columns}); every row needs one cell per column ({shown}-separated; "
            "leave a cell empty rather than out)"
        )
    return RawRow(index, line, values, (problem,))


def _csv_problem(exc: csv.Error) -> str:
    if "unexpected end of data" in str(exc):
        return "a quoted cell starting on this row is never closed; add the closing '\"'"
    return f"cannot parse this row ({exc}); inside a quoted cell write '\"' as '\"\"'"
