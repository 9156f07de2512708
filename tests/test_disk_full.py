"""A run directory on a full disk (a 600 KB tmpfs): the run stops with exit 4
and a one-line cause, no traceback; after space is freed, the same command
finishes the job and pays for nothing twice. Needs mount(2) (root in a
container that allows it); skipped, saying why, where it cannot mount."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import ThreadedSimulator, read_report, two_image_manifest

from batchedit.cli import main

FAST = ["--poll-interval", "0.01", "--no-progress"]
ROWS = 60  # about 18 KB of results each: a megabyte, on a 600 KB disk
Simulators = Callable[..., ThreadedSimulator]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip() or 'refused'}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def grow(disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)


@pytest.mark.timeout(120)
def test_a_full_disk_stops_with_exit_4_and_a_rerun_pays_nothing_twice(
    tmp_path: Path,
    small_disk: Path,
    threaded_simulator: Simulators,
    capsys: pytest.CaptureFixture[str],
) -> None:
    simulator = threaded_simulator()
    manifest = two_image_manifest(tmp_path, ROWS)
    run_dir = small_disk / "run"
    args = ["run", str(manifest), "--out", str(run_dir), "--concurrency", "4", *FAST]

    assert main(args) == 4
    err = capsys.readouterr().err
    assert "Traceback" not in err
    causes = [line for line in err.splitlines() if "No space left on device" in line]
    assert causes and all("\n" not in line for line in causes)
    assert "run the same command again" in err
    paid_first = simulator.stats()["submits"]
    assert 0 < paid_first < ROWS

    grow(small_disk)
    code = main(args)
    report = read_report(run_dir)
    assert len(report) == ROWS
    statuses = {record["status"] for record in report}
    assert statuses <= {"succeeded", "unknown"}
    assert code == (0 if statuses == {"succeeded"} else 1)
    unknown = sum(record["status"] == "unknown" for record in report)
    # Every row paid at most once: a row whose task id reached the journal was
    # polled, never resubmitted; one whose intent alone did is `unknown`, not repaid.
    assert ROWS - unknown <= simulator.stats()["submits"] <= ROWS


@pytest.mark.timeout(60)
def test_a_read_only_run_directory_is_exit_4_in_one_line(
    tmp_path: Path,
    small_disk: Path,
    threaded_simulator: Simulators,
    capsys: pytest.CaptureFixture[str],
) -> None:
    simulator = threaded_simulator()
    manifest = two_image_manifest(tmp_path, 2)
    run_dir = small_disk / "run"
    args = ["run", str(manifest), "--out", str(run_dir), *FAST]
    assert main(args) == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    assert main(args) == 4
    err = capsys.readouterr().err
    assert "Read-only file system" in err and "Traceback" not in err
    assert simulator.stats()["submits"] == 2
