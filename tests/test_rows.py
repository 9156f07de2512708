from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from support import write_image

from batchedit.catalogue import DEFAULT_MODEL, packaged_catalogue
from batchedit.manifest.reader import RawRow, RawValue, open_manifest
from batchedit.manifest.rows import RowValidator
from batchedit.records import ImageRef, InvalidRow, Problem, Row

HTTPS = "https://cdn.example.com/a.png"


def check_all(
    path: Path,
    *,
    defaults: Mapping[str, RawValue] | None = None,
    model: str = DEFAULT_MODEL,
) -> list[Row | InvalidRow]:
    manifest = open_manifest(path)
    merged = {**(defaults or {}), **manifest.defaults}
    validator = RowValidator(str(path), path.parent, merged, model)
    return [validator.check(raw) for raw in manifest.rows()]


def write_csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.csv"
    path.write_text(text, encoding="utf-8")
    return path


def only_valid(rows: list[Row | InvalidRow]) -> list[Row]:
    assert all(isinstance(row, Row) for row in rows), rows
    return [row for row in rows if isinstance(row, Row)]


def messages(row: Row | InvalidRow) -> list[str]:
    assert isinstance(row, InvalidRow), row
    return [str(problem) for problem in row.problems]


@pytest.fixture
def images(tmp_path: Path) -> Path:
    for name in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / name)
    return tmp_path


def test_valid_csv_row_becomes_a_request(images: Path) -> None:
    path = write_csv(
        images, f"id,prompt,image,aspect_ratio,resolution\nx,Blue,a.png|{HTTPS},4:5,2K\n"
    )
    [row] = only_valid(check_all(path))
    assert (row.index, row.line, row.id) == (1, 2, "x")
    assert row.request.model == DEFAULT_MODEL
    assert row.request.prompt == "Blue"
    assert row.request.images == (
        ImageRef("a.png", (images / "a.png").absolute()),
        ImageRef(HTTPS),
    )
    assert row.request.params() == {"aspectRatio": "4:5", "imageSize": "2K"}


def test_options_not_given_stay_none(images: Path) -> None:
    [row] = only_valid(check_all(write_csv(images, "id,prompt,image\nx,p,a.png\n")))
    assert (row.request.aspect_ratio, row.request.image_size) == (None, None)


def test_pipe_separated_images_drop_empty_parts(images: Path) -> None:
    path = write_csv(images, "id,prompt,image\nx,p, a.png || b.png |\n")
    [row] = only_valid(check_all(path))
    assert [image.given for image in row.request.images] == ["a.png", "b.png"]


def test_image_columns_follow_image_in_order(images: Path) -> None:
    path = write_csv(images, "id,prompt,image_2,image,image_1\nx,p,c.png,a.png,b.png\n")
    [row] = only_valid(check_all(path))
    assert [image.given for image in row.request.images] == ["a.png", "b.png", "c.png"]


def test_extra_columns_go_into_fields_and_templates(images: Path) -> None:
    path = write_csv(
        images, "id,prompt,image,title,sku\nx,Put {title} ({sku}) on white,a.png,Mug,M-1\n"
    )
    [row] = only_valid(check_all(path))
    assert row.request.prompt == "Put Mug (M-1) on white"
    assert row.fields == {"title": "Mug", "sku": "M-1"}


def test_non_ascii_ids_and_prompts_survive(images: Path) -> None:
    path = write_csv(images, "id,prompt,image\nCafé crème ☕,商品を白背景に,a.png\n")
    [row] = only_valid(check_all(path))
    assert (row.id, row.request.prompt) == ("Café crème ☕", "商品を白背景に")


def test_quoted_newlines_keep_problem_lines_right(images: Path) -> None:
    path = write_csv(images, 'id,prompt,image\na,"two\nlines",a.png\n,p,a.png\n')
    rows = check_all(path)
    assert isinstance(rows[0], Row)
    assert messages(rows[1]) == [f"{path}:4: missing id: every row needs a non-empty, unique id"]


def test_empty_cell_falls_back_to_the_default(images: Path) -> None:
    path = write_csv(images, "id,prompt,image,resolution\nx,,a.png,\ny,Own,a.png,4K\n")
    defaults: dict[str, RawValue] = {"prompt": "Default {id}", "resolution": "2K"}
    rows = only_valid(check_all(path, defaults=defaults))
    assert [(r.request.prompt, r.request.image_size) for r in rows] == [
        ("Default x", "2K"),
        ("Own", "4K"),
    ]


def test_defaults_are_available_to_templates_and_fields(images: Path) -> None:
    path = write_csv(images, "id,image\nx,a.png\n")
    defaults: dict[str, RawValue] = {"prompt": "{brand} shot", "brand": "Acme"}
    [row] = only_valid(check_all(path, defaults=defaults))
    assert row.request.prompt == "Acme shot"
    assert row.fields == {"brand": "Acme"}


def test_yaml_rows_with_defaults_and_image_lists(images: Path) -> None:
    path = images / "m.yaml"
    path.write_text(
        "defaults:\n  prompt: Put {title} on white\n  aspect_ratio: 4:5\n"
        "rows:\n  - id: 1\n    title: Shoe\n    image: [a.png, b.png]\n"
        f"  - id: two\n    title: Hat\n    image: {HTTPS}\n    aspect_ratio: '1:1'\n",
        encoding="utf-8",
    )
    rows = only_valid(check_all(path))
    assert [(r.id, r.line, r.request.prompt, r.request.aspect_ratio) for r in rows] == [
        ("1", 5, "Put Shoe on white", "4:5"),
        ("two", 8, "Put Hat on white", "1:1"),
    ]
    assert len(rows[0].request.images) == 2


def test_missing_template_column_makes_the_row_invalid_at_its_line(images: Path) -> None:
    path = write_csv(images, "id,prompt,image\nx,ok,a.png\ny,Put {title} here,a.png\n")
    rows = check_all(path)
    assert isinstance(rows[0], Row)
    invalid = rows[1]
    assert isinstance(invalid, InvalidRow)
    assert [(p.line, p.field) for p in invalid.problems] == [(3, "prompt")]
    assert (invalid.id, invalid.prompt, invalid.images) == ("y", "Put {title} here", ("a.png",))


def test_duplicate_id_points_at_the_first(images: Path) -> None:
    path = write_csv(images, "id,prompt,image\nx,p,a.png\ny,p,a.png\nx,p,a.png\n")
    rows = check_all(path)
    assert messages(rows[2]) == [f"{path}:4: duplicate id 'x' (first on line 2)"]


def test_empty_prompt_after_rendering_is_invalid(images: Path) -> None:
    path = write_csv(images, "id,prompt,image,title\nx,{title?},a.png,\ny,,a.png,t\n")
    rows = check_all(path)
    assert messages(rows[0]) == [
        f"{path}:2: prompt is empty once the template is filled in from this row"
    ]
    assert messages(rows[1]) == [
        f"{path}:3: missing prompt: give a prompt column, or a prompt in defaults:"
    ]


def test_too_many_images_for_the_pro_model(tmp_path: Path) -> None:
    urls = "|".join(f"https://e.com/{n}.png" for n in range(15))
    path = write_csv(tmp_path, f"id,prompt,image\nx,p,{urls}\n")
    [row] = check_all(path)
    assert messages(row) == [
        f"{path}:2: 15 images, but google/nano-banana-pro-edit takes at most 14"
    ]


def test_too_many_images_for_nano_banana_edit_via_image_columns(tmp_path: Path) -> None:
    header = ",".join(f"image_{n}" for n in range(1, 5))
    cells = ",".join(f"https://e.com/{n}.png" for n in range(1, 5))
    path = write_csv(tmp_path, f"id,prompt,model,{header}\nx,p,google/nano-banana-edit,{cells}\n")
    [row] = check_all(path)
    assert messages(row) == [f"{path}:2: 4 images, but google/nano-banana-edit takes at most 3"]


def test_no_image_is_invalid(tmp_path: Path) -> None:
    [row] = check_all(write_csv(tmp_path, "id,prompt,image\nx,p,\n"))
    assert "no input image" in messages(row)[0]


def test_bad_aspect_ratio_lists_the_allowed_ones(tmp_path: Path) -> None:
    path = write_csv(tmp_path, f"id,prompt,image,aspect_ratio\nx,p,{HTTPS},1:4\n")
    [row] = check_all(path)
    assert messages(row) == [
        f"{path}:2: aspect_ratio '1:4' is not allowed for google/nano-banana-pro-edit; "
        "allowed: 1:1, 2:3, 3:2, 3:4, 4:3, 4:5, 5:4, 9:16, 16:9, 21:9"
    ]
    assert isinstance(row, InvalidRow) and row.params == {"aspectRatio": "1:4"}


def test_bad_resolution_lists_the_allowed_ones(tmp_path: Path) -> None:
    path = write_csv(tmp_path, f"id,prompt,image,resolution\nx,p,{HTTPS},8K\n")
    [row] = check_all(path)
    assert messages(row) == [
        f"{path}:2: resolution '8K' is not allowed for google/nano-banana-pro-edit; "
        "allowed: 1K, 2K, 4K"
    ]


def test_per_row_model_changes_the_limits(tmp_path: Path) -> None:
    text = (
        "id,prompt,image,model,aspect_ratio,resolution\n"
        f"x,p,{HTTPS},google/nano-banana-2-edit,1:4,512\n"
        f"y,p,{HTTPS},,1:4,512\n"
    )
    path = write_csv(tmp_path, text)
    first, second = check_all(path)
    assert isinstance(first, Row)
    assert first.request.model == "google/nano-banana-2-edit"
    assert first.request.params() == {"aspectRatio": "1:4", "imageSize": "512"}
    assert len(messages(second)) == 2


def test_unknown_model_lists_the_known_ones(tmp_path: Path) -> None:
    path = write_csv(tmp_path, f"id,prompt,image,model\nx,p,{HTTPS},acme/paint\n")
    [row] = check_all(path)
    assert messages(row) == [
        f"{path}:2: unknown model 'acme/paint'; known models: "
        f"{', '.join(packaged_catalogue().models)} (if it is a new model the catalogue "
        "does not know yet, send it anyway: --allow-model acme/paint, or allow_models: in "
        "the job file)"
    ]
    assert isinstance(row, InvalidRow) and row.model == "acme/paint"


def test_missing_local_file_says_where_it_looked(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "id,prompt,image\nx,p,photos/missing.png\n")
    [row] = check_all(path)
    assert messages(row) == [
        f"{path}:2: image file 'photos/missing.png' not found "
        f"(looked for {(tmp_path / 'photos' / 'missing.png').absolute()})"
    ]


def test_a_folder_is_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    [row] = check_all(write_csv(tmp_path, "id,prompt,image\nx,p,dir\n"))
    assert "is not a regular file" in messages(row)[0]


def test_absolute_local_paths_are_allowed(
    images: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("manifests")
    path = write_csv(other, f"id,prompt,image\nx,p,{images / 'a.png'}\n")
    [row] = only_valid(check_all(path))
    assert row.request.images[0].path == images / "a.png"


def test_plain_http_is_refused_unless_loopback(tmp_path: Path) -> None:
    text = (
        "id,prompt,image\n"
        "a,p,http://example.com/a.png\n"
        "b,p,http://localhost:8080/a.png\n"
        "c,p,http://127.0.0.1/a.png\n"
        "d,p,http://[::1]:9000/a.png\n"
        "e,p,ftp://example.com/a.png\n"
    )
    path = write_csv(tmp_path, text)
    rows = check_all(path)
    assert messages(rows[0]) == [
        f"{path}:2: image 'http://example.com/a.png' uses plain http; use an https:// URL "
        "(http is allowed only for localhost, 127.0.0.1 and [::1])"
    ]
    assert all(isinstance(row, Row) for row in rows[1:4])
    assert "is not an https:// URL" in messages(rows[4])[0]


def test_data_uris_must_be_base64_images(tmp_path: Path) -> None:
    text = 'id,prompt,image\na,p,"data:image/png;base64,iVBORw0KGgo="\nb,p,"data:text/plain,hi"\n'
    rows = check_all(write_csv(tmp_path, text))
    assert isinstance(rows[0], Row) and rows[0].request.images[0].path is None
    assert "data: URI" in messages(rows[1])[0]


def test_every_problem_of_a_row_is_reported(tmp_path: Path) -> None:
    text = "id,prompt,image,aspect_ratio,resolution\n,{nope},http://e.com/x.png,7:7,9K\n"
    path = write_csv(tmp_path, text)
    [row] = check_all(path)
    assert isinstance(row, InvalidRow)
    assert [problem.field for problem in row.problems] == [
        "id",
        "prompt",
        "image",
        "aspect_ratio",
        "resolution",
    ]
    assert row.id == ""
    assert row.params == {"aspectRatio": "7:7", "imageSize": "9K"}


def test_raw_row_problems_are_kept(tmp_path: Path) -> None:
    validator = RowValidator("m.csv", tmp_path, {}, DEFAULT_MODEL)
    raw = RawRow(1, 5, {"id": "x", "prompt": "p", "image": HTTPS}, ("row has 3 cells",))
    row = validator.check(raw)
    assert isinstance(row, InvalidRow)
    assert row.problems == (Problem("m.csv", 5, "row has 3 cells"),)
    unreadable = validator.check(RawRow(2, 9, {}, ("row is a list",)))
    assert isinstance(unreadable, InvalidRow)
    assert [str(problem) for problem in unreadable.problems] == ["m.csv:9: row is a list"]


def test_yaml_list_in_a_single_valued_field_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(f"- {{id: x, prompt: p, image: {HTTPS}, tags: [a, b]}}\n", encoding="utf-8")
    [row] = check_all(path)
    assert messages(row) == [
        f"{path}:1: field 'tags' is a list; only image may list several values"
    ]


def test_image_columns_past_14_are_flagged(tmp_path: Path) -> None:
    path = write_csv(tmp_path, f"id,prompt,image,image_15\nx,p,{HTTPS},{HTTPS}\n")
    [row] = check_all(path)
    assert "image_1..image_14" in messages(row)[0]


def test_a_template_column_present_but_empty_makes_the_row_invalid(images: Path) -> None:
    text = (
        "id,prompt,image,colour\n"
        "x,Put the {colour} cap on white,a.png,\n"
        "y,Put the {colour?} cap,a.png,\n"
    )
    rows = check_all(write_csv(images, text))
    assert isinstance(rows[0], InvalidRow)
    assert "'colour', which is empty in this row" in messages(rows[0])[0]
    assert "{colour?}" in messages(rows[0])[0], "the message says how to allow it"
    assert isinstance(rows[1], Row) and rows[1].request.prompt == "Put the  cap"
