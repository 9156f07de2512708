"""Refusals that name the mistake and the fix (issue 29.4): `--out` naming a
file is a usage error (exit 2), not a disk problem; `status` and `report`
while a directory's first run goes say that a run is going, with its pid;
`report merge --out` never writes over another run's directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import FAST_CLI, ThreadedSimulator, read_report, run_cli, write_csv, write_image

from batchedit.cli import main
from batchedit.state.journal import Submitted, read_entries
from batchedit.state.rundir import RunPaths

Simulators = Callable[..., ThreadedSimulator]
WAIT_LIMIT_S = 30.0
ROWS = 4


def catalog(folder: Path, rows: int = ROWS) -> Path:
    write_image(folder / "red.png", colour="red")
    records = [{"id": f"sku-{n}", "prompt": f"edit {n}", "image": "red.png"} for n in range(rows)]
    return write_csv(folder / "catalog.csv", records)


def test_out_naming_a_file_is_a_usage_error_that_says_so(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = threaded_simulator()
    manifest = catalog(tmp_path)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n", encoding="utf-8")

    assert run_cli(manifest, a_file) == 2
    assert f"{a_file} is a file; --out takes a folder" in capsys.readouterr().err
    assert run_cli(manifest, a_file / "run") == 2, "a folder under a file too"
    assert f"{a_file} is a file; --out takes a folder" in capsys.readouterr().err
    assert main(["plan", str(manifest), "--out", str(a_file)]) == 2
    assert f"{a_file} is a file; --out takes a folder" in capsys.readouterr().err
    assert main(["retry", str(a_file), "--no-progress"]) == 2
    assert f"{a_file} is a file; retry takes a folder" in capsys.readouterr().err

    assert a_file.read_text(encoding="utf-8") == "mine\n", "the file is left alone"
    stats = simulator.stats()
    assert stats["submit_requests"] == stats["uploads"] == 0


def start_first_run(manifest: Path, run_dir: Path) -> subprocess.Popen[bytes]:
    """A directory's first run, in its own process, once it holds the lock
    (its pid in the lock file) and has submitted its rows (so that a SIGTERM
    stops a run, not its planning, and a report is written); its tasks do not
    finish within the test."""
    process = subprocess.Popen(
        [sys.executable, "-m", "batchedit", "run", str(manifest), "--out", str(run_dir), *FAST_CLI],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    lock = RunPaths(run_dir).lock
    deadline = time.monotonic() + WAIT_LIMIT_S
    journal = RunPaths(run_dir).journal

    def started() -> bool:
        if not (lock.is_file() and lock.read_text().strip() == str(process.pid)):
            return False
        entries = read_entries(journal) if journal.is_file() else []
        return sum(isinstance(entry, Submitted) for _, entry in entries) == ROWS

    while not started():
        assert process.poll() is None, process.communicate()[1].decode()
        assert time.monotonic() < deadline, "the first run never took its lock"
        time.sleep(0.005)
    return process


@pytest.mark.real_time("waits (5 ms steps) for a batchedit subprocess to submit its rows")
def test_status_and_report_during_a_first_run_say_a_run_is_in_progress(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    threaded_simulator(latency_s=(60.0, 60.0))  # nothing finishes in the test
    manifest, run_dir = catalog(tmp_path), tmp_path / "run"
    first = start_first_run(manifest, run_dir)
    try:
        assert not RunPaths(run_dir).report.exists(), "a first run: no report yet"
        said = f"a run is in progress (pid {first.pid}); nothing to show yet"
        for command in (["status", str(run_dir)], ["report", str(run_dir)]):
            assert main(command) == 2, command
            captured = capsys.readouterr()
            assert said in captured.err and "is this a batchedit" not in captured.err
        assert main(["status", str(run_dir), "--json"]) == 2
        error = json.loads(capsys.readouterr().out)["error"]
        assert error["exit_code"] == 2 and said in error["message"]
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=WAIT_LIMIT_S)
    assert first.returncode == 130
    assert main(["status", str(run_dir)]) in (0, 1), "the interrupted run wrote its report"
    assert "in progress" not in capsys.readouterr().out


def test_merge_refuses_an_out_holding_another_runs_state(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    threaded_simulator()
    manifest = catalog(tmp_path)
    shard, demo = tmp_path / "runs" / "catalog-0", tmp_path / "runs" / "catalog"
    assert run_cli(manifest, shard) == 0
    assert run_cli(manifest, demo) == 0
    demo_report = RunPaths(demo).report.read_bytes()
    capsys.readouterr()

    assert main(["report", "merge", str(shard), "--out", str(demo)]) == 2
    err = capsys.readouterr().err
    assert f"{demo} holds another run's state" in err and "invocation.json" in err
    assert RunPaths(demo).report.read_bytes() == demo_report, "the run's report untouched"

    # A report.jsonl without the state (copied, or the state folder deleted).
    copied = tmp_path / "copied"
    copied.mkdir()
    RunPaths(copied).report.write_bytes(demo_report)
    assert main(["report", "merge", str(shard), "--out", str(copied)]) == 2
    assert f"{copied} holds another run's report" in capsys.readouterr().err
    assert RunPaths(copied).report.read_bytes() == demo_report

    merged = tmp_path / "runs" / "catalog-merged"
    for _ in range(2):  # an earlier merge's output is merged into again
        assert main(["report", "merge", str(shard), "--out", str(merged)]) == 0
        assert [line["id"] for line in read_report(merged)] == [f"sku-{n}" for n in range(4)]
