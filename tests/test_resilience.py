"""Runs against a misbehaving service: one simulator fault at a time, then
several together. Each asserts the report row by row and the simulator's
counters: no row lost, no row failed for a reason a wait would have cured,
and nothing paid for without a task id except where the report says `unknown`."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from support import (
    FAST_RETRY,
    TEST_KEY,
    JumpingClock,
    PipelineRun,
    RunRows,
    StartSimulator,
    read_report,
    two_image_manifest,
)

from batchedit.api.endpoint import Endpoint
from batchedit.cli import build_parser, main
from batchedit.cli.exits import run_exit_code
from batchedit.errors import FatalApiError
from batchedit.manifest.guards import FailureBrake
from batchedit.manifest.job import apply_overrides, load_job
from batchedit.pipeline.runner import RunConfig, run_pipeline
from batchedit.records import ErrorCategory
from batchedit.state.journal import Submitted, read_entries
from batchedit.state.rundir import RunPaths

CURABLE = {"rate_limited", "server", "network"}


async def run_against(
    run_rows: RunRows, *, rows: int = 16, settings: dict[str, Any] | None = None, **options: Any
) -> PipelineRun:
    """`rows` rows through the shared harness (`run_rows`), every row sent however
    many outcomes are unknown (`max_unknown` 0), and the invariants of every
    fault run checked."""
    run = await run_rows(rows=rows, settings={"max_unknown": 0, **(settings or {})}, **options)
    assert_nothing_lost(run, rows)
    return run


def assert_nothing_lost(run: PipelineRun, rows: int) -> None:
    """The invariants every fault run keeps, whatever the fault."""
    assert [line["id"] for line in run.report] == [f"row-{n:02d}" for n in range(rows)]
    for line in run.report:
        error = line["error"]
        assert error is None or error["category"] not in CURABLE, f"curable failure: {line}"
        if line["status"] == "succeeded":
            assert line["task_id"] and line["outputs"], line
        if line["status"] == "unknown":
            assert error["category"] == "unknown_outcome" and line["task_id"] is None, line
            assert line["attempts"] == 1, line
    with_task = sum(line["task_id"] is not None for line in run.report)
    paid_without_task = run.stats["submits"] - with_task
    assert 0 <= paid_without_task <= run.count("unknown"), "paid twice, or paid unreported"
    assert run.outcome.summary.stats.paid_submissions == with_task + run.count("unknown")


def assert_outputs_intact(run: PipelineRun) -> None:
    for line in run.report:
        for output in line["outputs"]:
            data = (run.paths.root / output["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == output["sha256"]
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                assert image.size == (output["width"], output["height"])


async def test_a_dropped_connection_after_an_accepted_submit_makes_the_row_unknown(
    run_rows: RunRows,
) -> None:
    run = await run_against(run_rows, sim={"drop_rate": 0.3, "seed": 3})
    dropped = run.stats["faults"]["dropped"]
    assert dropped > 0
    assert run.count("unknown") == dropped
    assert run.count("succeeded") == 16 - dropped
    # Every row was paid for exactly once: the dropped ones too, and none twice.
    assert run.stats["submits"] == run.stats["submit_requests"] == 16
    assert run_exit_code(run.outcome) == 1


async def test_malformed_answers_are_retried_or_unknown_never_a_crash(run_rows: RunRows) -> None:
    run = await run_against(run_rows, sim={"malformed_rate": 0.2, "seed": 5})
    assert run.stats["faults"]["malformed"] > 0
    # A malformed answer to a submit is unknown (it may have created a task);
    # a malformed poll or upload is free to ask again and never fails its row.
    assert set(run.statuses()) <= {"succeeded", "unknown"}
    assert run.count("unknown") <= run.stats["faults"]["malformed"]
    assert run.count("succeeded") > 0
    assert run.stats["submit_requests"] == 16, "no submit was sent twice"
    assert_outputs_intact(run)


async def test_truncated_downloads_are_fetched_again_and_every_output_is_whole(
    run_rows: RunRows,
) -> None:
    # At 0.3 a download cut short nine times in a row (the budget) is a 1 in 50,000 event.
    run = await run_against(run_rows, sim={"truncate_rate": 0.3, "seed": 9})
    truncated = run.stats["faults"]["truncated"]
    assert truncated > 0
    assert run.statuses() == ["succeeded"] * 16, [line["error"] for line in run.report]
    assert run.stats["downloads"] == 16 + truncated
    assert run.stats["submits"] == 16
    assert_outputs_intact(run)


async def test_slow_answers_within_the_read_timeout_change_nothing(run_rows: RunRows) -> None:
    sim = {"slow_rate": 0.3, "slow_s": 0.03, "seed": 2}
    run = await run_against(run_rows, sim=sim, read_timeout_s=5.0)
    assert run.stats["faults"]["slow"] > 0
    assert run.statuses() == ["succeeded"] * 16
    assert run.stats["submits"] == 16


@pytest.mark.real_time(
    "answers held back past the read timeout are real time at the simulator; a margin "
    "of 150 ms keeps an ordinary answer on a loaded machine within the timeout"
)
async def test_answers_slower_than_the_read_timeout_make_submits_unknown_and_polls_retry(
    run_rows: RunRows,
) -> None:
    sim = {"slow_rate": 0.2, "slow_s": 0.3, "seed": 4}
    run = await run_against(run_rows, sim=sim, read_timeout_s=0.15)
    assert run.stats["faults"]["slow"] > 0
    assert set(run.statuses()) <= {"succeeded", "unknown"}
    assert 0 < run.count("succeeded") and run.count("unknown") <= run.stats["faults"]["slow"]
    # A timed-out submit may have created its task: never sent again.
    assert run.stats["submit_requests"] == 16


async def test_server_errors_are_retried_and_a_500_on_a_submit_is_unknown(
    run_rows: RunRows,
) -> None:
    run = await run_against(run_rows, sim={"error_rate": 0.3, "seed": 8})
    assert run.stats["responses"].get("503", 0) > 0
    assert set(run.statuses()) <= {"succeeded", "unknown"}
    # Only a 500 to a submit leaves a row unknown; half of those created their task.
    assert run.count("unknown") <= run.stats["responses"].get("500", 0)
    assert run.count("succeeded") <= run.stats["submits"] <= 16


async def test_a_request_rate_limit_is_learned_from_the_headers_and_no_row_fails(
    run_rows: RunRows,
) -> None:
    # 12 rows need about 30 requests; unpaced, 10 per second with a burst of 10 would
    # refuse some. The first answer's X-RateLimit-Limit paces the rest under it.
    run = await run_against(
        run_rows,
        rows=12,
        sim={"rate_limit": 10, "seed": 1},
        settings={"concurrency": 6, "poll_interval_s": 0.05},
        clock=JumpingClock(),
    )
    assert run.stats["responses"].get("429", 0) <= 1
    assert run.statuses() == ["succeeded"] * 12
    assert run.stats["submits"] == 12
    # The request rate is the limit here, not the tasks: concurrency was never cut.
    assert run.outcome.summary.to_json()["concurrency_lowest"] == 6


async def test_the_client_rate_limit_keeps_under_the_service_limit_without_a_429(
    run_rows: RunRows,
) -> None:
    run = await run_against(
        run_rows,
        sim={"rate_limit": 120, "seed": 1},
        settings={"rate_limit": 100, "poll_interval_s": 0.02},
    )
    assert run.stats["responses"].get("429", 0) == 0
    assert run.statuses() == ["succeeded"] * 16
    assert run.outcome.summary.requests["submit"] == 16


async def test_a_concurrency_limit_lowers_the_effective_concurrency(run_rows: RunRows) -> None:
    sim = {"max_concurrent": 2, "latency_s": (0.02, 0.05), "seed": 6}
    run = await run_against(run_rows, sim=sim, settings={"concurrency": 8})
    assert run.stats["responses"].get("429", 0) > 0
    assert run.statuses() == ["succeeded"] * 16
    summary = run.outcome.summary.to_json()
    assert summary["concurrency"] == 8
    assert summary["concurrency_lowest"] < 8
    assert 1 <= summary["concurrency_settled"] <= 8


async def test_errors_rate_limits_and_failed_tasks_together_leave_only_task_failures(
    run_rows: RunRows,
) -> None:
    sim = {"error_rate": 0.2, "rate_limit": 20, "fail_rate": 0.1, "seed": 12}
    run = await run_against(
        run_rows,
        rows=24,
        sim=sim,
        settings={"poll_interval_s": 0.05},
        clock=JumpingClock(),  # the learned budget's pacing waits pass on a shared clock
    )
    assert run.stats["responses"].get("500", 0) + run.stats["responses"].get("503", 0) > 0
    for line in run.report:
        if line["status"] != "succeeded":
            assert line["status"] in {"failed", "unknown"}, line
            if line["status"] == "failed":
                assert line["error"]["category"] == "task_failed", line
    assert run.count("succeeded") >= 12


async def test_submitting_stops_after_max_unknown_and_the_rest_stay_pending(
    run_rows: RunRows,
) -> None:
    run = await run_against(
        run_rows,
        rows=20,
        sim={"drop_rate": 1.0},
        settings={"max_unknown": 3, "concurrency": 1},
    )
    assert run.statuses() == ["unknown"] * 3 + ["pending"] * 17
    assert run.stats["submits"] == 3
    assert run_exit_code(run.outcome) == 3 and run.outcome.fatal is None
    assert run.outcome.why is not None and "max_unknown 3" in run.outcome.why
    assert run.outcome.summary.to_json()["stopped_by"] == "max_unknown"


async def test_a_task_past_its_deadline_fails_as_timeout_and_keeps_its_task_id(
    run_rows: RunRows,
) -> None:
    run = await run_against(
        run_rows,
        rows=4,
        sim={"latency_s": (30.0, 30.0)},
        settings={"task_timeout": 0.05},
    )
    assert run.statuses() == ["failed"] * 4
    for line in run.report:
        assert line["error"]["category"] == "timeout", line
        assert line["task_id"] and line["task_id"].startswith("task-"), line
    journaled = {
        entry.task_id
        for _, entry in read_entries(run.paths.journal)
        if isinstance(entry, Submitted)
    }
    assert {line["task_id"] for line in run.report} <= journaled
    assert run.stats["submits"] == 4


async def test_an_exhausted_balance_stops_the_run_with_exit_3_and_pending_rows(
    run_rows: RunRows,
) -> None:
    run = await run_against(run_rows, rows=8, sim={"balance": 3}, settings={"concurrency": 1})
    assert run_exit_code(run.outcome) == 3
    assert isinstance(run.outcome.fatal, FatalApiError)
    assert run.outcome.fatal.category is ErrorCategory.PAYMENT
    assert "top up the balance" in str(run.outcome.fatal)  # the one test of its advice
    assert set(run.statuses()[3:]) == {"pending"}
    assert "failed" not in run.statuses()
    assert run.stats["submits"] == 3
    assert run.outcome.summary.to_json()["stopped_by"] == "payment"


def test_resilience_settings_are_checked_and_the_command_line_wins(tmp_path: Path) -> None:
    manifest = two_image_manifest(tmp_path, 1)
    job_file = tmp_path / "job.yaml"
    job_file.write_text(
        "manifest: rows.csv\nrate_limit: 5\nmax_unknown: 2\ntask_timeout: 600\n", encoding="utf-8"
    )
    job = load_job(job_file)
    assert (job.rate_limit, job.max_unknown.limit(1000), job.task_timeout) == (5.0, 2, 600.0)
    job = apply_overrides(job, rate_limit="1.5", max_unknown="0", task_timeout=None)
    assert (job.rate_limit, job.max_unknown.limit(1000), job.task_timeout) == (1.5, None, 600.0)
    # The default budget: 2% of the planned submits, at least 5.
    assert load_job(manifest).max_unknown.limit(100) == 5
    assert load_job(manifest).max_unknown.limit(1000) == 20
    assert apply_overrides(job, max_unknown="1%").max_unknown.limit(1000) == 10
    assert load_job(manifest).halt_on_failure == FailureBrake(0.5, 20)
    assert apply_overrides(job, halt_on_failure="0.2/50").halt_on_failure == FailureBrake(0.2, 50)
    assert apply_overrides(job, halt_on_failure="off").halt_on_failure is None
    wrong = (
        ["--rate-limit", "0"],
        ["--max-unknown", "-1"],
        ["--max-unknown", "150%"],
        ["--task-timeout", "-3"],
        ["--halt-on-failure", "2/20"],
        ["--halt-on-failure", "0.5/0"],
    )
    for argv in wrong:
        assert main(["run", str(manifest), "--out", str(tmp_path / "run"), *argv]) == 2
    assert not (tmp_path / "run").exists()


def test_the_simulate_command_takes_the_fault_options() -> None:
    args = build_parser().parse_args(
        ["simulate", "--drop-rate", "0.1", "--malformed-rate", "0.2", "--truncate-rate", "0.3"]
        + ["--slow-rate", "0.4", "--slow-delay", "1.5", "--gateway-timeout-rate", "0.25"]
    )
    assert (args.drop_rate, args.malformed_rate, args.truncate_rate) == (0.1, 0.2, 0.3)
    assert (args.slow_rate, args.slow_delay, args.gateway_timeout_rate) == (0.4, 1.5, 0.25)


async def test_a_rerun_after_402_finishes_without_paying_again_for_rows_already_done(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    simulator = await start_simulator(balance=3)
    job = apply_overrides(
        load_job(two_image_manifest(tmp_path, 8)), concurrency=1, poll_interval_s=0.005
    )
    paths = RunPaths(tmp_path / "run")
    config = RunConfig(job, paths, Endpoint(simulator.base_url, TEST_KEY), retry=FAST_RETRY)
    first = await run_pipeline(config, total_rows=8)
    assert run_exit_code(first) == 3
    report = read_report(paths.root)
    assert {line["status"] for line in report} <= {"succeeded", "pending"}
    paid = {line["id"]: line["task_id"] for line in report if line["task_id"]}
    assert len(paid) == 3

    simulator.set_balance(None)  # the user tops up the balance
    second = await run_pipeline(config, total_rows=8)

    assert run_exit_code(second) == 0
    report = read_report(paths.root)
    assert [line["status"] for line in report] == ["succeeded"] * 8
    assert {line["id"]: line["task_id"] for line in report if line["id"] in paid} == paid
    assert simulator.stats()["submits"] == 8, "the rows paid before the 402 are not paid again"
    assert [line["attempts"] for line in report] == [1] * 8


async def test_a_rerun_after_401_with_the_right_key_submits_every_row_once(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    simulator = await start_simulator(api_key=TEST_KEY)
    job = apply_overrides(load_job(two_image_manifest(tmp_path, 6)), poll_interval_s=0.005)
    paths = RunPaths(tmp_path / "run")
    wrong = RunConfig(job, paths, Endpoint(simulator.base_url, "sk-rotated-key"), retry=FAST_RETRY)
    first = await run_pipeline(wrong, total_rows=6)
    assert run_exit_code(first) == 3 and isinstance(first.fatal, FatalApiError)
    assert first.fatal.category is ErrorCategory.AUTH
    assert "sk-rotated-key" not in str(first.fatal)
    assert [line["status"] for line in read_report(paths.root)] == ["pending"] * 6

    right = RunConfig(job, paths, Endpoint(simulator.base_url, TEST_KEY), retry=FAST_RETRY)
    second = await run_pipeline(right, total_rows=6)
    assert run_exit_code(second) == 0
    assert simulator.stats()["submits"] == 6
    assert [line["attempts"] for line in read_report(paths.root)] == [1] * 6
