"""`--deadline` and `--deadline-grace` (docs/runs.md, "A deadline"): past the
deadline no submit leaves; tasks in flight are polled until the grace is
over, then left for the next run; the run exits 3 with the rest pending, and
the next run finishes them without paying twice.

The runs here play on a clock 20 times faster than the wall (`ScaledClock`)
against a simulator at the same time scale (serving ready-made results, so
its rendering takes no time the clock would magnify), so a night of 2-3 s
tasks and a 6 s deadline takes half a second."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest
from support import TEST_KEY, StartSimulator, VirtualClock, read_report, write_csv

from batchedit.api.endpoint import Endpoint
from batchedit.cli.exits import run_exit_code
from batchedit.manifest.guards import UnknownBudget
from batchedit.manifest.job import apply_overrides, load_job
from batchedit.pipeline.runner import RunConfig, RunOutcome, run_pipeline
from batchedit.pipeline.stop import StopReason
from batchedit.pipeline.submit.gate import GateSettings, SubmitGate
from batchedit.simulator import RunningSimulator
from batchedit.state.run_history import read_history
from batchedit.state.rundir import RunPaths

SCALE = 0.05  # real seconds per second of the run's clock and of the simulator
ROWS = 24
HOSTED = "https://cdn.example.com/photo.png"  # no upload: the simulator stands in a picture


class ScaledClock:
    """The run's clock, `scale` real seconds to its second: the whole pipeline
    (polls, back-offs, the deadline and its grace) runs that much faster."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.origin = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self.origin) / self.scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) * self.scale)


async def scaled_simulator(
    start_simulator: StartSimulator, latency_s: tuple[float, float] = (2.0, 3.0)
) -> RunningSimulator:
    """Tasks of `latency_s` seconds at SCALE; one simulator for a test's nights,
    so that the second polls the tasks the first left."""
    return await start_simulator(latency_s=latency_s, time_scale=SCALE, seed=11, prerendered=True)


async def night(
    tmp_path: Path, simulator: RunningSimulator, **settings: object
) -> tuple[RunOutcome, float, RunPaths]:
    """One run of ROWS rows at concurrency 4, on a scaled clock; the outcome and
    how long it took on that clock."""
    rows = [{"id": f"row-{n:02d}", "prompt": "edit", "image": HOSTED} for n in range(ROWS)]
    job = apply_overrides(
        load_job(write_csv(tmp_path / "rows.csv", rows)), concurrency=4, **settings
    )
    paths = RunPaths(tmp_path / "run")
    config = RunConfig(job, paths, Endpoint(simulator.base_url, TEST_KEY))
    clock = ScaledClock(SCALE)
    outcome = await run_pipeline(config, total_rows=ROWS, clock=clock)
    return outcome, clock.now(), paths


@pytest.mark.real_time(
    "two runs on a clock 20x the wall's: a 6 s deadline and 2-3 s tasks, about 1.5 s in all"
)
async def test_a_deadline_stops_submitting_then_the_next_run_finishes_without_paying_twice(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    simulator = await scaled_simulator(start_simulator)
    outcome, _, paths = await night(tmp_path, simulator, deadline="6s")
    assert run_exit_code(outcome) == 3 and outcome.stop is StopReason.DEADLINE
    assert outcome.why is not None and "deadline (6s)" in outcome.why
    # On the run's own clock, from its start (after its plan) to its report.
    assert outcome.summary.wall_time_s < 20.0, "stopped within 20 s"
    report = read_report(paths.root)
    statuses = [line["status"] for line in report]
    done, pending = statuses.count("succeeded"), statuses.count("pending")
    # How many submits leave in the 0.3 real seconds before the deadline depends
    # on the machine (one, with both cores busy many times over): at least one.
    assert done >= 1 and pending > 0 and done + pending == ROWS, statuses
    assert outcome.why.endswith(f"({pending} row(s) left pending)")
    paid = outcome.summary.stats.paid_submissions
    assert paid == done, "every task in flight at the deadline was polled to its end"

    again, _, _ = await night(tmp_path, simulator)
    assert run_exit_code(again) == 0
    assert again.summary.stats.paid_submissions == pending, "only the pending rows paid"
    assert {line["attempts"] for line in read_report(paths.root)} == {1}
    history = read_history(paths)
    assert [(run.exit_code, run.stopped_by) for run in history.runs] == [
        (3, "deadline"),
        (0, None),
    ]


@pytest.mark.real_time("two runs on a clock 20x the wall's: about 1 s in all")
async def test_past_the_grace_tasks_in_flight_are_left_for_the_next_run_to_poll(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    """4-5 s tasks, a deadline at 2 s and half a second of grace: the first wave
    is still running when the grace is over."""
    simulator = await scaled_simulator(start_simulator, (4.0, 5.0))
    outcome, took_s, paths = await night(tmp_path, simulator, deadline="2s", deadline_grace="0.5s")
    assert run_exit_code(outcome) == 3 and outcome.stop is StopReason.DEADLINE
    assert took_s >= 2.5
    report = read_report(paths.root)
    left = [line for line in report if line["task_id"] is not None]
    assert 1 <= len(left) == outcome.summary.stats.paid_submissions <= 4, "the first wave"
    assert {line["status"] for line in report} == {"pending"}, "none could end in time"

    again, _, _ = await night(tmp_path, simulator)
    assert run_exit_code(again) == 0
    assert again.summary.stats.paid_submissions == ROWS - len(left), "those left were polled"
    finished = {line["id"]: line for line in read_report(paths.root)}
    for line in left:
        assert finished[line["id"]]["task_id"] == line["task_id"]
        assert finished[line["id"]]["status"] == "succeeded"


async def test_the_gate_shuts_at_the_first_look_past_the_deadline() -> None:
    clock = VirtualClock()
    settings = GateSettings(
        max_unknown=None,
        budget=UnknownBudget(),
        planned_submits=1,
        brake=None,
        deadline_at=5.0,
        deadline_grace_s=60.0,
        deadline_text="06:00",
    )
    gate = SubmitGate(settings, clock)
    assert settings.give_up_at == 65.0
    await clock.advance(4.9)
    assert gate.is_open and await gate.admit() is not None
    await clock.advance(0.1)
    assert await gate.admit() is None
    assert gate.halted_by is StopReason.DEADLINE
    assert gate.halted is not None and "deadline (06:00)" in gate.halted


def test_an_unset_deadline_never_gives_up() -> None:
    settings = GateSettings(max_unknown=None, budget=UnknownBudget(), planned_submits=1, brake=None)
    assert settings.give_up_at is None
    assert dataclasses.replace(settings, deadline_at=1.0).give_up_at == 601.0
