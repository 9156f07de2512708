"""`run --simulate` keeps its simulator's tasks in the run directory, so a
re-run, a resume and a lost output behave as against the real service:
the demo job run twice with an output deleted in between fetches it again
and pays nothing; an interrupted `--simulate` run resumes and pays each row
once."""

from __future__ import annotations

import json
import shutil
import signal
from functools import partial
from pathlib import Path

from support import read_report
from test_interrupts import (
    WAIT_LIMIT_S,
    WAITS_ON_A_CHILD,
    JournalTail,
    catalog,
    reached,
    start_run,
    wait_for,
)

from batchedit.cli import main
from batchedit.pipeline.runner import _prepare_run_dir
from batchedit.simulator import STORE_DIR
from batchedit.state.rundir import RunPaths

DEMO_JOB = Path(__file__).resolve().parents[1] / "jobs" / "catalog"
FAST = ["--simulate", "--sim-latency", "0.01-0.05", "--no-progress", "--poll-interval", "0.01"]


def summary(run_dir: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((run_dir / "summary.json").read_text())
    return data


def paid(run_dir: Path) -> int:
    value = summary(run_dir)["paid_submissions"]
    assert isinstance(value, int)
    return value


def test_the_demo_twice_with_an_output_deleted_fetches_it_again_and_pays_nothing(
    tmp_path: Path,
) -> None:
    job_dir = tmp_path / "catalog"
    shutil.copytree(DEMO_JOB, job_dir)
    run_dir = tmp_path / "demo"
    argv = ["run", str(job_dir / "job.yaml"), "--out", str(run_dir), *FAST]
    assert main(argv) == 0
    first = read_report(run_dir)
    assert paid(run_dir) == len(first)
    store = RunPaths(run_dir).state_dir / STORE_DIR
    assert (store / "state.json").is_file()
    assert not list(run_dir.rglob("*.part")), "no scratch file is left behind"

    lost = run_dir / first[0]["outputs"][0]["path"]
    lost.unlink()
    assert main(argv) == 0
    assert lost.is_file(), "the lost output was downloaded again"
    assert paid(run_dir) == 0
    second = read_report(run_dir)
    assert [line["attempts"] for line in second] == [1] * len(first)
    assert second[0]["outputs"][0]["sha256"] == first[0]["outputs"][0]["sha256"]


@WAITS_ON_A_CHILD
def test_an_interrupted_simulate_run_resumes_its_tasks_and_pays_each_row_once(
    tmp_path: Path,
) -> None:
    manifest, run_dir = catalog(tmp_path, rows=30), tmp_path / "run"
    slow = ["--simulate", "--sim-latency", "0.5-1", "--no-progress", "--concurrency", "8"]
    process = start_run("run", str(manifest), "--out", str(run_dir), *slow)
    assert wait_for(partial(reached, JournalTail(run_dir), "submitted", 8), process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=WAIT_LIMIT_S)
    assert process.returncode == 130, err.decode()
    interrupted = read_report(run_dir)
    known = {line["id"] for line in interrupted if line["task_id"]}
    assert len(known) >= 8

    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0
    report = read_report(run_dir)
    assert {line["status"] for line in report} == {"succeeded"}
    assert all(line["attempts"] == 1 for line in report), "no task was paid for twice"
    assert paid(run_dir) == 30 - len(known)


def test_a_run_sweeps_its_own_half_written_files_but_not_the_simulators_store(
    tmp_path: Path,
) -> None:
    """A `--simulate` run starts its simulator, which renders the tasks a
    stopped run left unrendered, before the pipeline sweeps what a killed run
    left aside: the sweep must not delete a render being written (that failed
    a resumed task, 'could not store the result', once in a loaded suite)."""
    paths = RunPaths(tmp_path / "run")
    rendering = paths.state_dir / STORE_DIR / "results" / ".task-1-0.png.render.part"
    left = [paths.outputs / ".a.png.1f.part", paths.state_dir / ".latency.json.2.part"]
    for path in (rendering, *left):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    _prepare_run_dir(paths)
    assert rendering.is_file()
    assert not any(path.exists() for path in left)
