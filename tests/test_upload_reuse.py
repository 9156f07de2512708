"""Local images are uploaded once per content, across rows and across runs of
the same run directory while the upload is still valid."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from support import ThreadedSimulator, read_report, write_csv, write_image

from batchedit.api.client import UploadedFile
from batchedit.cli import main
from batchedit.pipeline.produce.upload_cache import REUSE_FOR_S, UploadCache

Simulators = Callable[..., ThreadedSimulator]
FAST = ["--poll-interval", "0.01", "--no-progress"]


def ten_rows(folder: Path, prompt: str) -> Path:
    write_image(folder / "front.png", colour="red")
    write_image(folder / "back.png", colour="blue")
    rows = [
        {"id": f"r{n}", "prompt": prompt, "image": "front.png" if n % 2 else "back.png"}
        for n in range(10)
    ]
    return write_csv(folder / "m.csv", rows)


def test_ten_rows_sharing_two_images_make_two_uploads_and_a_rerun_makes_none(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    run_dir = tmp_path / "run"
    manifest = ten_rows(tmp_path, "on white")
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0
    assert simulator.stats()["uploads"] == 2
    cache = (run_dir / ".batchedit" / "uploads.jsonl").read_text().splitlines()
    assert len(cache) == 2 and all(
        json.loads(line)["origin"] == simulator.base_url for line in cache
    )

    ten_rows(tmp_path, "on black")  # every row changed: ten new paid edits, no new upload
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0
    stats = simulator.stats()
    assert stats["submits"] == 20 and stats["uploads"] == 2
    assert all(line["status"] == "succeeded" for line in read_report(run_dir))

    assert main(["run", str(manifest), "--out", str(tmp_path / "other"), *FAST]) == 0
    assert simulator.stats()["uploads"] == 4, "another run directory uploads afresh"


async def test_an_upload_is_reused_only_while_valid_and_for_its_own_origin(
    tmp_path: Path,
) -> None:
    clock = [1_000_000.0]
    path = tmp_path / ".batchedit" / "uploads.jsonl"
    cache = UploadCache(path, "https://api.modellix.ai", now=lambda: clock[0])
    await cache.remember("abc", UploadedFile("f1", "https://files.example/f1.png"))
    with path.open("a") as handle:
        handle.write('{"torn": ')  # a crash mid-line is skipped, not fatal

    def reopened(origin: str = "https://api.modellix.ai") -> UploadCache:
        return UploadCache(path, origin, now=lambda: clock[0])

    assert await reopened().lookup("abc") == "https://files.example/f1.png"
    await reopened().remember("def", UploadedFile("f2", "https://files.example/f2.png"))
    assert await reopened().lookup("def") == "https://files.example/f2.png", "after a torn line"
    assert await reopened().lookup("other") is None
    assert await reopened("http://127.0.0.1:8787").lookup("abc") is None
    clock[0] += REUSE_FOR_S - 1
    assert await reopened().lookup("abc") == "https://files.example/f1.png"
    clock[0] += 1
    assert await reopened().lookup("abc") is None, "too close to the service's 7 days"


async def test_an_upload_dated_in_the_future_or_at_no_time_is_not_trusted(
    tmp_path: Path,
) -> None:
    now = 1_000_000.0
    path = tmp_path / ".batchedit" / "uploads.jsonl"
    origin = "https://api.modellix.ai"
    lines = [
        {"sha256": "past", "uploaded_at": now - 60},
        {"sha256": "future", "uploaded_at": now + 60},
        {"sha256": "far-future", "uploaded_at": now + 10 * REUSE_FOR_S},
        {"sha256": "nan", "uploaded_at": float("nan")},
        {"sha256": "inf", "uploaded_at": float("inf")},
        {"sha256": "-inf", "uploaded_at": float("-inf")},
    ]
    path.parent.mkdir(parents=True)
    path.write_text(
        "".join(
            json.dumps({"origin": origin, "url": f"https://f/{line['sha256']}", **line}) + "\n"
            for line in lines
        )
    )
    cache = UploadCache(path, origin, now=lambda: now)
    assert await cache.lookup("past") == "https://f/past"
    for sha256 in ("future", "far-future", "nan", "inf", "-inf"):
        assert await cache.lookup(sha256) is None, sha256


def test_a_run_uploads_again_when_its_cache_is_dated_in_the_future(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    run_dir = tmp_path / "run"
    manifest = ten_rows(tmp_path, "on white")
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0
    cache = run_dir / ".batchedit" / "uploads.jsonl"
    lines = [json.loads(line) for line in cache.read_text().splitlines()]
    for line, at in zip(lines, (4_102_444_800.0, float("nan")), strict=True):  # 2100, NaN
        line["uploaded_at"] = at
    cache.write_text("".join(json.dumps(line) + "\n" for line in lines))

    ten_rows(tmp_path, "on black")  # every row changed: they are sent again
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0

    assert simulator.stats()["uploads"] == 4, "neither entry was trusted: both uploaded again"
    assert all(line["status"] == "succeeded" for line in read_report(run_dir))
