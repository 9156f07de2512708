"""One source per run directory; inputs never inside it (issue 24, item 4).

A run directory is bound to the job file or manifest that made it: another
source is refused (exit 2, nothing sent, naming how many rows the directory
holds) unless `--new-source`; the same file edited or moved is the same
source; `retry` runs the bound source. A local input inside the run
directory's outputs/ or state folder is an invalid row at FILE:LINE, and
inputs elsewhere inside it get a warning.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support import ThreadedSimulator, read_report, two_image_manifest, write_csv, write_image

import batchedit
from batchedit.cli import main
from batchedit.pipeline.stop import RunRefused
from batchedit.records import Status
from batchedit.state.rundir import RunPaths

FAST = ["--no-progress", "--poll-interval", "0.01"]


def manifest_of(folder: Path, ids: list[str]) -> Path:
    write_image(folder / "a.png", colour="red")
    return write_csv(
        folder / "rows.csv", [{"id": i, "prompt": "edit", "image": "a.png"} for i in ids]
    )


def job_file(folder: Path, manifest: Path, run_dir: Path, concurrency: int = 4) -> Path:
    job = folder / "job.yaml"
    job.write_text(
        f"manifest: {manifest.name}\noutput_dir: {run_dir}\nconcurrency: {concurrency}\n",
        encoding="utf-8",
    )
    return job


def test_another_source_is_refused_naming_the_rows_held_and_new_source_proceeds(
    tmp_path: Path,
    threaded_simulator: Callable[..., ThreadedSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    simulator = threaded_simulator()
    run_dir = tmp_path / "run"
    first = two_image_manifest(tmp_path / "first", rows=10)
    other = manifest_of(tmp_path / "other", ["x-1"])
    assert main(["run", str(first), "--out", str(run_dir), *FAST]) == 0
    report = (run_dir / "report.jsonl").read_bytes()
    paid = simulator.stats()["submit_requests"]
    capsys.readouterr()

    assert main(["run", str(other), "--out", str(run_dir), *FAST]) == 2
    message = capsys.readouterr().err
    assert f"{run_dir} holds 10 row(s) of {first}" in message
    assert "--new-source" in message and "nothing was submitted" in message
    assert simulator.stats()["submit_requests"] == paid
    assert (run_dir / "report.jsonl").read_bytes() == report, "the report is untouched"
    with pytest.raises(RunRefused, match="holds 10 row"):
        batchedit.run(other, out=run_dir)

    assert main(["run", str(other), "--out", str(run_dir), "--new-source", *FAST]) == 0
    assert [line["id"] for line in read_report(run_dir)] == ["x-1"]
    # Now bound to the new source: the first one is the other source.
    assert main(["run", str(first), "--out", str(run_dir), *FAST]) == 2
    assert "holds 1 row(s) of" in capsys.readouterr().err
    summary = batchedit.run(first, out=run_dir, new_source=True)
    assert summary.counts.statuses == {Status.SUCCEEDED: 10}


def test_the_same_job_file_edited_or_moved_is_the_same_source_and_retry_runs_it(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> None:
    simulator = threaded_simulator(fail_rate=0.5)
    folder, run_dir = tmp_path / "job", tmp_path / "run"
    manifest = two_image_manifest(folder, rows=6)
    job = job_file(folder, manifest, run_dir)
    assert main(["run", str(job), *FAST]) in (0, 1)
    job_file(folder, manifest, run_dir, concurrency=2)  # edited
    assert main(["run", str(job), *FAST]) in (0, 1)
    moved = job.rename(folder / "nightly.yaml")
    assert main(["run", str(moved), *FAST]) in (0, 1)
    bound = json.loads(RunPaths(run_dir).source_binding.read_text())
    assert bound["source"] == str(moved.resolve())

    failed = [line["id"] for line in read_report(run_dir) if line["status"] == "failed"]
    assert failed, "the seeded fail rate fails some rows"
    before = simulator.stats()["submits"]
    assert main(["retry", str(run_dir), *FAST[:1]]) in (0, 1)
    assert simulator.stats()["submits"] - before == len(failed)


def test_an_input_inside_the_run_directorys_outputs_or_state_is_invalid_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    write_image(run_dir / "outputs" / "old.png")
    write_image(run_dir / ".batchedit" / "hidden.png")
    write_image(tmp_path / "fine.png")
    manifest = write_csv(
        tmp_path / "rows.csv",
        [
            {"id": "ok", "prompt": "edit", "image": "fine.png"},
            {"id": "loop", "prompt": "edit", "image": "run/outputs/old.png"},
            {"id": "state", "prompt": "edit", "image": "run/.batchedit/hidden.png"},
        ],
    )
    job = job_file(tmp_path, manifest, run_dir)
    assert main(["validate", str(job)]) == 2
    printed = capsys.readouterr().out
    assert (
        f"{manifest}:3: image file 'run/outputs/old.png' is inside the run directory's outputs/"
        in printed
    )
    assert (
        f"{manifest}:4: image file 'run/.batchedit/hidden.png' is inside the run "
        "directory's state folder" in printed
    )

    assert main(["run", str(job), "--simulate", *FAST]) == 1
    statuses = {line["id"]: line["status"] for line in read_report(run_dir)}
    assert statuses == {"ok": "succeeded", "loop": "invalid", "state": "invalid"}


def test_inputs_elsewhere_inside_the_run_directory_get_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"  # the run directory is the photo folder
    manifest = two_image_manifest(photos, rows=3)
    assert main(["run", str(manifest), "--out", str(photos), "--simulate", *FAST]) == 0
    warning = capsys.readouterr().err
    assert f"warning: 3 row(s) read input images from inside the run directory {photos}" in warning


def test_a_run_directory_made_before_bindings_is_bound_to_its_recorded_invocation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    first = two_image_manifest(tmp_path / "first", rows=2)
    other = manifest_of(tmp_path / "other", ["x-1"])
    assert main(["run", str(first), "--out", str(run_dir), "--simulate", *FAST]) == 0
    RunPaths(run_dir).source_binding.unlink()  # as an earlier release left it
    capsys.readouterr()
    assert main(["run", str(other), "--out", str(run_dir), "--simulate", *FAST]) == 2
    assert f"holds 2 row(s) of {first}" in capsys.readouterr().err
    assert main(["run", str(first), "--out", str(run_dir), "--simulate", *FAST]) == 0
    assert RunPaths(run_dir).source_binding.is_file()
