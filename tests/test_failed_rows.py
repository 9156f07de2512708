"""`report --failed-csv`: the rows that did not succeed, as a manifest that
`validate` accepts and `run` processes as it is, from wherever it is written."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from support import ThreadedSimulator, make_mixed_catalog, read_report, write_csv, write_image

from batchedit.cli import main

FAST = ["--poll-interval", "0.01", "--no-progress"]
Simulators = Callable[..., ThreadedSimulator]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_failed_rows_csv_round_trips_through_validate_and_run(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator(fail_rate=0.5)
    manifest = make_mixed_catalog(tmp_path / "job", rows=8)
    run_dir = tmp_path / "job" / "run"
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 1
    failed = [line for line in read_report(run_dir) if line["status"] == "failed"]
    assert failed

    fix = tmp_path / "fixes" / "deeper" / "fix.csv"  # elsewhere: image paths must follow
    assert main(["report", str(run_dir), "--failed-csv", str(fix), "--status", "failed"]) == 0
    rows = read_csv(fix)
    assert [row["id"] for row in rows] == [line["id"] for line in failed]
    assert all(row["prompt"] == "Put the {title} on white" for row in rows), "template kept"
    assert main(["validate", str(fix)]) == 0

    threaded_simulator()  # a healthy service this time
    assert main(["run", str(fix), "--out", str(tmp_path / "rerun"), *FAST]) == 0
    rerun = read_report(tmp_path / "rerun")
    assert [line["id"] for line in rerun] == [line["id"] for line in failed]
    assert [line["prompt"] for line in rerun] == [line["prompt"] for line in failed]
    assert [line["images"] != [] for line in rerun] == [True] * len(failed)


def test_failed_rows_csv_holds_invalid_rows_for_editing_by_default(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator()
    manifest = make_mixed_catalog(tmp_path / "job", rows=3)
    run_dir = tmp_path / "job" / "run"
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 1
    fix = tmp_path / "fix.csv"
    assert main(["report", str(run_dir), "--failed-csv", str(fix)]) == 0
    rows = read_csv(fix)
    assert [row["id"] for row in rows] == ["bad-ratio", "no-photo"]
    assert rows[0]["image"] == "job/photos/mug.png"
    assert main(["validate", str(fix)]) == 2  # still the same problems, until edited


def test_failed_rows_csv_carries_the_job_files_defaults_and_model(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator(fail_rate=1.0)
    folder = tmp_path / "job"
    write_image(folder / "img" / "a.png")
    write_csv(folder / "items.csv", [{"id": "a", "colour": "red", "image": "img/a.png"}])
    job = folder / "job.yaml"
    job.write_text(
        "manifest: items.csv\nmodel: google/nano-banana-pro-edit\n"
        "defaults:\n  prompt: 'Make it {colour}'\n  aspect_ratio: '1:1'\n",
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"
    assert main(["run", str(job), "--out", str(run_dir), *FAST]) == 1
    fix = tmp_path / "out" / "fix.csv"
    assert main(["report", str(run_dir), "--failed-csv", str(fix)]) == 0
    (row,) = read_csv(fix)
    assert row["prompt"] == "Make it {colour}" and row["aspect_ratio"] == "1:1"
    assert row["image"] == "../job/img/a.png"
    assert main(["validate", str(fix)]) == 0


def test_failed_rows_csv_rebuilds_rows_the_manifest_lost_from_the_report(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator(fail_rate=1.0)
    folder = tmp_path / "job"
    write_image(folder / "a.png")
    manifest = write_csv(
        folder / "m.csv", [{"id": "a", "prompt": "Keep {{braces}} literal", "image": "a.png"}]
    )
    run_dir = tmp_path / "run"
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 1
    manifest.unlink()
    fix = tmp_path / "fix.csv"
    assert main(["report", str(run_dir), "--failed-csv", str(fix)]) == 0
    (row,) = read_csv(fix)
    assert row["prompt"] == "Keep {{braces}} literal" and row["image"] == "job/a.png"
    assert main(["validate", str(fix)]) == 0


def test_failed_rows_csv_rebuilt_from_the_report_keeps_model_parameters(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator(fail_rate=1.0)
    cdn = "https://cdn.example.com/a.png"
    manifest = write_csv(
        tmp_path / "m.csv",
        [
            {
                "id": "q",
                "prompt": "p",
                "image": cdn,
                "model": "alibaba/qwen-image-edit-plus",
                "param.size": "512*512",
                "param.n": "2",
                "param.prompt_extend": "false",
            },
            {
                "id": "k",
                "prompt": "p",
                "image": cdn,
                "model": "kling/kling-v3-i2i",
                "aspect_ratio": "16:9",
            },
        ],
    )
    run_dir = tmp_path / "run"
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 1
    manifest.unlink()  # rebuilt from the report: the parameters as sent
    fix = tmp_path / "fix.csv"
    assert main(["report", str(run_dir), "--failed-csv", str(fix)]) == 0
    qwen, kling = read_csv(fix)
    assert (qwen["param.size"], qwen["param.n"], qwen["param.prompt_extend"]) == (
        "512*512",
        "2",
        "false",
    )
    assert kling["param.aspect_ratio"] == "16:9"
    assert main(["validate", str(fix)]) == 0
