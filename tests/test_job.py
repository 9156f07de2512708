from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from support import write_image

from batchedit.catalogue import DEFAULT_MODEL
from batchedit.errors import SourceError, UsageError
from batchedit.manifest.job import (
    JOB_KEYS,
    SETTING_NAMES,
    JobSettings,
    apply_overrides,
    iter_rows,
    load_job,
    open_rows,
    validate_job,
)
from batchedit.records import InvalidRow, Row

HTTPS = "https://cdn.example.com/a.png"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """jobs/catalog.yaml naming data/catalog.csv, which uses a local image."""
    (tmp_path / "jobs").mkdir()
    (tmp_path / "data").mkdir()
    write_image(tmp_path / "data" / "shoe.png")
    (tmp_path / "data" / "catalog.csv").write_text(
        "id,image,title,resolution\nshoe,shoe.png,Shoe,\nhat,,Hat,4K\n", encoding="utf-8"
    )
    return tmp_path


def write_job(project: Path, text: str) -> Path:
    path = project / "jobs" / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    return path


JOB = """\
manifest: ../data/catalog.csv
model: google/nano-banana-2-edit
output_dir: ../runs/catalog
concurrency: 4
poll_interval_s: 0.5
defaults:
  prompt: "Put the {title} on white"
  resolution: 2K
  image: https://cdn.example.com/default.png
"""


def test_job_file_paths_are_relative_to_the_job_file(project: Path) -> None:
    job_path = write_job(project, JOB)
    job = load_job(job_path)
    assert job == JobSettings(
        source=job_path,
        manifest=project / "jobs" / "../data/catalog.csv",
        model="google/nano-banana-2-edit",
        output_dir=project / "jobs" / "../runs/catalog",
        concurrency=4,
        poll_interval_s=0.5,
        defaults={
            "prompt": "Put the {title} on white",
            "resolution": "2K",
            "image": "https://cdn.example.com/default.png",
        },
    )


def test_job_defaults_fill_rows_and_local_images_resolve_from_the_manifest(project: Path) -> None:
    rows = list(iter_rows(load_job(write_job(project, JOB))))
    assert all(isinstance(row, Row) for row in rows)
    shoe, hat = (row for row in rows if isinstance(row, Row))
    assert shoe.request.prompt == "Put the Shoe on white"
    assert shoe.request.model == "google/nano-banana-2-edit"
    assert shoe.request.image_size == "2K"
    assert shoe.request.images[0].path == (project / "data" / "shoe.png").absolute()
    assert hat.request.image_size == "4K"
    assert hat.request.images[0].given == "https://cdn.example.com/default.png"


def test_iter_rows_can_be_streamed_twice(project: Path) -> None:
    job = load_job(write_job(project, JOB))
    assert list(iter_rows(job)) == list(iter_rows(job))  # no duplicate ids the second time


def test_manifest_defaults_win_over_job_defaults(project: Path) -> None:
    (project / "data" / "m.yaml").write_text(
        f"defaults:\n  resolution: 1K\nrows:\n  - {{id: a, image: {HTTPS}}}\n", encoding="utf-8"
    )
    job_path = write_job(
        project, "manifest: ../data/m.yaml\ndefaults: {prompt: p, resolution: 4K}\n"
    )
    manifest, validator = open_rows(load_job(job_path))
    [row] = [validator.check(raw) for raw in manifest.rows()]
    assert isinstance(row, Row)
    assert (row.request.prompt, row.request.image_size) == ("p", "1K")


def test_a_bare_csv_is_its_own_manifest(project: Path) -> None:
    path = project / "data" / "catalog.csv"
    assert load_job(path) == JobSettings(source=path, manifest=path)


def test_a_yaml_without_manifest_key_is_a_bare_manifest(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(f"rows:\n  - {{id: a, prompt: p, image: {HTTPS}}}\n", encoding="utf-8")
    job = load_job(path)
    assert (job.manifest, job.model, job.defaults) == (path, DEFAULT_MODEL, {})
    assert [row.id for row in iter_rows(job)] == ["a"]


def test_unknown_job_key_names_its_line_and_the_setting_meant(project: Path) -> None:
    path = write_job(project, "manifest: ../data/catalog.csv\nconcurancy: 3\n")
    with pytest.raises(SourceError) as info:
        load_job(path)
    assert str(info.value) == f"{path}:2: unknown setting 'concurancy'; did you mean 'concurrency'?"
    path = write_job(project, "manifest: ../data/catalog.csv\nparallelism: 3\n")
    with pytest.raises(SourceError) as info:
        load_job(path)  # nothing near: the settings there are
    assert str(info.value) == (
        f"{path}:2: unknown setting 'parallelism'; allowed: {', '.join(JOB_KEYS)}"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("concurrency: 0", "concurrency must be a positive whole number"),
        ("concurrency: two", "concurrency must be a positive whole number"),
        ("concurrency: 2.5", "concurrency must be a positive whole number"),
        ("concurrency: true", "concurrency must be a positive whole number"),
        ("poll_interval_s: -1", "poll_interval_s must be a positive number"),
        ("poll_interval_s: [1]", "poll_interval_s: must be a single value"),
        ("model: acme/paint", "unknown model 'acme/paint'; known models: alibaba/qwen-image"),
        ("model: 3", "model '3' is not a provider/name slug; known models: alibaba/"),
        ("model: nano-banana-edit", "did you mean 'google/nano-banana-edit'?"),
        ("defaults: [a]", "defaults: must be a mapping"),
        ("defaults: {a: {b: 1}}", "field 'a' is a mapping"),
    ],
)
def test_bad_job_values_name_the_file_and_line(project: Path, line: str, message: str) -> None:
    path = write_job(project, f"manifest: ../data/catalog.csv\n{line}\n")
    with pytest.raises(SourceError) as info:
        load_job(path)
    assert info.value.file == str(path)
    assert info.value.line == 2
    assert message in str(info.value)


def test_missing_manifest_in_a_job_points_at_the_manifest_key(project: Path) -> None:
    path = write_job(project, "model: google/nano-banana-edit\nmanifest: nope.csv\n")
    with pytest.raises(SourceError) as info:
        load_job(path)
    assert info.value.line == 2
    assert "relative to the job file" in str(info.value)


def test_job_yaml_syntax_error_names_its_line(project: Path) -> None:
    path = write_job(project, "manifest: ../data/catalog.csv\nmodel: [unclosed\n")
    with pytest.raises(SourceError) as info:
        load_job(path)
    # the unclosed bracket is on line 2; the parser notices at the end, line 3
    assert info.value.line in (2, 3)


def test_missing_source_is_a_source_error(tmp_path: Path) -> None:
    for name in ("nope.csv", "nope.yaml"):
        with pytest.raises(SourceError) as info:
            load_job(tmp_path / name)
        assert (info.value.file, info.value.line) == (str(tmp_path / name), None)


def test_unknown_source_extension_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"\.csv"):
        load_job(tmp_path / "job.json")


def test_apply_overrides_replaces_given_settings_and_ignores_none(project: Path) -> None:
    job = load_job(write_job(project, JOB))
    changed = apply_overrides(
        job, model="google/nano-banana-edit", concurrency=2, output_dir=None, poll_interval_s="1.5"
    )
    assert changed.model == "google/nano-banana-edit"
    assert changed.concurrency == 2
    assert changed.poll_interval_s == 1.5
    assert changed.output_dir == job.output_dir
    assert apply_overrides(job, output_dir="out").output_dir == Path("out")
    assert apply_overrides(job) == job


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("concurrency", 0),
        ("concurrency", "x"),
        ("poll_interval_s", 0),
        ("model", "acme/paint"),
        ("output_dir", ""),
        ("colour", "red"),
    ],
)
def test_apply_overrides_rejects_bad_values_as_usage_errors(
    project: Path, name: str, value: object
) -> None:
    job = load_job(write_job(project, JOB))
    with pytest.raises(UsageError, match=name):
        apply_overrides(job, **{name: value})


def test_setting_names_are_the_overridable_job_keys() -> None:
    fields = {field.name for field in dataclasses.fields(JobSettings)}
    assert set(SETTING_NAMES) <= fields
    assert {"manifest", "model", "output_dir", "concurrency", "poll_interval_s"} <= set(
        SETTING_NAMES
    )
    assert "defaults" not in SETTING_NAMES and "defaults" in JOB_KEYS
    assert {"rate_limit", "max_unknown", "task_timeout"} <= set(SETTING_NAMES)


def test_validate_job_returns_every_problem_of_every_row(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        f"id,prompt,image,resolution\na,p,{HTTPS},\n,p,{HTTPS},9K\na,{{missing}},{HTTPS},\n",
        encoding="utf-8",
    )
    problems = validate_job(load_job(path))
    # each message has its own test in test_rows.py; here: all of them, in order
    assert [(p.file, p.line, p.field) for p in problems] == [
        (str(path), 3, "id"),  # missing
        (str(path), 3, "resolution"),
        (str(path), 4, "id"),  # duplicate
        (str(path), 4, "prompt"),
    ]


def test_validate_job_of_a_clean_manifest_is_empty(project: Path) -> None:
    assert validate_job(load_job(write_job(project, JOB))) == []


def test_invalid_rows_carry_the_job_model(project: Path) -> None:
    job_path = write_job(
        project,
        "manifest: ../data/catalog.csv\nmodel: google/nano-banana-edit\ndefaults:\n  prompt: p\n",
    )
    rows = list(iter_rows(load_job(job_path)))
    invalid = [row for row in rows if isinstance(row, InvalidRow)]
    assert [row.id for row in invalid] == ["hat"]  # no image
    assert {row.model for row in invalid} == {"google/nano-banana-edit"}


def test_a_manifest_key_after_rows_still_makes_a_job_file(project: Path) -> None:
    path = write_job(project, "rows:\n  - {id: a}\nmanifest: ../data/catalog.csv\n")
    with pytest.raises(SourceError, match="unknown setting 'rows'") as info:
        load_job(path)
    assert info.value.line == 1
