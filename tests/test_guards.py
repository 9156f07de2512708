"""The guards against paying for what was not meant (docs/guards.md), against
the simulator: gateway errors after a charge are unknown and never repaid,
the breaker pauses on bursts of unknown outcomes and the budget stops the run
(exit 3), the failure brake stops submitting (exit 1), and a 402 lets the
submit already on the wire be answered. Each checks the report row by row
against the simulator's counters."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import (
    FAST_RETRY,
    TEST_KEY,
    PipelineRun,
    RunRows,
    StartSimulator,
    VirtualClock,
    read_report,
    two_image_manifest,
)

from batchedit.api.endpoint import Endpoint
from batchedit.cli.exits import run_exit_code
from batchedit.manifest.guards import (
    FailureBrake,
    UnknownBudget,
    parse_failure_brake,
    parse_unknown_budget,
)
from batchedit.manifest.job import apply_overrides, load_job
from batchedit.pipeline.runner import RunConfig, run_pipeline
from batchedit.pipeline.stop import StopReason
from batchedit.pipeline.submit.breaker import BreakerSettings
from batchedit.pipeline.submit.gate import GateSettings, SubmitGate
from batchedit.state.rundir import RunPaths


async def guarded_run(run_rows: RunRows, *, rows: int, **options: Any) -> PipelineRun:
    """`rows` rows through the shared harness (`run_rows`) with the budget planned
    for all of them and a stop's grace period of 2 s, and nothing paid twice."""
    run = await run_rows(rows=rows, planned_submits=rows, stop_grace_s=2.0, **options)
    assert_paid_once(run)
    return run


def assert_paid_once(run: PipelineRun) -> None:
    """Every charged task is a row's task id or an `unknown` row: nothing paid twice."""
    with_task = sum(line["task_id"] is not None for line in run.report)
    for line in run.report:
        if line["status"] == "unknown":
            assert line["task_id"] is None and line["error"]["category"] == "unknown_outcome"
    assert with_task <= run.stats["submits"] <= with_task + run.count("unknown")


async def test_gateway_timeouts_after_a_charge_are_unknown_and_never_paid_twice(
    run_rows: RunRows,
) -> None:
    run = await guarded_run(
        run_rows,
        rows=100,
        sim={"gateway_timeout_rate": 0.2, "seed": 5},
        settings={"max_unknown": "0", "concurrency": 8},
    )
    gateway = run.stats["faults"]["gateway_timeout"]
    assert gateway > 5
    # Every submit request created a task; none was sent again after its 504.
    assert run.stats["submit_requests"] == run.stats["submits"] == 100
    assert run.count("unknown") == gateway
    assert run.count("succeeded") == 100 - gateway
    for line in run.report:
        if line["status"] == "unknown":
            assert line["error"]["http_status"] == 504, line
    assert run_exit_code(run.outcome) == 1


async def test_a_faulty_service_within_the_chosen_budget_finishes(run_rows: RunRows) -> None:
    sim = {"error_rate": 0.2, "rate_limit": 200, "fail_rate": 0.1, "seed": 12}
    run = await guarded_run(
        run_rows,
        rows=120,
        sim=sim,
        settings={"concurrency": 16, "max_unknown": "30"},
    )
    assert run_exit_code(run.outcome) in (0, 1)
    assert run.count("succeeded") >= 80
    for line in run.report:
        if line["status"] != "succeeded":
            assert line["error"]["category"] in {"task_failed", "unknown_outcome"}, line


async def test_the_default_budget_stops_a_faulty_run_with_exit_3_and_says_how_to_raise_it(
    run_rows: RunRows,
) -> None:
    sim = {"error_rate": 0.2, "rate_limit": 200, "fail_rate": 0.1, "seed": 12}
    run = await guarded_run(run_rows, rows=120, sim=sim, settings={"concurrency": 16})
    assert run_exit_code(run.outcome) == 3
    assert run.count("unknown") >= 5 and run.count("pending") > 0
    halted = run.outcome.why or ""
    assert "budget is spent" in halted and "max_unknown 2%, at least 5 = 5" in halted
    assert "--max-unknown" in halted
    assert run.outcome.summary.to_json()["stopped_by"] == StopReason.MAX_UNKNOWN


async def test_the_failure_brake_stops_paying_for_a_broken_job(run_rows: RunRows) -> None:
    run = await guarded_run(run_rows, rows=200, sim={"fail_rate": 1.0}, settings={"concurrency": 8})
    assert run.stats["submits"] <= 40
    assert run_exit_code(run.outcome) == 1
    assert run.count("failed") == run.stats["submits"]
    assert run.count("pending") == 200 - run.stats["submits"]
    for line in run.report:
        if line["status"] == "failed":
            assert line["error"]["category"] == "task_failed"
    halted = run.outcome.why or ""
    assert "failure brake (halt_on_failure 0.5/20)" in halted and "e.g." in halted
    assert run.outcome.summary.to_json()["stopped_by"] == StopReason.FAILURE_BRAKE


async def test_the_failure_brake_can_be_turned_off(run_rows: RunRows) -> None:
    run = await guarded_run(
        run_rows,
        rows=30,
        sim={"fail_rate": 1.0},
        settings={"halt_on_failure": "off"},
    )
    assert run.count("failed") == run.stats["submits"] == 30
    assert run_exit_code(run.outcome) == 1 and run.outcome.stop is None


async def test_a_402_lets_the_submit_on_the_wire_be_answered(run_rows: RunRows) -> None:
    run = await guarded_run(
        run_rows,
        rows=20,
        sim={"balance": 5, "latency_s": (0.05, 0.05)},
        settings={"concurrency": 2},
    )
    assert run_exit_code(run.outcome) == 3 and run.outcome.fatal is not None
    assert run.stats["submits"] == 5
    assert run.count("unknown") == 0, "the refused submit in flight is known, not unknown"
    with_task = sum(line["task_id"] is not None for line in run.report)
    assert with_task == 5


def gate(**settings: Any) -> tuple[SubmitGate, VirtualClock]:
    clock = VirtualClock()
    values: dict[str, Any] = {
        "max_unknown": None,
        "budget": UnknownBudget(0),
        "planned_submits": 100,
        "brake": None,
        "breaker": BreakerSettings(burst=3, window=10, cool_down_s=10.0, max_cool_down_s=25.0),
    }
    values.update(settings)
    return SubmitGate(GateSettings(**values), clock), clock


async def test_a_burst_of_unknown_outcomes_pauses_then_one_probe_decides() -> None:
    submit_gate, clock = gate()
    for _ in range(3):
        turn = await submit_gate.admit()
        assert turn is not None and not turn.probe
        turn.unknown()
    assert submit_gate.is_open, "a pause is not a stop"
    waiting = [asyncio.ensure_future(submit_gate.admit()) for _ in range(3)]
    await clock.advance(9.9)
    assert not any(task.done() for task in waiting), "nobody goes during the cool-down"
    await clock.advance(0.2)
    (first,) = [task.result() for task in waiting if task.done()]
    assert first is not None and first.probe, "one submit goes alone, as the probe"
    first.unknown()  # the probe is unknown too: paused again, twice as long
    others = [task for task in waiting if not task.done()]
    await clock.advance(19.9)
    assert not any(task.done() for task in others)
    await clock.advance(0.2)
    (second,) = [task.result() for task in others if task.done()]
    assert second is not None and second.probe
    second.known()  # a clean probe: everyone goes again
    await clock.advance(0)
    assert all(task.done() and task.result() is not None for task in waiting)


async def test_the_budget_shuts_the_gate_and_the_brake_counts_only_task_failures() -> None:
    submit_gate, _ = gate(max_unknown=2)
    for _ in range(2):
        turn = await submit_gate.admit()
        assert turn is not None
        turn.unknown()
    assert not submit_gate.is_open and submit_gate.halted_by == StopReason.MAX_UNKNOWN
    assert await submit_gate.admit() is None

    braked, _ = gate(brake=FailureBrake(0.5, 4))
    for failure in (None, "refused", None, "refused"):
        braked.task_finished(failure)
    assert braked.is_open, "half of the window is not more than half"
    braked.task_finished("refused")
    assert braked.halted_by == StopReason.FAILURE_BRAKE and "e.g. refused" in (braked.halted or "")
    assert parse_failure_brake(False) is None  # YAML's bare `off`


async def stop_with_a_submit_on_the_wire(
    tmp_path: Path, start_simulator: StartSimulator, *, grace_s: float, held_s: float
) -> PipelineRun:
    """A signal while the first submits wait for their answers, each held back
    `held_s` at the simulator."""
    simulator = await start_simulator(slow_rate=1.0, slow_s=held_s)
    job = apply_overrides(
        load_job(two_image_manifest(tmp_path, 6)), concurrency=2, poll_interval_s=0.005
    )
    paths = RunPaths(tmp_path / "run")
    config = RunConfig(
        job,
        paths,
        Endpoint(simulator.base_url, TEST_KEY),
        retry=FAST_RETRY,
        stop_grace_s=grace_s,
    )
    stop = asyncio.Event()

    async def signal_once_submits_are_sent() -> None:
        while simulator.stats()["submit_requests"] < 2:
            await asyncio.sleep(0.002)
        stop.set()

    async with asyncio.TaskGroup() as group:
        group.create_task(signal_once_submits_are_sent())
        running = group.create_task(run_pipeline(config, total_rows=6, stop=stop))
    run = PipelineRun(running.result(), read_report(paths.root), simulator.stats(), paths)
    assert_paid_once(run)
    assert run_exit_code(run.outcome) == 130
    # What the report says was paid for (attempts, unknown ones included), the run counted.
    attempts = sum(line["attempts"] for line in run.report)
    assert run.outcome.summary.stats.paid_submissions == attempts
    return run


@pytest.mark.real_time(
    "the grace period waits on the wall clock for answers the simulator holds back"
)
async def test_a_stop_gives_the_submits_on_the_wire_their_grace_period(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    run = await stop_with_a_submit_on_the_wire(tmp_path, start_simulator, grace_s=2.0, held_s=0.04)
    assert run.count("unknown") == 0, "answered within the grace period: known"
    with_task = sum(line["task_id"] is not None for line in run.report)
    assert with_task == run.stats["submits"] >= 2
    assert run.stats["submit_requests"] == run.stats["submits"], "nothing sent after the stop"


@pytest.mark.real_time(
    "the grace period waits on the wall clock for answers the simulator holds back"
)
async def test_without_a_grace_period_the_submits_on_the_wire_are_unknown(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    # Held for a second: longer than a loaded machine takes from the second
    # submit's arrival to the stop (40 ms was not), so they are on the wire then.
    run = await stop_with_a_submit_on_the_wire(tmp_path, start_simulator, grace_s=0.0, held_s=1.0)
    assert run.count("unknown") >= 1


@given(count=st.integers(min_value=0, max_value=10**6), planned=st.integers(0, 10**6))
def test_a_count_budget_is_that_count_whatever_the_plan(count: int, planned: int) -> None:
    budget = parse_unknown_budget(str(count))
    assert budget.limit(planned) == (count or None)


@given(percent=st.floats(0.01, 100), planned=st.integers(0, 10**6))
def test_a_share_budget_is_at_least_one_and_grows_with_the_plan(
    percent: float, planned: int
) -> None:
    budget = parse_unknown_budget(f"{percent}%")
    limit = budget.limit(planned)
    assert limit is not None and limit >= 1
    assert limit >= planned * percent / 100
    assert (budget.limit(planned * 2) or 0) >= limit


@given(rate=st.floats(0, 0.99), window=st.integers(1, 1000))
def test_a_brake_reads_back_as_it_was_written(rate: float, window: int) -> None:
    brake = parse_failure_brake(f"{rate}/{window}")
    assert brake == FailureBrake(rate, window)
    assert parse_failure_brake(brake.describe() if brake else "off") == FailureBrake(
        float(f"{rate:g}"), window
    )
    assert not brake.engaged(int(rate * window)) if brake else True
    assert brake is not None and brake.engaged(window) is (window > rate * window)


@given(text=st.text(max_size=12))
def test_a_wrong_guard_setting_is_refused_with_what_is_allowed(text: str) -> None:
    for parse, allowed in ((parse_unknown_budget, "2%"), (parse_failure_brake, "0.5/20")):
        try:
            parse(text)
        except ValueError as exc:
            assert allowed in str(exc)
