"""`batchedit uploads purge`: a run's uploads deleted at the service and forgotten.

Against the simulator, which counts deletions (`deleted_uploads`) and refuses
a submit naming a deleted upload, as the service would; the upload cache is
read back from the run directory.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from support import ThreadedSimulator, read_report, write_csv, write_image

from batchedit.cli import main
from batchedit.cli.uploads import parse_duration_s
from batchedit.pipeline.produce.upload_cache import UPLOADS_FILE, UploadCache
from batchedit.state.lock import run_lock
from batchedit.state.rundir import RunPaths

Simulators = Callable[..., ThreadedSimulator]
FAST = ["--poll-interval", "0.01", "--no-progress"]


def six_rows(folder: Path, prompt: str = "on white") -> Path:
    write_image(folder / "front.png", colour="red")
    write_image(folder / "back.png", colour="blue")
    rows = [
        {"id": f"r{n}", "prompt": prompt, "image": "front.png" if n % 2 else "back.png"}
        for n in range(6)
    ]
    return write_csv(folder / "m.csv", rows)


def cache_of(run_dir: Path, origin: str) -> UploadCache:
    return UploadCache(run_dir / ".batchedit" / UPLOADS_FILE, origin)


def submit_naming(simulator: ThreadedSimulator, url: str) -> int:
    body = json.dumps({"prompt": "again", "image": [url]}).encode()
    request = urllib.request.Request(
        f"{simulator.base_url}/api/v1/google/nano-banana-pro-edit/async",
        data=body,
        headers={"Authorization": "Bearer k", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_purge_deletes_every_upload_of_the_run_and_a_later_run_uploads_again(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = threaded_simulator()
    run_dir = tmp_path / "run"
    manifest = six_rows(tmp_path)
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0
    uploaded = cache_of(run_dir, simulator.base_url).uploads()
    assert simulator.stats()["uploads"] == len(uploaded) == 2

    capsys.readouterr()
    assert main(["uploads", "purge", str(run_dir)]) == 0
    assert "2 upload(s) deleted" in capsys.readouterr().out
    stats = simulator.stats()
    assert stats["deleted_uploads"] == 2 and stats["submits"] == 6
    assert cache_of(run_dir, simulator.base_url).uploads() == []
    # The service no longer takes them: a submit naming one is refused, unpaid.
    assert submit_naming(simulator, uploaded[0].url) == 400
    assert simulator.stats()["submits"] == 6

    six_rows(tmp_path, prompt="on black")  # every row changed: uploaded again, nothing refused
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0
    assert simulator.stats()["uploads"] == 4
    assert all(line["status"] == "succeeded" for line in read_report(run_dir))

    assert main(["uploads", "purge", str(run_dir)]) == 0  # again: only the new two
    assert simulator.stats()["deleted_uploads"] == 4


def test_older_than_keeps_recent_uploads(tmp_path: Path, threaded_simulator: Simulators) -> None:
    simulator = threaded_simulator()
    run_dir = tmp_path / "run"
    assert main(["run", str(six_rows(tmp_path)), "--out", str(run_dir), *FAST]) == 0
    assert main(["uploads", "purge", str(run_dir), "--older-than", "1h"]) == 0
    assert simulator.stats()["deleted_uploads"] == 0
    assert len(cache_of(run_dir, simulator.base_url).uploads()) == 2
    assert main(["uploads", "purge", str(run_dir), "--older-than", "0s"]) == 0
    assert simulator.stats()["deleted_uploads"] == 2


def test_a_purge_stopped_half_way_is_finished_by_the_next_and_gone_counts_as_deleted(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = threaded_simulator()
    run_dir = tmp_path / "run"
    assert main(["run", str(six_rows(tmp_path)), "--out", str(run_dir), *FAST]) == 0
    cache = cache_of(run_dir, simulator.base_url)
    first, second = cache.uploads()
    cache.forget([first, second])  # a purge stopped after forgetting, before deleting
    assert cache_of(run_dir, simulator.base_url)._read() == {}, "no run reuses them now"
    delete = urllib.request.Request(
        f"{simulator.base_url}/api/v1/media/files/{first.file_id}",
        method="DELETE",
        headers={"Authorization": "Bearer k"},
    )
    urllib.request.urlopen(delete, timeout=10).close()  # deleted already, elsewhere

    capsys.readouterr()
    assert main(["uploads", "purge", str(run_dir)]) == 0
    assert "1 upload(s) deleted at the service; 1 already gone" in capsys.readouterr().out
    assert simulator.stats()["deleted_uploads"] == 2
    assert cache_of(run_dir, simulator.base_url).uploads() == []


def test_uploads_to_another_origin_are_left_alone(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    first = threaded_simulator()
    run_dir = tmp_path / "run"
    assert main(["run", str(six_rows(tmp_path)), "--out", str(run_dir), *FAST]) == 0
    second = threaded_simulator()  # MODELLIX_BASE_URL now names another origin
    capsys.readouterr()
    assert main(["uploads", "purge", str(run_dir)]) == 0
    assert "2 made at another API origin left alone" in capsys.readouterr().out
    assert first.stats()["deleted_uploads"] == second.stats()["deleted_uploads"] == 0
    assert len(cache_of(run_dir, first.base_url).uploads()) == 2


def test_purge_waits_for_no_run_and_needs_a_run_directory(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    run_dir = tmp_path / "run"
    assert main(["run", str(six_rows(tmp_path)), "--out", str(run_dir), *FAST]) == 0
    with run_lock(RunPaths(run_dir)):
        assert main(["uploads", "purge", str(run_dir)]) == 2
    assert simulator.stats()["deleted_uploads"] == 0
    assert main(["uploads", "purge", str(tmp_path / "nowhere")]) == 2
    with pytest.raises(SystemExit) as refused:
        main(["uploads", "purge", str(run_dir), "--older-than", "soon"])
    assert refused.value.code == 2


def test_durations() -> None:
    assert parse_duration_s("90m") == 5400
    assert parse_duration_s("7d") == 7 * 86400
    assert parse_duration_s("2w") == 14 * 86400
    assert parse_duration_s("30") == 30
    assert parse_duration_s("1.5h") == 5400


def job_deleting_uploads(folder: Path) -> Path:
    six_rows(folder)
    job = folder / "job.yaml"
    job.write_text(
        "manifest: m.csv\noutput_dir: run\npoll_interval_s: 0.01\nuploads: {delete_after: run}\n"
    )
    return job


def test_delete_after_run_deletes_the_uploads_when_a_run_finishes(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    job = job_deleting_uploads(tmp_path)
    assert main(["run", str(job), "--no-progress"]) == 0
    stats = simulator.stats()
    assert stats["uploads"] == stats["deleted_uploads"] == 2
    run_dir = tmp_path / "run"
    assert cache_of(run_dir, simulator.base_url).uploads() == []
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["requests"]["delete"] == 2

    six_rows(tmp_path, prompt="on black")
    assert main(["run", str(job), "--no-progress"]) == 0  # uploads again, refused nothing
    assert simulator.stats()["uploads"] == simulator.stats()["deleted_uploads"] == 4
    assert all(line["status"] == "succeeded" for line in read_report(run_dir))


def test_a_run_that_did_not_finish_keeps_its_uploads(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator(balance=2)  # 402 after two paid tasks: exit 3, rows pending
    assert main(["run", str(job_deleting_uploads(tmp_path)), "--no-progress"]) == 3
    assert simulator.stats()["deleted_uploads"] == 0
    assert len(cache_of(tmp_path / "run", simulator.base_url).uploads()) == 2


def test_a_simulated_run_deletes_at_its_simulator_which_remembers(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    six_rows(tmp_path)
    job.write_text("manifest: m.csv\noutput_dir: run\npoll_interval_s: 0.01\n")
    args = ["run", str(job), "--simulate", "--no-progress", "--delete-uploads-after", "run"]
    assert main(args) == 0
    store = tmp_path / "run" / ".batchedit" / "simulator"
    state = json.loads((store / "state.json").read_text())
    assert len(state["deleted_media"]) == 2 and state["media"] == []
    assert list((store / "media").iterdir()) == [], "the photos' bytes are gone too"
