"""`batchedit run` end to end against the simulator: outputs of the requested
shapes, one report line per row, the summary, the exit codes, and nothing
written outside the run directory."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from support import ThreadedSimulator, output_size, read_report, write_csv, write_image

from batchedit.cli import main

FAST = ["--poll-interval", "0.01", "--no-progress"]
RATIOS = ["1:1", "4:5", "16:9", "9:16", "21:9", "3:2"]

Simulators = Callable[..., ThreadedSimulator]


def make_catalog(folder: Path, rows: int = 12) -> Path:
    """A catalog of `rows` rows over three local photos, one with two images."""
    for name, colour in (("mug", "red"), ("cap", "navy"), ("lamp", "gold")):
        write_image(folder / "photos" / f"{name}.png", colour=colour)
    names = ["mug", "cap", "lamp"]
    records = []
    for n in range(rows):
        images = f"photos/{names[n % 3]}.png"
        if n == 1:
            images += "|photos/cap.png"
        records.append(
            {
                "id": f"sku-{n:03d}",
                "title": f"Product {n} ☕",
                "prompt": "Put the {title} on white",
                "image": images,
                "aspect_ratio": RATIOS[n % len(RATIOS)],
                "resolution": "1K",
            }
        )
    return write_csv(folder / "catalog.csv", records)


def files_outside(root: Path, run_dir: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file() and not path.is_relative_to(run_dir)}


def test_catalog_run_writes_every_output_in_its_requested_shape(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    manifest = make_catalog(tmp_path / "job")
    run_dir = tmp_path / "job" / "run"
    before = files_outside(tmp_path, run_dir)

    # ai_label off leaves each result's bytes as served, so the stored bytes add
    # up to what was downloaded (labelling rewrites the XMP; see test_outputs_metadata).
    argv = ["run", str(manifest), "--out", str(run_dir), *FAST, "--ai-label", "off"]
    assert main(argv) == 0

    report = read_report(run_dir)
    assert [line["id"] for line in report] == [f"sku-{n:03d}" for n in range(12)]
    assert [line["row"] for line in report] == list(range(1, 13))
    for line in report:
        assert line["status"] == "succeeded", line
        assert line["error"] is None and line["attempts"] == 1 and line["task_id"]
        (output,) = line["outputs"]
        expected = output_size(line["params"]["aspectRatio"], "1K")
        with Image.open(run_dir / output["path"]) as image:
            assert image.size == expected == (output["width"], output["height"])
        assert line["prompt"] == f"Put the {line['fields']['title']} on white"
    assert files_outside(tmp_path, run_dir) == before, "nothing written outside the run dir"
    assert not [p for p in (run_dir / "outputs").iterdir() if p.name.startswith(".")]

    stats = simulator.stats()
    assert stats["submits"] == 12
    assert stats["uploads"] == 3, "each distinct local image is uploaded once"

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["statuses"] == {"succeeded": 12}
    assert summary["paid_submissions"] == 12
    assert summary["requests"]["submit"] == 12
    assert summary["bytes_downloaded"] == sum(line["outputs"][0]["bytes"] for line in report)
    assert summary["latency_s"]["p50"] <= summary["latency_s"]["p95"]


def test_failed_tasks_give_exit_1_and_task_failed_rows(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator(fail_rate=1.0)
    manifest = make_catalog(tmp_path, rows=4)
    assert main(["run", str(manifest), "--out", str(tmp_path / "run"), *FAST]) == 1
    report = read_report(tmp_path / "run")
    assert {line["status"] for line in report} == {"failed"}
    assert {line["error"]["category"] for line in report} == {"task_failed"}
    assert all(line["task_id"] and not line["outputs"] for line in report)


def test_invalid_rows_are_reported_and_the_others_still_run(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = threaded_simulator()
    write_image(tmp_path / "a.png")
    manifest = write_csv(
        tmp_path / "rows.csv",
        [
            {"id": "good", "prompt": "edit", "image": "a.png", "aspect_ratio": "1:1"},
            {"id": "bad-ratio", "prompt": "edit", "image": "a.png", "aspect_ratio": "7:5"},
            {"id": "no-file", "prompt": "edit", "image": "missing.png", "aspect_ratio": ""},
        ],
    )
    assert main(["run", str(manifest), "--out", str(tmp_path / "run"), *FAST]) == 1
    report = read_report(tmp_path / "run")
    assert [line["status"] for line in report] == ["succeeded", "invalid", "invalid"]
    assert report[1]["error"]["category"] == report[2]["error"]["category"] == "invalid_input"
    assert simulator.stats()["submits"] == 1
    assert f"{manifest}:3:" in capsys.readouterr().err


def test_strict_refuses_a_manifest_with_an_invalid_row_and_sends_nothing(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    write_image(tmp_path / "a.png")
    manifest = write_csv(
        tmp_path / "rows.csv",
        [{"id": "good", "prompt": "edit", "image": "a.png"}, {"id": "", "prompt": "x"}],
    )
    assert main(["run", str(manifest), "--out", str(tmp_path / "run"), "--strict"]) == 2
    assert simulator.stats()["submit_requests"] == 0
    assert not (tmp_path / "run").exists()


def test_unreadable_manifest_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["run", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "run")]) == 2
    assert main(["run", str(tmp_path / "x.txt.gz"), "--out", str(tmp_path / "run")]) == 2


def test_missing_key_is_a_usage_error_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MODELLIX_API_KEY", raising=False)
    manifest = make_catalog(tmp_path, rows=1)
    assert main(["run", str(manifest), "--out", str(tmp_path / "run")]) == 2
    assert "MODELLIX_API_KEY" in capsys.readouterr().err


def test_refused_key_stops_the_run_with_exit_3_and_rows_pending(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    threaded_simulator(api_key="the-only-valid-key")
    manifest = make_catalog(tmp_path, rows=5)
    assert main(["run", str(manifest), "--out", str(tmp_path / "run"), *FAST]) == 3
    report = read_report(tmp_path / "run")
    assert len(report) == 5
    assert {line["status"] for line in report} == {"pending"}
    output = capsys.readouterr()
    assert os.environ["MODELLIX_API_KEY"] not in output.out + output.err
    assert "MODELLIX_API_KEY" in output.err


def test_simulate_flag_runs_without_key_and_writes_only_the_run_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELLIX_API_KEY", raising=False)
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    manifest = make_catalog(tmp_path / "job", rows=3)
    run_dir = tmp_path / "run"
    argv = ["run", str(manifest), "--out", str(run_dir), "--simulate"]
    assert main([*argv, "--sim-latency", "0.01", *FAST]) == 0
    assert len(read_report(run_dir)) == 3
    assert list(system_temp.iterdir()) == []
    state_files = {p.name for p in (run_dir / ".batchedit").iterdir()}
    expected = {
        "journal.jsonl",
        "lock",
        "invocation.json",
        "source.json",
        "uploads.jsonl",
        "run_id",
        "decoded.jsonl",
        "simulator",
    }
    assert state_files == expected
    # The simulator keeps its memory there (for re-runs), and no scratch file.
    kept = {p.name for p in (run_dir / ".batchedit" / "simulator").iterdir()}
    assert kept == {"state.json", "port", "results", "media"}
    assert not list(run_dir.rglob("*.part"))


def test_validate_prints_file_line_problems_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_image(tmp_path / "a.png")
    manifest = write_csv(
        tmp_path / "rows.csv",
        [
            {"id": "ok", "prompt": "edit", "image": "a.png"},
            {"id": "ok", "prompt": "edit", "image": "a.png"},
        ],
    )
    assert main(["validate", str(manifest)]) == 2
    assert f"{manifest}:3: " in capsys.readouterr().out
    good = write_csv(tmp_path / "good.csv", [{"id": "ok", "prompt": "edit", "image": "a.png"}])
    assert main(["validate", str(good)]) == 0


def test_sample_job_is_valid() -> None:
    job = Path(__file__).parent.parent / "jobs" / "catalog" / "job.yaml"
    assert main(["validate", str(job)]) == 0


def test_concurrency_bounds_the_tasks_running_at_the_service(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    # The simulator answers 429 to a submit beyond 2 running tasks: with the
    # slot held from submit until the task ends, there must be none.
    simulator = threaded_simulator(max_concurrent=2, latency_s=(0.01, 0.03))
    manifest = make_catalog(tmp_path, rows=10)
    run_dir = tmp_path / "run"
    assert main(["run", str(manifest), "--out", str(run_dir), "--concurrency", "2", *FAST]) == 0
    assert simulator.stats()["responses"].get("429", 0) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["peak_in_flight"] == 2


def test_a_local_file_that_is_not_an_image_is_invalid_before_anything_is_sent(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    write_image(tmp_path / "good.png")
    (tmp_path / "fake.png").write_text("not a picture")
    manifest = write_csv(
        tmp_path / "rows.csv",
        [
            {"id": "fake", "prompt": "edit", "image": "fake.png"},
            {"id": "good", "prompt": "edit", "image": "good.png"},
        ],
    )
    assert main(["run", str(manifest), "--out", str(tmp_path / "run"), *FAST]) == 1
    fake, good = read_report(tmp_path / "run")
    assert fake["status"] == "invalid" and fake["error"]["category"] == "invalid_input"
    assert "not a PNG, JPEG, WebP, TIFF, HEIF" in fake["error"]["message"]
    assert "image by its content" in fake["error"]["message"]
    assert fake["attempts"] == 0 and fake["task_id"] is None
    assert good["status"] == "succeeded"
    assert simulator.stats()["submits"] == 1
