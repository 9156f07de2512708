"""Runs that end badly, in real processes: SIGTERM stops cleanly with exit 130,
and runs killed with SIGKILL at random moments, then re-run, pay for every
row once except the few whose submit answer was lost (`unknown`), and leave
no partial file behind."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from support import ThreadedSimulator, read_report, write_csv, write_image

from batchedit.state.journal import Undecodable, read_entries
from batchedit.state.rundir import RunPaths

Simulators = Callable[..., ThreadedSimulator]
FAST = ["--poll-interval", "0.01", "--no-progress", "--concurrency", "16"]
WAIT_LIMIT_S = 30.0


def catalog(folder: Path, rows: int) -> Path:
    for colour in ("red", "navy", "gold"):
        write_image(folder / f"{colour}.png", colour=colour)
    colours = ("red", "navy", "gold")
    return write_csv(
        folder / "catalog.csv",
        [
            {
                "id": f"sku-{n:04d}",
                "prompt": f"edit {n}",
                "image": f"{colours[n % 3]}.png",
                "aspect_ratio": "1:1",
            }
            for n in range(rows)
        ],
    )


def start_run(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "batchedit", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )


def journal_events(run_dir: Path) -> list[str]:
    """The kinds of the journal's entries so far, read through the journal's
    own reader (a line being written right now is skipped as torn)."""
    return [
        entry.kind
        for _, entry in read_entries(RunPaths(run_dir).journal)
        if not isinstance(entry, Undecodable)
    ]


def reached(run_dir: Path, event: str, count: int) -> bool:
    return journal_events(run_dir).count(event) >= count


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> bool:
    """Until `condition` holds (True) or the process ends first (False)."""
    deadline = time.monotonic() + WAIT_LIMIT_S
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.005)
    raise AssertionError("the run made no progress")


def partial_files(run_dir: Path) -> list[Path]:
    return [path for path in run_dir.rglob("*.part")]


def test_sigterm_stops_with_exit_130_and_pending_rows_that_keep_their_task(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator(latency_s=(30.0, 30.0))  # no task finishes in this test
    manifest, run_dir = catalog(tmp_path, rows=40), tmp_path / "run"
    process = start_run("run", str(manifest), "--out", str(run_dir), *FAST)
    assert wait_for(partial(reached, run_dir, "submitted", 16), process)

    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=WAIT_LIMIT_S)

    assert process.returncode == 130, err.decode()
    assert b"SIGTERM" in err
    report = read_report(run_dir)
    assert len(report) == 40 and {line["status"] for line in report} == {"pending"}
    with_task = [line for line in report if line["task_id"]]
    assert len(with_task) == simulator.stats()["submits"] >= 16
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["stopped_by"] == "interrupted"
    assert not partial_files(run_dir)


def test_runs_killed_at_random_moments_then_rerun_pay_each_row_once(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    """The chaos test of issue 3: SIGKILL during submits and during downloads."""
    rows = 200
    simulator = threaded_simulator(latency_s=(0.02, 0.3), seed=3)
    manifest, run_dir = catalog(tmp_path, rows=rows), tmp_path / "run"
    rng = random.Random(20261123)
    command = ["run", str(manifest), "--out", str(run_dir), *FAST]
    kill_after = [("submitting", 8), ("finished", 20), ("submitting", 60), ("finished", 90)]
    kills = 0
    for event, more in kill_after:
        process = start_run(*command)
        start = journal_events(run_dir).count(event)
        target = start + rng.randint(1, more)
        if wait_for(partial(reached, run_dir, event, target), process):
            time.sleep(rng.uniform(0.0, 0.02))  # land anywhere: mid-submit, mid-download
            process.kill()
            kills += 1
        process.communicate(timeout=WAIT_LIMIT_S)
    assert kills >= 3, "most runs were killed mid-way"

    ever_unknown: set[str] = set()
    for _ in range(10):
        process = start_run(*command)
        process.communicate(timeout=WAIT_LIMIT_S * 4)
        assert process.returncode in (0, 1)
        report = read_report(run_dir)
        ever_unknown |= {line["id"] for line in report if line["status"] == "unknown"}
        if all(line["status"] != "pending" for line in report):
            break
    if ever_unknown:
        process = start_run("retry", str(run_dir), "--status", "unknown", "--no-progress")
        process.communicate(timeout=WAIT_LIMIT_S * 4)

    report = read_report(run_dir)
    assert [line["id"] for line in report] == [f"sku-{n:04d}" for n in range(rows)]
    assert {line["status"] for line in report} == {"succeeded"}
    assert simulator.stats()["submits"] - rows <= len(ever_unknown)
    assert sum(line["attempts"] for line in report) >= simulator.stats()["submits"]
    assert not partial_files(run_dir)
    for line in report:
        (output,) = line["outputs"]
        assert (run_dir / output["path"]).stat().st_size == output["bytes"]


def test_a_second_signal_exits_at_once_leaving_no_half_written_file(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator(latency_s=(30.0, 30.0))
    manifest, run_dir = catalog(tmp_path, rows=40), tmp_path / "run"
    process = start_run("run", str(manifest), "--out", str(run_dir), *FAST)
    assert wait_for(partial(reached, run_dir, "submitted", 8), process)

    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=WAIT_LIMIT_S)

    assert process.returncode == 130, err.decode()
    if (run_dir / "report.jsonl").exists():  # the first stop may have got that far
        assert len(read_report(run_dir)) == 40
    assert journal_events(run_dir).count("submitted") >= 8, "what was journaled stays"
    polls = simulator.stats()["polls"]
    process = start_run("run", str(manifest), "--out", str(run_dir), *FAST)
    assert wait_for(lambda: simulator.stats()["polls"] > polls, process), "it polls known tasks"
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=WAIT_LIMIT_S)
    assert process.returncode == 130
    assert not partial_files(run_dir), "the next run sweeps what the hard exit left"
    statuses = {line["status"] for line in read_report(run_dir)}
    # a submit cut off by the hard exit is `unknown`, never resubmitted: that is the point
    assert statuses <= {"pending", "unknown"} and "pending" in statuses
