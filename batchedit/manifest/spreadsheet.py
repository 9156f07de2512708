"""CSV cells that a spreadsheet opens as text, never as a formula.

A CSV batchedit writes for people (the decisions export, the failed-rows
manifest, an export's feed.csv) is opened in Excel, LibreOffice or Google
Sheets, which read a cell beginning with `=`, `+`, `-` or `@` (or a tab or
CR before one) as a formula: a row id or a note from a manifest, a model's
error text, could then run a formula on the reviewer's machine (CSV
injection). `spreadsheet_cell` prefixes such a cell with `'`, which the
spreadsheet shows as text; `from_spreadsheet_cell` takes the prefix off
again, so what batchedit wrote reads back as it was (the decisions import,
a failed-rows manifest run as it is).

The prefix is reversible: a value that already begins with `'` before one
of those characters gets a second `'`, so every value comes back exactly.

Files meant for upload to a platform (a Merchant Center or Shopify feed)
are read by that platform as data, where an id must match exactly: they
keep their values verbatim and do not call these.
"""

from __future__ import annotations

from collections.abc import Iterable

#: What a spreadsheet may take as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PREFIX = "'"


def _needs_prefix(text: str) -> bool:
    """A formula start, or a prefix already, before one (the second `'` keeps
    a value that really begins `'=` from losing its own quote on reading)."""
    stripped = text.lstrip(PREFIX)
    return stripped.startswith(FORMULA_STARTS)


def spreadsheet_cell(value: object) -> str:
    """`value` as text a spreadsheet shows as it is: `'`-prefixed if it could
    start a formula."""
    text = "" if value is None else str(value)
    return PREFIX + text if _needs_prefix(text) else text


def spreadsheet_row(values: Iterable[object]) -> list[str]:
    return [spreadsheet_cell(value) for value in values]


def from_spreadsheet_cell(text: str) -> str:
    """A cell as `spreadsheet_cell` wrote it, back to its value."""
    if text.startswith(PREFIX) and _needs_prefix(text[1:]):
        return text[1:]
    return text
