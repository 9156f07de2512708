"""`history.jsonl` (state/run_history.py) and `status --history`: a line for
every run that ended, however it ended (finished, stopped by a signal, by an
internal error), appended durably, a torn last line ignored and cut off."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from support import TEST_KEY, StartSimulator, two_image_manifest

from batchedit.api.endpoint import Endpoint
from batchedit.cli import main
from batchedit.cli.exits import run_exit_code
from batchedit.errors import SourceError
from batchedit.manifest.job import apply_overrides, load_job
from batchedit.pipeline.runner import RunConfig, run_pipeline
from batchedit.pipeline.write.outputs import OutputStore
from batchedit.simulator import RunningSimulator
from batchedit.state.run_history import RunEntry, append_run, read_history
from batchedit.state.rundir import RunPaths


async def run_once(
    tmp_path: Path, simulator: RunningSimulator, stop: asyncio.Event | None = None
) -> int:
    job = apply_overrides(load_job(two_image_manifest(tmp_path, 4)), poll_interval_s=0.005)
    config = RunConfig(job, RunPaths(tmp_path / "run"), Endpoint(simulator.base_url, TEST_KEY))
    return run_exit_code(await run_pipeline(config, total_rows=4, stop=stop))


async def test_every_end_of_a_run_is_a_line(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator = await start_simulator()  # one origin for every run: its results stand
    assert await run_once(tmp_path, simulator) == 0

    stopped = asyncio.Event()
    stopped.set()  # a signal before the first submit
    assert await run_once(tmp_path, simulator, stopped) == 130

    async def broken(*_: object) -> None:
        raise RuntimeError("a bug in the writer")

    monkeypatch.setattr(OutputStore, "store_checked", broken)
    (tmp_path / "run" / "report.jsonl").unlink()  # so that the rows are worked on again
    for output in (tmp_path / "run" / "outputs").iterdir():
        output.unlink()
    assert await run_once(tmp_path, simulator) == 4

    runs = read_history(RunPaths(tmp_path / "run")).runs
    assert [(run.exit_code, run.stopped_by) for run in runs] == [
        (0, None),
        (130, "interrupted"),
        (4, "local_failure"),
    ]
    assert [run.paid_submissions for run in runs] == [4, 0, 0]
    assert runs[0].statuses == {"succeeded": 4} and runs[0].spend is None
    assert all(run.started_at <= run.ended_at and run.wall_time_s >= 0 for run in runs)


def test_a_torn_last_line_is_skipped_and_cut_before_the_next(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path)
    entry = RunEntry("2025-06-01T02:30:00Z", "2025-06-01T02:41:00Z", 660.0, 1, 12, 1.2, "EUR")
    append_run(paths, entry)
    with open(paths.history, "a", encoding="utf-8") as history:
        history.write('{"v":1,"started_at":"2025-06-02T0')  # a crash mid-append
    assert read_history(paths).runs == (entry,)
    append_run(paths, entry)
    assert read_history(paths).runs == (entry, entry)
    assert paths.history.read_text(encoding="utf-8").count("\n") == 2


def test_a_line_that_is_not_a_run_names_its_line(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path)
    paths.history.write_text('{"v":1}\n', encoding="utf-8")
    with pytest.raises(SourceError) as info:
        read_history(paths)
    assert info.value.line == 1 and "is not a run" in str(info.value)


def test_status_history_before_any_run_and_without_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", str(tmp_path), "--history"]) == 0
    assert "no run has ended yet" in capsys.readouterr().out
    assert main(["status", str(tmp_path), "--history", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "ok": True,
        "run_dir": str(tmp_path),
        "runs": [],
    }
    assert main(["status", str(tmp_path / "nowhere"), "--history"]) == 2
