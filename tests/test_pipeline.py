"""The pipeline driven directly, with a millisecond retry policy: error paths
under faults, and what was paid for."""

from __future__ import annotations

from pathlib import Path

from support import (
    TEST_KEY,
    StartSimulator,
    read_report,
    two_image_manifest,
)

from batchedit.api.client import RetryPolicy
from batchedit.api.endpoint import Endpoint
from batchedit.cli.exits import run_exit_code
from batchedit.manifest.job import apply_overrides, load_job
from batchedit.pipeline.breaker import BreakerSettings
from batchedit.pipeline.runner import RunConfig, run_pipeline
from batchedit.state.rundir import RunPaths

FAST_RETRY = RetryPolicy(max_retries=8, base_delay_s=0.001, max_delay_s=0.01)


async def test_every_error_path_gives_its_slot_back(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    # At concurrency 1, a slot lost on any path (failed task, retried 5xx,
    # unknown submit) would hang the run until the test's timeout.
    simulator = await start_simulator(fail_rate=0.3, error_rate=0.3, seed=11)
    job = apply_overrides(
        load_job(two_image_manifest(tmp_path, rows=24)),
        concurrency=1,
        poll_interval_s=0.005,
        max_unknown=0,  # every row is sent, however many unknown outcomes
        halt_on_failure="off",  # and however many tasks fail
    )
    paths = RunPaths(tmp_path / "run")
    config = RunConfig(
        job,
        paths,
        Endpoint(simulator.base_url, TEST_KEY),
        retry=FAST_RETRY,
        breaker=BreakerSettings(cool_down_s=0.005, max_cool_down_s=0.02),  # pauses of ms
    )

    outcome = await run_pipeline(config, total_rows=24)

    assert run_exit_code(outcome) == 1 and outcome.fatal is None
    report = read_report(paths.root)
    assert len(report) == 24
    statuses = {line["status"] for line in report}
    assert statuses <= {"succeeded", "failed", "unknown"} and "failed" in statuses
    assert outcome.summary.peak_in_flight == 1
    unknown = sum(line["status"] == "unknown" for line in report)
    paid_twice = simulator.stats()["submits"] - sum(line["task_id"] is not None for line in report)
    assert paid_twice <= unknown, "paid without a task id only where the outcome is unknown"
