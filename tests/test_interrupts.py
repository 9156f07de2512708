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
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from pathlib import Path

import pytest
from support import ThreadedSimulator, read_report, write_csv, write_image

from batchedit.state.journal import Undecodable, read_entries
from batchedit.state.rundir import RunPaths

Simulators = Callable[..., ThreadedSimulator]
FAST = ["--poll-interval", "0.01", "--no-progress", "--concurrency", "16", "--yes"]
WAIT_LIMIT_S = 30.0
#: A test that waits (in 5 ms steps, `wait_for`) for a run in a subprocess to get
#: somewhere: real seconds of another process, out of any test clock's reach.
WAITS_ON_A_CHILD = pytest.mark.real_time("waits for a batchedit subprocess to reach a point")


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


class JournalTail:
    """How many entries of each kind the journal holds, read on from where the
    last look ended: a wait polls every few milliseconds, and re-reading a
    journal of hundreds of lines at each look took the CPU the run itself
    needs on a busy machine. Only whole lines count (one being written is
    read at the next look); the journal only grows (a re-run that cuts a torn
    tail cuts after what was counted), and if it ever shrinks, it is read anew."""

    def __init__(self, run_dir: Path) -> None:
        self.path = RunPaths(run_dir).journal
        self.offset = 0
        self.counts: Counter[str] = Counter()

    def count(self, event: str) -> int:
        try:
            with open(self.path, "rb") as handle:
                if os.fstat(handle.fileno()).st_size < self.offset:
                    self.offset, self.counts = 0, Counter()
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return 0
        whole = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(whole)
        for line in whole.splitlines():
            with suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    self.counts[str(entry.get("event"))] += 1
        return self.counts[event]


def reached(tail: JournalTail, event: str, count: int) -> bool:
    return tail.count(event) >= count


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


@WAITS_ON_A_CHILD
def test_sigterm_stops_with_exit_130_and_pending_rows_that_keep_their_task(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator(latency_s=(30.0, 30.0))  # no task finishes in this test
    manifest, run_dir = catalog(tmp_path, rows=40), tmp_path / "run"
    process = start_run("run", str(manifest), "--out", str(run_dir), *FAST)
    assert wait_for(partial(reached, JournalTail(run_dir), "submitted", 16), process)

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


# Seven runs of `python -m batchedit` (process start-up is most of its ~8 CPU
# seconds): with the cores shared, the suite's 60 s is too little.
@pytest.mark.timeout(180)
@WAITS_ON_A_CHILD
def test_runs_killed_at_random_moments_then_rerun_pay_each_row_once(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    """The chaos test of issue 3: SIGKILL during submits and during downloads."""
    rows = 200
    simulator = threaded_simulator(latency_s=(0.02, 0.3), seed=3, prerendered=True)
    manifest, run_dir = catalog(tmp_path, rows=rows), tmp_path / "run"
    rng = random.Random(20261123)
    command = ["run", str(manifest), "--out", str(run_dir), *FAST]
    kill_after = [("submitting", 8), ("finished", 20), ("submitting", 60), ("finished", 90)]
    kills = 0
    for event, more in kill_after:
        process = start_run(*command)
        start = journal_events(run_dir).count(event)
        target = start + rng.randint(1, more)
        if wait_for(partial(reached, JournalTail(run_dir), event, target), process):
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


@WAITS_ON_A_CHILD
def test_a_second_signal_exits_at_once_leaving_no_half_written_file(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator(latency_s=(30.0, 30.0))
    manifest, run_dir = catalog(tmp_path, rows=40), tmp_path / "run"
    process = start_run("run", str(manifest), "--out", str(run_dir), *FAST)
    assert wait_for(partial(reached, JournalTail(run_dir), "submitted", 8), process)

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


@WAITS_ON_A_CHILD
def test_a_stop_stops_even_when_stderr_and_stdout_are_closed(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    """`run ... 2>&1 | tee log`, then Ctrl-C, which ends `tee` too: the signal
    handler's own message fails with EPIPE, and the run must stop all the same."""
    simulator = threaded_simulator(rate_limit=40, seed=2)  # submits trickle in
    manifest, run_dir = catalog(tmp_path, rows=150), tmp_path / "run"
    command = ["-v", "run", str(manifest), "--out", str(run_dir), "--yes", "--no-progress"]
    process = subprocess.Popen(
        [sys.executable, "-m", "batchedit", *command, "--concurrency", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    process.stderr.close()  # every write to stderr from now on fails with EPIPE
    assert wait_for(partial(reached, JournalTail(run_dir), "submitted", 8), process)

    before = simulator.stats()["submit_requests"]
    process.send_signal(signal.SIGINT)
    process.wait(timeout=WAIT_LIMIT_S)

    assert process.returncode == 130
    # Only submits already on the wire (at most the concurrency) may arrive after it.
    assert simulator.stats()["submit_requests"] <= before + 4
    report = read_report(run_dir)
    assert len(report) == 150 and "pending" in {line["status"] for line in report}
    assert json.loads((run_dir / "summary.json").read_text())["stopped_by"] == "interrupted"


def journal_latest(run_dir: Path) -> tuple[dict[str, str], set[str]]:
    """Each row's latest journal event, and the rows the journal knows a task id for."""
    latest: dict[str, str] = {}
    with_task: set[str] = set()
    for line in RunPaths(run_dir).journal.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line torn by the kill
        latest[entry["id"]] = entry["event"]
        if entry.get("task_id"):
            with_task.add(entry["id"])
    return latest, with_task


@WAITS_ON_A_CHILD
def test_a_stop_or_a_kill_during_a_back_off_leaves_the_row_pending(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    """Unknown rows (an intent with no answer) never exceed the tasks the
    service made that the journal has no task id for."""
    simulator = threaded_simulator(rate_limit=2, seed=4)  # most submits wait out a 429
    manifest = catalog(tmp_path, rows=30)
    made = 0
    for stop in (signal.SIGTERM, signal.SIGKILL):
        run_dir = tmp_path / f"run-{stop.name}"
        # One submitter: right after its refusal is journaled, it is backing off. A
        # fixed rate above the service's keeps the 429s coming (a learned one would
        # settle under the limit and never be refused).
        process = start_run(
            "run",
            str(manifest),
            "--out",
            str(run_dir),
            *FAST,
            "--concurrency",
            "1",
            "--rate-limit",
            "50",
        )
        assert wait_for(partial(reached, JournalTail(run_dir), "withdrawn", 2), process)
        process.send_signal(stop)
        process.communicate(timeout=WAIT_LIMIT_S)
        assert process.returncode == (130 if stop is signal.SIGTERM else -9)
        latest, with_task = journal_latest(run_dir)
        unknown = [row for row, event in latest.items() if event == "submitting"]
        submits = simulator.stats()["submits"]
        assert len(unknown) <= submits - made - len(with_task), latest
        made = submits
        if stop is signal.SIGTERM:
            report = read_report(run_dir)
            assert sum(line["status"] == "unknown" for line in report) == len(unknown)


def test_closing_lines_to_a_closed_stdout_change_nothing(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    """`batchedit run ... | head -1`: the reader is gone before the closing lines."""
    threaded_simulator()
    manifest, run_dir = catalog(tmp_path, rows=5), tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "batchedit", "run", str(manifest), "--out", str(run_dir), *FAST],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    with process.stderr:
        err = process.stderr.read()
    process.wait(timeout=WAIT_LIMIT_S)
    assert process.returncode == 0, err.decode()
    assert b"Traceback" not in err
    assert {line["status"] for line in read_report(run_dir)} == {"succeeded"}
