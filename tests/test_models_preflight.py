"""Per-row models checked against each model's own limits, --allow-model for a
slug batchedit does not know, and the preflight of local images: everything a
row needs is checked before anything is paid for."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support import ThreadedSimulator, read_report, write_csv, write_image

from batchedit.cli import main
from batchedit.errors import SourceError, UsageError
from batchedit.manifest.job import apply_overrides, iter_rows, load_job
from batchedit.records import InvalidRow, Row

CDN = "https://cdn.example.com"


def check(
    tmp_path: Path, rows: list[dict[str, str]], **overrides: object
) -> list[Row | InvalidRow]:
    manifest = write_csv(tmp_path / "m.csv", rows)
    return list(iter_rows(apply_overrides(load_job(manifest), **overrides)))


def problems(row: Row | InvalidRow) -> list[str]:
    assert isinstance(row, InvalidRow), row
    return [problem.message for problem in row.problems]


@pytest.mark.parametrize(
    ("model", "images", "ratio", "size", "ok"),
    [
        ("google/nano-banana-edit", 3, "1:1", "", True),
        ("google/nano-banana-edit", 4, "1:1", "", False),  # 3 images at most
        ("google/nano-banana-edit", 1, "1:1", "1K", False),  # takes no size
        ("google/nano-banana-pro-edit", 14, "21:9", "4K", True),
        ("google/nano-banana-pro-edit", 15, "1:1", "1K", False),
        ("google/nano-banana-pro-edit", 1, "1:4", "1K", False),  # 2-edit only
        ("google/nano-banana-2-edit", 1, "8:1", "512", True),
        ("google/nano-banana-pro-edit", 1, "1:1", "512", False),  # 2-edit only
    ],
)
def test_a_row_model_override_is_checked_against_that_models_limits(
    tmp_path: Path, model: str, images: int, ratio: str, size: str, ok: bool
) -> None:
    image = "|".join(f"{CDN}/{n}.png" for n in range(images))
    row = {"id": "a", "prompt": "p", "image": image, "model": model}
    [checked] = check(tmp_path, [{**row, "aspect_ratio": ratio, "resolution": size}])
    assert isinstance(checked, Row) is ok, checked
    got = checked.model if isinstance(checked, InvalidRow) else checked.request.model
    assert got == model


def test_an_unknown_row_model_says_how_to_pass_it_through(tmp_path: Path) -> None:
    rows = [{"id": "a", "prompt": "p", "image": f"{CDN}/a.png", "model": "acme/paint-v2"}]
    [row] = check(tmp_path, rows)
    [message] = problems(row)
    assert message.startswith("unknown model 'acme/paint-v2'; known models: alibaba/")
    assert "--allow-model acme/paint-v2" in message
    [allowed] = check(tmp_path, rows, allow_models=["acme/paint-v2"])
    assert isinstance(allowed, Row) and allowed.request.model == "acme/paint-v2"


def test_an_allowed_model_skips_ratio_checks_but_keeps_the_image_cap(tmp_path: Path) -> None:
    base = {"id": "a", "prompt": "p", "model": "acme/paint", "aspect_ratio": "7:3"}
    allow = {"allow_models": ["acme/paint"]}
    [row] = check(tmp_path, [{**base, "image": f"{CDN}/a.png"}], **allow)
    assert isinstance(row, Row) and row.request.params() == {"aspectRatio": "7:3"}
    many = "|".join(f"{CDN}/{n}.png" for n in range(17))  # gpt-image takes 16
    [row] = check(tmp_path, [{**base, "image": many}], **allow)
    assert problems(row) == ["17 images, but acme/paint takes at most 16"]


def test_a_slug_that_could_leave_the_request_path_is_never_allowed(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="allow_models must be a list of provider/name"):
        check(tmp_path, [], allow_models=["../../etc"])
    rows = [{"id": "a", "prompt": "p", "image": f"{CDN}/a.png", "model": "x/../y"}]
    assert "is not a provider/name slug" in problems(check(tmp_path, rows)[0])[0]


def test_an_unknown_job_model_is_refused_at_its_line_unless_allowed(tmp_path: Path) -> None:
    write_csv(tmp_path / "m.csv", [{"id": "a", "prompt": "p", "image": f"{CDN}/a.png"}])
    job = tmp_path / "job.yaml"
    job.write_text("manifest: m.csv\nmodel: acme/paint\n")
    with pytest.raises(SourceError) as info:
        load_job(job)
    assert info.value.line == 2 and "--allow-model acme/paint" in str(info.value)
    job.write_text("manifest: m.csv\nmodel: acme/paint\nallow_models: [acme/paint]\n")
    assert load_job(job).model == "acme/paint"
    with pytest.raises(UsageError, match="--allow-model acme/other"):
        apply_overrides(load_job(job), model="acme/other")
    assert apply_overrides(load_job(job), model="acme/other", allow_models=["acme/other"])


def test_an_allowed_model_the_service_does_not_know_fails_its_row_not_found(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> None:
    simulator = threaded_simulator()
    manifest = write_csv(
        tmp_path / "m.csv",
        [
            {"id": "new", "prompt": "p", "image": f"{CDN}/a.png", "model": "acme/paint"},
            {"id": "old", "prompt": "p", "image": f"{CDN}/a.png", "model": ""},
        ],
    )
    argv = ["run", str(manifest), "--out", str(tmp_path / "run"), "--no-progress"]
    assert main([*argv, "--poll-interval", "0.01", "--allow-model", "acme/paint"]) == 1
    new, old = read_report(tmp_path / "run")
    assert new["status"] == "failed" and new["error"]["category"] == "not_found"
    assert new["attempts"] == 0, "a refused submit is withdrawn: nothing was paid"
    assert old["status"] == "succeeded"
    assert simulator.stats()["submits"] == 1


def _preflight(tmp_path: Path, name: str, **overrides: object) -> list[str]:
    [row] = check(tmp_path, [{"id": "a", "prompt": "p", "image": name}], **overrides)
    return problems(row)


SENT_AS_THEY_ARE: dict[str, object] = {"inputs": {"prepare": "off"}}


def test_preflight_tells_images_by_content_not_by_extension(tmp_path: Path) -> None:
    write_image(tmp_path / "really-a-png.jpg")
    [row] = check(tmp_path, [{"id": "a", "prompt": "p", "image": "really-a-png.jpg"}])
    assert isinstance(row, Row)
    (tmp_path / "notes.png").write_text("GIF89a, or a text file named .png")
    [message] = _preflight(tmp_path, "notes.png", **SENT_AS_THEY_ARE)
    assert "is not a PNG, JPEG or WebP image by its content" in message
    [message] = _preflight(tmp_path, "notes.png")  # to be prepared: more formats, not GIF
    assert "is not a PNG, JPEG, WebP, TIFF, HEIF" in message and "by its content" in message


def test_preflight_refuses_empty_and_oversized_files(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    assert "is an empty file" in _preflight(tmp_path, "empty.png")[0]
    with (tmp_path / "huge.png").open("wb") as handle:  # sparse: no 17 MiB written
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.truncate(17 * 1024 * 1024)
    assert (
        "is 17.0 MiB; the media endpoint takes at most 16 MiB"
        in _preflight(tmp_path, "huge.png", **SENT_AS_THEY_ARE)[0]
    )
    # To be prepared, its size is no matter (it would be made smaller); its content is.
    assert "is not a valid image" in _preflight(tmp_path, "huge.png")[0]


def test_preflight_checks_urls_https_or_loopback_only(tmp_path: Path) -> None:
    assert "uses plain http" in _preflight(tmp_path, "http://cdn.example.com/a.png")[0]
    assert "is not an https:// URL" in _preflight(tmp_path, "ftp://example.com/a.png")[0]
    rows = [{"id": "a", "prompt": "p", "image": "http://127.0.0.1:8787/a.png"}]
    assert isinstance(check(tmp_path, rows)[0], Row)
