from __future__ import annotations

from pathlib import Path

import pytest

from batchedit.errors import SourceError
from batchedit.manifest.reader import RawRow, open_manifest


def write(path: Path, text: str, *, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def rows_of(path: Path) -> list[RawRow]:
    return list(open_manifest(path).rows())


@pytest.mark.parametrize("bom", [False, True])
def test_csv_reads_header_and_values_with_or_without_bom(tmp_path: Path, bom: bool) -> None:
    path = write(tmp_path / "m.csv", "id,prompt\na,Make it blue\n", bom=bom)
    manifest = open_manifest(path)
    assert manifest.columns == ("id", "prompt")
    assert manifest.defaults == {}
    [row] = manifest.rows()
    assert row == RawRow(1, 2, {"id": "a", "prompt": "Make it blue"})


def test_csv_quoted_newlines_keep_later_rows_on_their_own_lines(tmp_path: Path) -> None:
    text = 'id,prompt\na,"two\nlines"\nb,"three\nlong\nlines"\n\nc,plain\n'
    rows = rows_of(write(tmp_path / "m.csv", text))
    assert [(r.index, r.line, r.values["id"]) for r in rows] == [
        (1, 2, "a"),
        (2, 4, "b"),
        (3, 8, "c"),
    ]
    assert rows[1].values["prompt"] == "three\nlong\nlines"


def test_csv_crlf_line_endings_are_read(tmp_path: Path) -> None:
    rows = rows_of(write(tmp_path / "m.csv", 'id,prompt\r\na,"x\r\ny"\r\nb,z\r\n'))
    assert [(r.line, r.values["prompt"]) for r in rows] == [(2, "x\r\ny"), (4, "z")]


def test_csv_keeps_non_ascii_text(tmp_path: Path) -> None:
    rows = rows_of(write(tmp_path / "m.csv", "id,prompt\nCafé crème ☕,商品を白背景に\n", bom=True))
    assert rows[0].values == {"id": "Café crème ☕", "prompt": "商品を白背景に"}


def test_csv_blank_and_delimiter_only_lines_are_skipped(tmp_path: Path) -> None:
    rows = rows_of(write(tmp_path / "m.csv", "id,prompt\n\n,\na,b\n\n"))
    assert [(r.index, r.line) for r in rows] == [(1, 4)]


def test_csv_short_row_is_a_ragged_row_problem_on_its_line(tmp_path: Path) -> None:
    rows = rows_of(write(tmp_path / "m.csv", "id,prompt,image\na,b\nc,d,e\n"))
    assert rows[0].line == 2 and rows[0].values == {"id": "a", "prompt": "b", "image": ""}
    assert rows[0].problems == (
        "row has 2 cells but the header has 3 columns (id, prompt, image); every row needs "
        "one cell per column (comma-separated; leave a cell empty rather than out)",
    )
    assert rows[1].problems == ()


def test_csv_long_row_is_a_row_problem_not_a_file_error(tmp_path: Path) -> None:
    rows = rows_of(write(tmp_path / "m.csv", "id,prompt\na,b,c\nd,e,\nf,g,,\n"))
    assert rows[0].problems == (
        "row has 3 cells but the header has 2 columns (id, prompt); quote cells that "
        "contain a comma, or name the extra column",
    )
    assert rows[1].problems == () and rows[2].problems == ()  # trailing empty cells are harmless
    assert rows[2].values == {"id": "f", "prompt": "g"}


def test_semicolon_ragged_row_names_the_semicolon(tmp_path: Path) -> None:
    rows = rows_of(write(tmp_path / "m.csv", "id;prompt\na;b;c\n"))
    assert rows[0].line == 2
    assert "quote cells that contain a semicolon" in rows[0].problems[0]


def test_csv_unclosed_quote_is_a_row_problem(tmp_path: Path) -> None:
    rows = rows_of(write(tmp_path / "m.csv", 'id,prompt\na,b\nc,"never closed\nd,e\n'))
    assert rows[0].problems == ()
    assert rows[1].line == 3
    assert "never closed" in rows[1].problems[0]


def test_tsv_is_tab_separated(tmp_path: Path) -> None:
    [row] = rows_of(write(tmp_path / "m.tsv", "id\tprompt\na,b\tc\n"))
    assert row.values == {"id": "a,b", "prompt": "c"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "has no header row"),
        ("\nid,prompt\n", "has no header row"),
        ("id,prompt,id\n", "column 'id' appears twice in the header (columns 1 and 3)"),
        ("id,,prompt\n", "column 2 of the header has no name"),
    ],
)
def test_csv_bad_header_is_a_source_error_on_line_1(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(SourceError) as info:
        open_manifest(write(tmp_path / "m.csv", text))
    assert info.value.line == 1
    assert message in str(info.value)


def test_csv_non_utf8_bytes_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"id,prompt\na,ok\nb,caf\xe9\n")
    manifest = open_manifest(path)
    with pytest.raises(SourceError) as info:
        list(manifest.rows())
    assert info.value.line == 3
    assert "UTF-8" in str(info.value)


def test_missing_manifest_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as info:
        open_manifest(tmp_path / "nope.csv")
    assert info.value.line is None
    assert str(tmp_path / "nope.csv") in str(info.value)


def test_unknown_extension_lists_the_allowed_ones(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"\.csv, \.tsv, \.txt, \.yaml, \.yml"):
        open_manifest(write(tmp_path / "m.json", "[]"))


def test_rows_can_be_streamed_twice(tmp_path: Path) -> None:
    manifest = open_manifest(write(tmp_path / "m.csv", "id,prompt\na,b\nc,d\n"))
    assert list(manifest.rows()) == list(manifest.rows())


def test_yaml_list_of_mappings_keeps_scalar_types(tmp_path: Path) -> None:
    text = """\
- id: a
  prompt: Make it blue
  count: 3
  price: 1.5
  flag: true
  note: null
  image: [x.png, "https://example.com/y.png"]
- id: b
  prompt: p
  image: z.png
"""
    rows = rows_of(write(tmp_path / "m.yaml", text))
    assert rows[0] == RawRow(
        1,
        1,
        {
            "id": "a",
            "prompt": "Make it blue",
            "count": 3,
            "price": 1.5,
            "flag": True,
            "note": None,
            "image": ("x.png", "https://example.com/y.png"),
        },
    )
    assert (rows[1].index, rows[1].line, rows[1].values["image"]) == (2, 8, "z.png")


def test_yaml_keeps_numbers_that_do_not_read_back_as_written(tmp_path: Path) -> None:
    text = "- {id: 007, aspect_ratio: 4:5, price: 1.50, country: NO, size: 512}\n"
    [row] = rows_of(write(tmp_path / "m.yml", text))
    assert row.values == {
        "id": "007",
        "aspect_ratio": "4:5",
        "price": "1.50",
        "country": "NO",
        "size": 512,
    }


@pytest.mark.parametrize("defaults_first", [True, False])
def test_yaml_mapping_with_defaults_and_rows_in_either_order(
    tmp_path: Path, defaults_first: bool
) -> None:
    defaults = "defaults:\n  resolution: 2K\n  image: [a.png, b.png]\n"
    rows = "rows:\n  - id: a\n    prompt: p\n  - id: b\n    prompt: q\n"
    path = write(tmp_path / "m.yaml", defaults + rows if defaults_first else rows + defaults)
    manifest = open_manifest(path)
    assert manifest.defaults == {"resolution": "2K", "image": ("a.png", "b.png")}
    got = [(r.index, r.line, r.values["id"]) for r in manifest.rows()]
    first_line = 5 if defaults_first else 2
    assert got == [(1, first_line, "a"), (2, first_line + 2, "b")]


def test_yaml_bad_rows_are_row_problems_and_later_rows_still_read(tmp_path: Path) -> None:
    text = """\
- just a string
- id: a
  opts: {x: 1}
- [1, 2]
- id: b
  prompt: fine
"""
    rows = rows_of(write(tmp_path / "m.yaml", text))
    assert [r.line for r in rows] == [1, 2, 4, 5]
    assert rows[0].problems == ("row is a single value, not a mapping",)
    assert "field 'opts' is a mapping" in rows[1].problems[0]
    assert rows[1].values == {"id": "a"}
    assert rows[2].problems == ("row is a list, not a mapping",)
    assert rows[3].problems == ()


def test_yaml_merge_keys_are_honoured(tmp_path: Path) -> None:
    text = "- &base {id: a, prompt: p, resolution: 2K}\n- <<: *base\n  id: b\n"
    rows = rows_of(write(tmp_path / "m.yaml", text))
    assert rows[1].values == {"id": "b", "prompt": "p", "resolution": "2K"}


def test_yaml_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "m.yaml", "- id: a\n  prompt: p\n- id: [unclosed\n  prompt: q\n")
    with pytest.raises(SourceError) as info:
        list(open_manifest(path).rows())
    # the unclosed bracket is on line 3; the parser notices on the next
    assert info.value.line in (3, 4)
    assert "not valid YAML" in str(info.value)


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("", "is empty", None),
        ("just text\n", "must be a list of rows", 1),
        ("defaults: {a: 1}\n", "has no rows: list", 1),
        ("rows: 3\n", "rows: must be a list of mappings", 1),
        ("rows: []\nextra: 1\n", "unknown key 'extra'", 2),
        ("defaults: [1]\nrows: []\n", "defaults: must be a mapping", 1),
        ("defaults:\n  a: {b: 1}\nrows: []\n", "field 'a' is a mapping", 2),
    ],
)
def test_yaml_structure_errors_are_source_errors(
    tmp_path: Path, text: str, message: str, line: int | None
) -> None:
    with pytest.raises(SourceError) as info:
        open_manifest(write(tmp_path / "m.yaml", text))
    assert message in str(info.value)
    assert info.value.line == line


def test_yaml_rows_stream_before_a_later_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path / "m.yaml", "- {id: a, prompt: p}\n- {id: b, prompt: q}\n- {id: [\n")
    rows = open_manifest(path).rows()
    assert next(rows).values["id"] == "a"
    assert next(rows).values["id"] == "b"
    with pytest.raises(SourceError) as info:
        next(rows)
    assert (info.value.file, info.value.line) == (str(path), 4)


def test_yaml_rows_may_use_anchors_from_defaults(tmp_path: Path) -> None:
    text = "defaults: &d\n  prompt: p\nrows:\n  - <<: *d\n    id: a\n"
    manifest = open_manifest(write(tmp_path / "m.yaml", text))
    assert manifest.defaults == {"prompt": "p"}
    assert [dict(row.values) for row in manifest.rows()] == [{"prompt": "p", "id": "a"}]
