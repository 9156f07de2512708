from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from batchedit.manifest.reader import open_manifest
from batchedit.manifest.template import render_template

# Text with the characters that break naive CSV handling, plus non-ASCII.
cell_text = st.text(
    alphabet=st.sampled_from(list('ab ,"|\n\r\t;{}é☕商品')) | st.characters(codec="utf-8"),
    max_size=12,
)
column_names = st.lists(
    st.text(alphabet="abcdefghij_", min_size=1, max_size=6), min_size=1, max_size=5, unique=True
)


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    header = draw(column_names)
    row = st.lists(cell_text, min_size=len(header), max_size=len(header))
    return header, draw(st.lists(row, max_size=8))


@settings(max_examples=100, deadline=None)
@given(tables(), st.booleans())
def test_csv_written_by_csv_writer_reads_back_the_same(
    table: tuple[list[str], list[list[str]]], bom: bool
) -> None:
    header, rows = table
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.csv"
        with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(header)
            writer.writerows(rows)
        read = list(open_manifest(path).rows())
    # Rows of nothing but empty cells are skipped, like blank lines.
    expected = [dict(zip(header, row, strict=True)) for row in rows if any(row)]
    assert [dict(raw.values) for raw in read] == expected
    assert [raw.index for raw in read] == list(range(1, len(expected) + 1))
    assert all(raw.problems == () for raw in read)
    lines = [raw.line for raw in read]
    assert lines == sorted(lines)
    assert all(line >= 2 for line in lines)


names = st.text(alphabet="abcdefgh_ ", min_size=1, max_size=6).filter(lambda n: n.strip() == n)
values = st.one_of(
    st.text(max_size=10), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none()
)
literals = st.text(max_size=8).map(lambda text: text.replace("{", "{{").replace("}", "}}"))


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(names, values, min_size=1, max_size=5), st.data())
def test_templates_of_known_columns_and_escaped_braces_always_render(
    row: dict[str, object], data: st.DataObject
) -> None:
    columns = sorted(row)
    parts = data.draw(
        st.lists(st.tuples(literals, st.sampled_from(columns) | st.none()), max_size=6)
    )
    template = "".join(
        literal + ("" if name is None else "{" + name + "}") for literal, name in parts
    )
    expected = "".join(
        literal.replace("{{", "{").replace("}}", "}")
        + ("" if name is None else ("" if row[name] is None else str(row[name])))
        for literal, name in parts
    )
    assert render_template(template, row) == expected


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=20))
def test_a_value_round_trips_through_a_single_field_template(value: str) -> None:
    assert render_template("{v}", {"v": value}) == value
