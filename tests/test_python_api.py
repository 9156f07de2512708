"""The Python API: batchedit.arun in a running loop against batchedit.Simulator,
run, validate, plan and load_report. The examples of docs/python.md run as
written in tests/test_doc_commands.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from support import TEST_KEY, ThreadedSimulator, two_image_manifest, write_csv

import batchedit
from batchedit.records import ReportRecord, Status


def test_the_package_exports_the_api_and_little_else() -> None:
    for name in ("run", "arun", "validate", "plan", "load_report", "Simulator"):
        assert name in batchedit.__all__ and name in dir(batchedit)
        assert getattr(batchedit, name) is not None
    assert callable(batchedit.run) and asyncio.iscoroutinefunction(batchedit.arun)
    with pytest.raises(AttributeError):
        _ = batchedit.nothing_of_the_sort  # type: ignore[attr-defined]


async def test_arun_in_a_running_loop_against_the_simulator(tmp_path: Path) -> None:
    manifest = two_image_manifest(tmp_path, rows=5)
    out = tmp_path / "run"
    async with batchedit.Simulator(seed=3) as sim:
        summary = await batchedit.arun(
            manifest, out=out, base_url=sim.base_url, api_key=TEST_KEY, poll_interval_s=0.01
        )
        assert sim.stats()["submits"] == 5 == summary.stats.paid_submissions
        again = await batchedit.arun(
            manifest, out=out, base_url=sim.base_url, api_key=TEST_KEY, poll_interval_s=0.01
        )
        assert sim.stats()["submits"] == 5, "a re-run from Python pays for nothing"
    assert summary.counts.statuses == {Status.SUCCEEDED: 5} and summary.stopped_by is None
    assert again.stats.paid_submissions == 0
    records = list(batchedit.load_report(out))
    assert all(isinstance(record, ReportRecord) for record in records)
    assert [record.status for record in records] == [Status.SUCCEEDED] * 5
    assert all((out / record.outputs[0].path).is_file() for record in records)


async def test_run_inside_a_running_loop_says_to_await_arun(tmp_path: Path) -> None:
    manifest = two_image_manifest(tmp_path, rows=1)
    with pytest.raises(batchedit.UsageError, match="await batchedit.arun"):
        batchedit.run(manifest, out=tmp_path / "run", api_key=TEST_KEY)
    assert not (tmp_path / "run").exists()


async def test_cancelling_arun_stops_the_run_cleanly_and_a_rerun_finishes(
    tmp_path: Path,
) -> None:
    manifest = two_image_manifest(tmp_path, rows=6)
    out = tmp_path / "run"
    async with batchedit.Simulator(latency_s=(5.0, 5.0), seed=1) as sim:
        task = asyncio.create_task(
            batchedit.arun(
                manifest,
                out=out,
                base_url=sim.base_url,
                api_key=TEST_KEY,
                concurrency=2,
                poll_interval_s=0.01,
            )
        )
        while sim.stats()["submits"] < 2:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        paid = sim.stats()["submits"]
    records = list(batchedit.load_report(out))
    assert len(records) == 6, "the report is written however the run ends"
    assert {record.status for record in records} == {Status.PENDING}
    assert sum(1 for record in records if record.task_id) == paid
    # Another seed: a service that lost its tasks still never gives a new submit
    # the id of an old task (a row given another row's task id ends `unknown`).
    async with batchedit.Simulator(seed=2) as sim:
        summary = await batchedit.arun(
            manifest, out=out, base_url=sim.base_url, api_key=TEST_KEY, poll_interval_s=0.01
        )
        assert (
            summary.counts.statuses[Status.SUCCEEDED] + summary.counts.statuses[Status.FAILED] == 6
        )


def test_run_from_plain_code_takes_settings_and_the_environment(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> None:
    simulator = threaded_simulator()  # MODELLIX_BASE_URL and MODELLIX_API_KEY set to it
    manifest = two_image_manifest(tmp_path, rows=3)
    summary = batchedit.run(
        str(manifest), out=str(tmp_path / "run"), concurrency=2, max_tasks=3, poll_interval_s=0.01
    )
    assert summary.counts.statuses == {Status.SUCCEEDED: 3} and summary.concurrency == 2
    assert simulator.stats()["submits"] == 3
    with pytest.raises(batchedit.RunRefused, match="more than max_tasks 1"):
        batchedit.run(manifest, out=tmp_path / "other", max_tasks=1)
    assert not (tmp_path / "other").exists()


def test_validate_returns_problems_with_file_line_and_field(tmp_path: Path) -> None:
    manifest = write_csv(
        tmp_path / "m.csv",
        [
            {"id": "a", "prompt": "p", "image": "https://cdn.example.com/a.png"},
            {
                "id": "b",
                "prompt": "p",
                "image": "https://cdn.example.com/b.png",
                "resolution": "9K",
            },
        ],
    )
    (problem,) = batchedit.validate(manifest)
    assert (problem.file, problem.line, problem.field) == (str(manifest), 3, "resolution")
    assert batchedit.validate(manifest, defaults={"resolution": "1K"}) == [problem]


def test_plan_counts_a_fresh_job_as_submits_with_a_cost(tmp_path: Path) -> None:
    manifest = two_image_manifest(tmp_path, rows=4)
    prices = {"currency": "EUR", "google/nano-banana-pro-edit": {"default": 0.25}}
    plan = batchedit.plan(manifest, out=tmp_path / "run", prices=prices)
    assert (plan.submit, plan.settled, plan.invalid) == (4, 0, 0)
    assert plan.cost is not None and plan.cost.amount == pytest.approx(1.0)
    assert not (tmp_path / "run").exists(), "planning writes nothing"


def test_a_planned_cost_is_summed_as_written_not_in_binary_floats(tmp_path: Path) -> None:
    manifest = two_image_manifest(tmp_path, rows=3)
    prices = {"currency": "EUR", "google/nano-banana-pro-edit": {"default": 0.67}}
    plan = batchedit.plan(manifest, out=tmp_path / "run", prices=prices)
    assert 0.67 * 3 != 2.01, "the float sum this guards against"
    assert plan.cost is not None and plan.cost.amount == 2.01
