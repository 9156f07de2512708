"""The job's `columns:` mapping and `id:` template: a catalog's own column names
read as batchedit's fields, without editing the export."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchedit.cli import main
from batchedit.errors import SourceError, UsageError
from batchedit.manifest.columns import ColumnMap, parse_column_option, parse_columns
from batchedit.manifest.job import apply_overrides, iter_rows, load_job
from batchedit.manifest.rows import RowValidator
from batchedit.manifest.sources import RawRow
from batchedit.records import InvalidRow, Row

CDN = "https://cdn.example.com"


def project(tmp_path: Path, csv_text: str, columns: str) -> Path:
    (tmp_path / "export.csv").write_text(csv_text, encoding="utf-8")
    job = tmp_path / "job.yaml"
    job.write_text(
        "manifest: export.csv\n"
        "defaults:\n  prompt: 'Put the {Title} on white'\n"
        f"columns:\n{columns}",
        encoding="utf-8",
    )
    return job


def rows(job: Path) -> list[Row | InvalidRow]:
    return list(iter_rows(load_job(job)))


def test_mapped_id_image_and_prompt_columns_are_read_as_those_fields(tmp_path: Path) -> None:
    job = project(
        tmp_path,
        f"SKU,Photo URL,Title,Brief\nM-1,{CDN}/m.png,Mug,Make the {{Title}} blue\n",
        "  id: SKU\n  image: Photo URL\n  prompt: Brief\n",
    )
    [row] = rows(job)
    assert isinstance(row, Row), row
    assert row.id == "M-1"
    assert [image.given for image in row.request.images] == [f"{CDN}/m.png"]
    assert row.request.prompt == "Make the Mug blue"
    assert row.fields["SKU"] == "M-1" and row.fields["Title"] == "Mug"


def test_image_may_list_several_columns_in_order_skipping_empty_cells(tmp_path: Path) -> None:
    job = project(
        tmp_path,
        f"sku,Title,front,back,side\na,Mug,{CDN}/f.png,,{CDN}/s.png|{CDN}/t.png\n",
        "  id: sku\n  image: [front, back, side]\n",
    )
    [row] = rows(job)
    assert isinstance(row, Row), row
    assert [i.given for i in row.request.images] == [f"{CDN}/f.png", f"{CDN}/s.png", f"{CDN}/t.png"]


def test_id_template_builds_ids_from_several_columns(tmp_path: Path) -> None:
    job = project(
        tmp_path,
        f"Handle,Colour,Title,img\nmug,red,Mug,{CDN}/a.png\nmug,blue,Mug,{CDN}/b.png\n",
        "  id: '{Handle}-{Colour}'\n  image: img\n",
    )
    assert [row.id for row in rows(job)] == ["mug-red", "mug-blue"]


def test_id_template_duplicates_are_caught_like_duplicate_ids(tmp_path: Path) -> None:
    job = project(
        tmp_path,
        f"Handle,Colour,Title,img\nmug,red,Mug,{CDN}/a.png\nmug,red,Mug,{CDN}/b.png\n",
        "  id: '{Handle}-{Colour}'\n  image: img\n",
    )
    first, second = rows(job)
    assert isinstance(first, Row) and isinstance(second, InvalidRow)
    assert [(p.line, p.field) for p in second.problems] == [(3, "id")]


def test_a_mapped_column_missing_from_the_header_is_one_clear_error(tmp_path: Path) -> None:
    job = project(tmp_path, "sku,Title\na,Mug\n", "  id: sku\n  image: Photo URL\n")
    with pytest.raises(SourceError) as info:
        rows(job)
    message = str(info.value)
    assert message.startswith(str(job))
    assert "reads 'Photo URL'" in message and "its columns: sku, Title" in message


def test_an_id_template_column_missing_from_the_header_is_one_clear_error(
    tmp_path: Path,
) -> None:
    job = project(tmp_path, "sku,Title\na,Mug\n", "  id: '{sku}-{size}'\n")
    with pytest.raises(SourceError, match="reads 'size'"):
        rows(job)


def test_id_template_on_a_yaml_row_without_the_column_makes_that_row_invalid(
    tmp_path: Path,
) -> None:
    (tmp_path / "m.yaml").write_text(
        f"- {{sku: a, colour: red, Title: Mug, image: {CDN}/a.png}}\n"
        f"- {{sku: b, Title: Hat, image: {CDN}/b.png}}\n",
        encoding="utf-8",
    )
    job = tmp_path / "job.yaml"
    job.write_text(
        "manifest: m.yaml\ndefaults: {prompt: 'x {Title}'}\ncolumns: {id: '{sku}-{colour}'}\n"
    )
    first, second = rows(job)
    assert isinstance(first, Row) and first.id == "a-red"
    assert isinstance(second, InvalidRow)
    assert second.problems[0].field == "id"
    assert "id template names column 'colour'" in second.problems[0].message


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ("  colour: Color\n", "cannot map 'colour'; mappable fields: id, prompt, image"),
        ("  prompt: '{Title}'\n", "only id may be a template"),
        ("  model: [a, b]\n", "model must be a column name, got ['a', 'b']"),
        ("  id: '{sku'\n", "id template has an unbalanced '{'"),
        ("  - id\n", "columns must be a mapping"),
    ],
)
def test_a_bad_mapping_names_the_job_file_line(tmp_path: Path, columns: str, message: str) -> None:
    job = project(tmp_path, "sku,Title\na,Mug\n", columns)
    with pytest.raises(SourceError) as info:
        load_job(job)
    assert info.value.line == 5
    assert message in str(info.value)


def test_command_line_columns_are_laid_over_the_jobs_field_by_field(tmp_path: Path) -> None:
    job = project(
        tmp_path,
        f"sku,code,Title,img,img2\na,A1,Mug,{CDN}/1.png,{CDN}/2.png\n",
        "  id: sku\n  image: img\n",
    )
    settings = apply_overrides(load_job(job), columns={"image": "img2"})
    assert settings.columns == ColumnMap({"id": ("sku",), "image": ("img2",)})
    templated = apply_overrides(settings, columns={"id": "{code}-{sku}"})
    assert templated.columns == ColumnMap({"image": ("img2",)}, "{code}-{sku}")
    [row] = iter_rows(templated)
    assert isinstance(row, Row) and row.id == "A1-a"
    assert row.request.images[0].given == f"{CDN}/2.png"


def test_column_option_parses_field_equals_column_and_repeats_image() -> None:
    assert parse_column_option(["id=Variant SKU", "image=a", "image=b"]) == {
        "id": "Variant SKU",
        "image": ["a", "b"],
    }
    with pytest.raises(ValueError, match="FIELD=COLUMN"):
        parse_column_option(["id"])


def test_validate_takes_column_and_delimiter_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"ref,what,pic\nr1,Make it blue,{CDN}/1.png\n", encoding="utf-8")
    assert main(["validate", str(manifest)]) == 2
    capsys.readouterr()
    argv = ["validate", str(manifest), "--column", "id=ref", "--column", "prompt=what"]
    assert main([*argv, "--column", "image=pic", "--delimiter", ","]) == 0
    assert capsys.readouterr().out == f"{manifest}: 1 row, all valid\n"
    with pytest.raises(UsageError):
        apply_overrides(load_job(manifest), delimiter="|")


values = st.text(alphabet=st.characters(codec="utf-8"), max_size=10)
column_names = st.text(alphabet="abcdefgh_ ", min_size=1, max_size=6).filter(
    lambda name: name.strip() == name
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(column_names, values, min_size=1, max_size=4), st.data())
def test_an_id_template_renders_its_columns_with_literal_text_between(
    row: dict[str, str], data: st.DataObject
) -> None:
    names = data.draw(st.lists(st.sampled_from(sorted(row)), min_size=1, max_size=4))
    separator = data.draw(st.sampled_from(["-", "_", "/", " ", ""]))
    template = separator.join("{" + name + "}" for name in names)
    columns = parse_columns({"id": template})
    # Ids are NFC-normalised as they are read (docs/job-files.md), so that an id
    # typed on macOS and on Windows is one id: U+F900 is U+8C48 after it.
    expected = unicodedata.normalize("NFC", separator.join(row[name] for name in names)).strip()
    validator = RowValidator("m.csv", Path("."), {"prompt": "p"}, "google/nano-banana-pro-edit")
    validator.columns = columns
    checked = validator.check(RawRow(1, 2, {**row, "image": f"{CDN}/x.png"}))
    assert checked.id == expected
    if expected:
        assert isinstance(checked, Row)
    else:
        assert isinstance(checked, InvalidRow) and checked.problems[0].field == "id"
