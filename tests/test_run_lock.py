"""The run directory's lock holds whatever a user deletes while a run goes
(issue 24): the lock file, or the whole state folder. A second `run` or
`retry` is refused with exit 2 and pays for nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import ThreadedSimulator, write_csv, write_image

from batchedit.cli import main
from batchedit.state.journal import Submitted, read_entries
from batchedit.state.lock import RunLocked, run_lock
from batchedit.state.rundir import RunPaths

Simulators = Callable[..., ThreadedSimulator]
FAST = ["--poll-interval", "0.01", "--no-progress", "--concurrency", "8"]
ROWS = 8
WAIT_LIMIT_S = 30.0


def catalog(folder: Path) -> Path:
    write_image(folder / "red.png", colour="red")
    rows = [{"id": f"sku-{n}", "prompt": f"edit {n}", "image": "red.png"} for n in range(ROWS)]
    return write_csv(folder / "catalog.csv", rows)


def submitted(run_dir: Path) -> int:
    entries = read_entries(RunPaths(run_dir).journal)
    return sum(isinstance(entry, Submitted) for _, entry in entries)


def start_first_run(manifest: Path, run_dir: Path) -> subprocess.Popen[bytes]:
    """A run in its own process whose tasks never finish within the test."""
    process = subprocess.Popen(
        [sys.executable, "-m", "batchedit", "run", str(manifest), "--out", str(run_dir), *FAST],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + WAIT_LIMIT_S
    while submitted(run_dir) < ROWS:
        assert process.poll() is None, process.communicate()[1].decode()
        assert time.monotonic() < deadline, "the first run made no progress"
        time.sleep(0.005)
    return process


@pytest.mark.real_time("waits for a batchedit subprocess to submit its rows")
@pytest.mark.parametrize("removed", ["lock file", "state folder"])
@pytest.mark.real_time("waits (5 ms steps) for a batchedit subprocess to submit every row")
def test_a_second_run_is_refused_after_the_lock_file_or_state_folder_was_deleted(
    tmp_path: Path,
    threaded_simulator: Simulators,
    capsys: pytest.CaptureFixture[str],
    removed: str,
) -> None:
    simulator = threaded_simulator(latency_s=(60.0, 60.0))  # nothing finishes in the test
    manifest, run_dir = catalog(tmp_path), tmp_path / "run"
    paths = RunPaths(run_dir)
    first = start_first_run(manifest, run_dir)
    try:
        if removed == "lock file":
            paths.lock.unlink()
        else:
            shutil.rmtree(paths.state_dir)
        before = simulator.stats()

        assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 2
        assert main(["run", str(manifest), "--out", str(run_dir), *FAST, "--rebuild-state"]) == 2
        if removed == "lock file":
            assert main(["retry", str(run_dir), "--status", "pending", "--no-progress"]) == 2

        err = capsys.readouterr().err
        assert err.count("is in use by another batchedit run") >= 2, err
        after = simulator.stats()
        assert after["submits"] == before["submits"] == ROWS, "no extra submit"
        assert after["submit_requests"] == before["submit_requests"]
        assert after["uploads"] == before["uploads"]
        if removed == "state folder":
            assert not paths.state_dir.exists(), "a refused run makes nothing"
    finally:
        first.send_signal(signal.SIGTERM)
        _, first_err = first.communicate(timeout=WAIT_LIMIT_S)
    # The first run's state folder went with the tidying: its report cannot be written
    # (its draft went too), but its journal is written back from the open file, so
    # the next run knows every task it paid for, and pays for none of them again.
    assert first.returncode == (130 if removed == "lock file" else 4), first_err.decode()
    assert submitted(run_dir) == ROWS
    capsys.readouterr()
    assert main(["plan", str(manifest), "--out", str(run_dir), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["paid_submissions"], plan["poll"]) == (0, ROWS), "polled, never paid again"


def test_the_lock_is_on_the_directory_so_a_fresh_lock_file_does_not_open_it(
    tmp_path: Path,
) -> None:
    paths = RunPaths(tmp_path / "run")
    with run_lock(paths):
        paths.lock.unlink()
        with pytest.raises(RunLocked, match=r"in use by another batchedit run"):
            with run_lock(paths):
                pass
        shutil.rmtree(paths.state_dir)
        with pytest.raises(RunLocked):
            with run_lock(paths):
                pass
        assert not paths.state_dir.exists()
    with run_lock(paths):  # released: the next one gets in
        assert paths.lock.read_text().strip() == str(os.getpid())
    assert paths.lock.read_text() == "", "no pid left behind"
