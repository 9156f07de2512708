"""The pipeline driven directly, with a millisecond retry policy: error paths
under faults, and what was paid for."""

from __future__ import annotations

from support import RunRows

from batchedit.cli.exits import run_exit_code


async def test_every_error_path_gives_its_slot_back(run_rows: RunRows) -> None:
    # At concurrency 1, a slot lost on any path (failed task, retried 5xx,
    # unknown submit) would hang the run until the test's timeout.
    run = await run_rows(
        rows=24,
        sim={"fail_rate": 0.3, "error_rate": 0.3, "seed": 11},
        settings={
            "concurrency": 1,
            "max_unknown": 0,  # every row is sent, however many unknown outcomes
            "halt_on_failure": "off",  # and however many tasks fail
        },
    )

    assert run_exit_code(run.outcome) == 1 and run.outcome.fatal is None
    assert len(run.report) == 24
    assert set(run.statuses()) <= {"succeeded", "failed", "unknown"} and run.count("failed")
    assert run.outcome.summary.peak_in_flight == 1
    paid_twice = run.stats["submits"] - sum(line["task_id"] is not None for line in run.report)
    assert paid_twice <= run.count("unknown"), "paid without a task id only where unknown"
