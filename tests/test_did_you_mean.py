"""Every name a user types, refused with the name meant: model slugs (and
`--allow-model` only after, never with the typo), settings, mapped columns
(case first, at their line of the job file), template columns, parameters
and their values; an enum value that differs only by case is taken, and said."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from support import write_csv

from batchedit.cli import main
from batchedit.errors import SourceError, UsageError
from batchedit.manifest.job import apply_overrides, iter_rows, load_job
from batchedit.records import InvalidRow, Row

CDN = "https://cdn.example.com"
SLUG = "google/nano-banana-pro-edit"


def export(folder: Path) -> Path:
    """A Shopify-shaped export: its own column names, in its own case."""
    rows = [
        {"Handle": f"mug-{n}", "Variant SKU": f"MUG-{n}", "Image Src": f"{CDN}/{n}.png"}
        for n in range(3)
    ]
    return write_csv(folder / "export.csv", rows)


def job(folder: Path, body: str) -> Path:
    export(folder)
    path = folder / "job.yaml"
    path.write_text(f"manifest: export.csv\n{body}", encoding="utf-8")
    return path


MAPPED = "columns:\n  id: Variant SKU\n  image: Image Src\n"


def err_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_a_misspelled_slug_suggests_the_slug_and_never_allows_the_typo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = job(tmp_path, f"model: {SLUG[:-2]}t\n{MAPPED}defaults: {{prompt: p}}\n")
    with pytest.raises(SourceError) as info:
        load_job(path)
    message = str(info.value)
    assert info.value.line == 2
    assert f"did you mean '{SLUG}'?" in message
    assert message.index("did you mean") < message.index("--allow-model")
    assert f"--allow-model {SLUG[:-2]}t" not in message  # the typo would be paid for
    assert "--allow-model SLUG" in message and "does not know yet" in message
    assert "alibaba/" not in message  # no list of every slug to search

    assert main(["models", "google/nano-banana-edt"]) == 2
    assert "did you mean 'google/nano-banana-edit'?" in capsys.readouterr().err
    with pytest.raises(UsageError, match="did you mean 'google/nano-banana-2-edit'"):
        apply_overrides(load_job(job(tmp_path, MAPPED)), model="google/nano-banana-2-edt")


def test_a_misspelled_row_model_suggests_the_slug(tmp_path: Path) -> None:
    manifest = write_csv(
        tmp_path / "m.csv",
        [{"id": "a", "prompt": "p", "image": f"{CDN}/a.png", "model": "openai/gpt-image-2-eddit"}],
    )
    [row] = iter_rows(load_job(manifest))
    assert isinstance(row, InvalidRow)
    [problem] = row.problems
    assert "did you mean 'openai/gpt-image-2-edit'?" in problem.message
    assert "--allow-model openai/gpt-image-2-eddit" not in problem.message


def test_a_misspelled_setting_suggests_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = job(tmp_path, "concurrancy: 3\n")
    assert main(["validate", str(path)]) == 2
    assert err_lines(capsys) == [
        f"batchedit: {path}:2: unknown setting 'concurrancy'; did you mean 'concurrency'?"
    ]
    with pytest.raises(UsageError, match="did you mean 'max_tasks'"):
        apply_overrides(load_job(job(tmp_path, MAPPED)), max_task=3)
    with pytest.raises(SourceError, match="output: unknown key 'fromat'; did you mean 'format'"):
        load_job(job(tmp_path, "output: {fromat: webp}\n"))


def test_a_mapped_column_in_the_wrong_case_names_the_header_column_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = job(tmp_path, "columns:\n  image: Image Src\n  id: Variant Sku\ndefaults: {prompt: p}\n")
    assert main(["validate", str(path)]) == 2
    [line] = err_lines(capsys)
    assert line.startswith(f"batchedit: {path}:4: columns: id reads 'Variant Sku'")
    assert "did you mean 'Variant SKU'?" in line and "case included" in line

    fixed = job(tmp_path, f"{MAPPED}defaults: {{prompt: p}}\n")
    argv = ["validate", str(fixed), "--column", "image=Image Scr"]
    assert main(argv) == 2  # given on the command line: said as the option it was
    [line] = err_lines(capsys)
    assert "--column image=Image Scr" in line and "did you mean 'Image Src'?" in line


def test_an_id_template_column_is_matched_too(tmp_path: Path) -> None:
    path = job(tmp_path, "columns:\n  id: '{handle}'\n  image: Image Src\ndefaults: {prompt: p}\n")
    with pytest.raises(Exception) as info:
        list(iter_rows(load_job(path)))
    assert "did you mean 'Handle'?" in str(info.value)


def test_a_template_column_misspelled_suggests_the_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = job(tmp_path, f"{MAPPED}defaults:\n  prompt: 'The {{Handel}} on white'\n")
    assert main(["validate", str(path)]) == 2
    [line] = err_lines(capsys)
    assert line.startswith(f"batchedit: {path}:6: defaults: prompt template names 'Handel'")
    assert line.endswith("did you mean 'Handle'?")

    rows = [{"id": "a", "Title": "Mug", "prompt": "The {Titel}", "image": f"{CDN}/a.png"}]
    [row] = iter_rows(load_job(write_csv(tmp_path / "m.csv", rows)))
    assert isinstance(row, InvalidRow)
    assert "names column 'Titel', which this row does not have (did you mean 'Title'?)" in (
        row.problems[0].message
    )


def test_an_enum_value_near_an_allowed_one_is_refused_with_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = job(tmp_path, f"{MAPPED}defaults:\n  prompt: p\n  aspect_ratio: 4x5\n")
    assert main(["validate", str(path)]) == 2
    [line] = err_lines(capsys)
    assert f"aspect_ratio '4x5' is not allowed for {SLUG}; did you mean '4:5'?" in line
    path = job(tmp_path, f"{MAPPED}defaults:\n  prompt: p\n  params: {{imagesize: 2K}}\n")
    assert main(["validate", str(path)]) == 2
    assert "unknown parameter 'param.imagesize'" in (line := err_lines(capsys)[0])
    assert "did you mean 'param.imageSize'?" in line


def test_an_enum_value_differing_only_by_case_is_taken_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [
        {"id": f"r{n}", "prompt": "p", "image": f"{CDN}/{n}.png", "resolution": "1k"}
        for n in range(50)
    ]
    manifest = write_csv(tmp_path / "m.csv", rows)
    with caplog.at_level(logging.WARNING):
        checked = list(iter_rows(load_job(manifest)))
    assert all(isinstance(row, Row) for row in checked)
    assert {row.request.image_size for row in checked if isinstance(row, Row)} == {"1K"}
    assert {row.request.params()["imageSize"] for row in checked if isinstance(row, Row)} == {"1K"}
    said = [record.getMessage() for record in caplog.records if "taken as" in record.getMessage()]
    assert said == [
        f"{manifest}:2: resolution '1k' taken as '1K' (allowed values match case "
        "included; write '1K')"
    ]
