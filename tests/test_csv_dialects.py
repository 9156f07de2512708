"""CSV as catalog exports write it: comma, semicolon or tab, told apart by the
header line; BOMs, quoted newlines and delimiters inside quotes."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchedit.manifest.csv_reader import sniff_delimiter
from batchedit.manifest.reader import open_manifest
from batchedit.manifest.spreadsheet import from_spreadsheet_cell


def write(path: Path, text: str, *, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("id,prompt,image\n", ","),
        ("id;prompt;image\n", ";"),
        ("id\tprompt\timage\n", "\t"),
        ('"Title, long";id;image\n', ";"),  # a comma inside quotes does not count
        ('"a;b"\t"c;d"\n', "\t"),
        ("id\n", ","),  # one column: nothing to tell, comma
        ("a,b;c;d\n", ";"),  # the most frequent wins
        ("a,b;c\n", ","),  # a tie goes to the comma
    ],
)
def test_sniff_delimiter_counts_only_outside_quotes(header: str, expected: str) -> None:
    assert sniff_delimiter(header) == expected


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("bom", [False, True])
def test_each_delimiter_reads_the_same_rows(tmp_path: Path, delimiter: str, bom: bool) -> None:
    text = delimiter.join(["id", "prompt", "image"]) + "\n"
    text += delimiter.join(["a", '"line one\nline two"', "x.png"]) + "\n"
    text += delimiter.join(["b", '"has , ; and \t"', "y.png"]) + "\n"
    manifest = open_manifest(write(tmp_path / "m.csv", text, bom=bom))
    assert manifest.delimiter == delimiter
    assert manifest.columns == ("id", "prompt", "image")
    rows = list(manifest.rows())
    assert [(r.line, r.values["prompt"]) for r in rows] == [
        (2, "line one\nline two"),
        (4, "has , ; and \t"),
    ]
    assert all(r.problems == () for r in rows)


def test_a_given_delimiter_overrides_the_sniffing(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", "id;note;more,prompt\na;x;z,y\n")
    assert open_manifest(path).delimiter == ";"
    manifest = open_manifest(path, delimiter=",")
    assert manifest.columns == ("id;note;more", "prompt")
    [row] = manifest.rows()
    assert row.values == {"id;note;more": "a;x;z", "prompt": "y"}


def test_txt_files_are_sniffed_and_tsv_files_are_tab(tmp_path: Path) -> None:
    assert open_manifest(write(tmp_path / "m.txt", "id;prompt\n")).delimiter == ";"
    assert open_manifest(write(tmp_path / "m.tsv", "id;prompt\n")).delimiter == "\t"


names_without_delimiters = st.text(alphabet="abcxyz _-é商", min_size=1, max_size=8).filter(
    lambda name: name.strip() == name
)
# A name that begins `'` before a tab is read without the `'` (the spreadsheet
# prefix of manifest/spreadsheet.py), so it is left out of the names that
# must come back exactly.
any_names = st.text(alphabet="ab ,;\t\"'é", min_size=1, max_size=8).filter(
    lambda name: name.strip() == name and from_spreadsheet_cell(name) == name
)
cells = st.text(alphabet=st.sampled_from(list('ab ,;\t"\n\r|é☕')), max_size=10)


def _round_trip(
    header: list[str], rows: list[list[str]], delimiter: str, quoting: Literal[0, 1, 2, 3]
) -> tuple[str, list[dict[str, object]]]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as stream:
            writer = csv.writer(stream, delimiter=delimiter, quoting=quoting)
            writer.writerow(header)
            writer.writerows(rows)
        manifest = open_manifest(path)
        return manifest.delimiter, [dict(raw.values) for raw in manifest.rows()]


@st.composite
def tables(draw: st.DrawFn, names: st.SearchStrategy[str]) -> tuple[list[str], list[list[str]]]:
    header = draw(st.lists(names, min_size=2, max_size=5, unique=True))
    row = st.lists(cells, min_size=len(header), max_size=len(header))
    return header, draw(st.lists(row, max_size=5))


@settings(max_examples=80, deadline=None)
@given(tables(names_without_delimiters), st.sampled_from([",", ";", "\t"]))
def test_sniffing_finds_the_delimiter_of_any_plain_header(
    table: tuple[list[str], list[list[str]]], delimiter: str
) -> None:
    header, rows = table
    found, read = _round_trip(header, rows, delimiter, csv.QUOTE_MINIMAL)
    assert found == delimiter
    assert read == [dict(zip(header, row, strict=True)) for row in rows if any(row)]


@settings(max_examples=80, deadline=None)
@given(tables(any_names), st.sampled_from([",", ";", "\t"]))
def test_sniffing_is_not_fooled_by_delimiters_inside_quoted_names(
    table: tuple[list[str], list[list[str]]], delimiter: str
) -> None:
    header, rows = table
    found, read = _round_trip(header, rows, delimiter, csv.QUOTE_ALL)
    assert found == delimiter
    assert read == [dict(zip(header, row, strict=True)) for row in rows if any(row)]
