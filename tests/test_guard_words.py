"""Guards that say what to do where you are (issue 29.7): `retry` follows the
cost guard's own rule, not the last run's `--max-tasks`; the Python API's
refusal names its own keywords (`max_tasks=`, `yes=True`, which exists), the
command line's its flags."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support import TEST_KEY, ThreadedSimulator, read_report, run_cli, two_image_manifest

import batchedit
from batchedit.cli import main
from batchedit.pipeline.launch import CONFIRM_ABOVE

Simulators = Callable[..., ThreadedSimulator]
LARGE = CONFIRM_ABOVE + 1  # a run that needs a yes


def test_retry_follows_the_cost_guard_not_the_last_runs_max_tasks(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    threaded_simulator(fail_rate=1.0)
    manifest, run_dir = two_image_manifest(tmp_path, rows=4), tmp_path / "run"
    assert run_cli(manifest, run_dir) == 1
    # A re-run that pays for nothing (failed rows wait for retry), capped at 0:
    # allowed, and the invocation retry reads now says max_tasks 0.
    assert run_cli(manifest, run_dir, "--max-tasks", "0") == 1
    capsys.readouterr()

    simulator = threaded_simulator()  # a healthy service
    assert main(["retry", str(run_dir), "--max-tasks", "3", "--no-progress"]) == 2
    assert "more than max_tasks 3" in capsys.readouterr().err, "the retry's own cap holds"
    assert main(["retry", str(run_dir), "--no-progress"]) == 0
    assert "max_tasks 0" not in capsys.readouterr().err
    assert [line["status"] for line in read_report(run_dir)] == ["succeeded"] * 4
    assert simulator.stats()["submits"] == 4


def test_the_command_line_refusal_names_its_flags(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = threaded_simulator()
    manifest = two_image_manifest(tmp_path, rows=LARGE)
    assert run_cli(manifest, tmp_path / "run") == 2  # no terminal to ask
    err = capsys.readouterr().err
    assert f"--max-tasks {LARGE}" in err and "--yes" in err and "yes=True" not in err
    assert simulator.stats()["submit_requests"] == 0


def test_the_python_refusal_names_its_keywords_and_yes_exists(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    manifest, out = two_image_manifest(tmp_path, rows=LARGE), tmp_path / "run"
    with pytest.raises(batchedit.RunRefused) as refused:
        batchedit.run(manifest, out=out)
    message = str(refused.value)
    assert f"max_tasks={LARGE}" in message and "yes=True" in message
    assert "--yes" not in message and "--max-tasks" not in message
    with pytest.raises(batchedit.RunRefused, match=r"max_tasks=101"):
        batchedit.run(manifest, out=out, max_tasks=3)
    assert simulator.stats()["submit_requests"] == 0 and not out.exists()

    summary = batchedit.run(
        manifest,
        out=out,
        yes=True,
        base_url=simulator.base_url,
        api_key=TEST_KEY,
        concurrency=16,
        poll_interval_s=0.01,
    )
    assert summary.stats.paid_submissions == simulator.stats()["submits"] == LARGE
