"""A run directory records where its results came from (issue 24, item 1).

Every task is journalled with the API origin that made it; the report says
it (`origin`: the API origin, or `simulated`). A row settled by another
origin is not settled for this one: the README's `run --simulate` followed by
the real run pays for every row, and says why; `export` refuses simulated
results unless `--allow-simulated`.

The "real" origin here is the simulator behind a plain forwarding server
(tests/plain_origin.py) that does not say it is a simulator, as the real
service does not: batchedit has no switch to take the mark off.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from plain_origin import PlainOrigin
from support import TEST_KEY, ThreadedSimulator, read_report

from batchedit.cli import main
from batchedit.origins import SIMULATE_KEY
from batchedit.state.rundir import RunPaths

DEMO_JOB = Path(__file__).resolve().parents[1] / "jobs" / "catalog"
FAST = ["--no-progress", "--poll-interval", "0.01"]
SIMULATE = ["--simulate", "--sim-latency", "0.01-0.03"]


@pytest.fixture
def plain_origin(
    threaded_simulator: Callable[..., ThreadedSimulator], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[PlainOrigin, ThreadedSimulator]]:
    """A real-looking origin (MODELLIX_BASE_URL points at it) and the simulator behind it."""
    simulator = threaded_simulator()
    origin = PlainOrigin(simulator.base_url).start()
    monkeypatch.setenv("MODELLIX_BASE_URL", origin.base_url)
    monkeypatch.setenv("MODELLIX_API_KEY", TEST_KEY)
    yield origin, simulator
    origin.stop()


def demo_job(tmp_path: Path) -> Path:
    job_dir = tmp_path / "catalog"
    shutil.copytree(DEMO_JOB, job_dir)
    return job_dir / "job.yaml"


def journal_lines(run_dir: Path) -> list[dict[str, Any]]:
    text = RunPaths(run_dir).journal.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def paid(run_dir: Path) -> int:
    value = json.loads((run_dir / "summary.json").read_text())["paid_submissions"]
    assert isinstance(value, int)
    return value


def test_each_task_is_journalled_and_reported_with_its_origin(
    tmp_path: Path, plain_origin: tuple[PlainOrigin, ThreadedSimulator]
) -> None:
    origin, _ = plain_origin
    job = demo_job(tmp_path)
    simulated, real = tmp_path / "simulated", tmp_path / "real"
    assert main(["run", str(job), "--out", str(simulated), *SIMULATE, *FAST]) == 0
    assert main(["run", str(job), "--out", str(real), *FAST]) == 0

    assert {line["origin"] for line in read_report(simulated)} == {"simulated"}
    assert {line["origin"] for line in read_report(real)} == {origin.base_url}
    for run_dir, key, flag in ((simulated, SIMULATE_KEY, True), (real, origin.base_url, False)):
        tasks = [line for line in journal_lines(run_dir) if line["event"] != "withdrawn"]
        assert tasks, "the journal holds the run's tasks"
        assert {(line["origin"], line["simulated"]) for line in tasks} == {(key, flag)}


def test_a_simulator_behind_a_base_url_says_so_and_its_results_are_simulated(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> None:
    simulator = threaded_simulator()
    run_dir = tmp_path / "run"
    assert main(["run", str(demo_job(tmp_path)), "--out", str(run_dir), *FAST]) == 0
    assert {line["origin"] for line in read_report(run_dir)} == {"simulated"}
    submitted = [line for line in journal_lines(run_dir) if line["event"] == "submitted"]
    assert {(line["origin"], line["simulated"]) for line in submitted} == {
        (simulator.base_url, True)
    }


def strip_origins(run_dir: Path) -> None:
    """The journal as a release before origins were recorded wrote it."""
    lines = [
        {k: v for k, v in line.items() if k not in ("origin", "simulated")}
        for line in journal_lines(run_dir)
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    RunPaths(run_dir).journal.write_text(text, encoding="utf-8")


def test_results_journalled_without_an_origin_where_the_simulator_ran_count_as_simulated(
    tmp_path: Path,
) -> None:
    job, run_dir = demo_job(tmp_path), tmp_path / "run"
    argv = ["run", str(job), "--out", str(run_dir), *SIMULATE, *FAST]
    assert main(argv) == 0
    strip_origins(run_dir)
    assert main(argv) == 0
    assert paid(run_dir) == 0, "a simulated run's own results settle it"
    assert {line["origin"] for line in read_report(run_dir)} == {"simulated"}
