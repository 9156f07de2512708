"""The default task deadline: a task the service leaves running ends `timeout`
after half an hour, keeping its task id, and a later run polls it again for
free. Virtual time shared by the pipeline and the simulator: no real
half-hour passes."""

from __future__ import annotations

from pathlib import Path

from support import TEST_KEY, JumpingClock, StartSimulator, read_report, two_image_manifest

from batchedit.api.client import RetryPolicy
from batchedit.api.endpoint import Endpoint
from batchedit.manifest.job import apply_overrides, load_job
from batchedit.manifest.settings import DEFAULT_TASK_TIMEOUT_S
from batchedit.pipeline.runner import RunConfig, run_pipeline
from batchedit.state.rundir import RunPaths


async def test_a_task_running_past_the_default_deadline_times_out_and_is_polled_again(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    clock = JumpingClock()
    # The task takes 2,700 s of the shared virtual time: 900 s past the default
    # deadline, and 900 s within the second run's own. One row, so one poller
    # moves this clock (every sleep moves it on): its polls land a minute apart.
    # Prerendered: the result is ready at its virtual time, not when a render
    # thread on a loaded machine is done (polls would spin virtual hours meanwhile).
    simulator = await start_simulator(latency_s=(2700.0, 2700.0), clock=clock.now, prerendered=True)
    job = load_job(two_image_manifest(tmp_path, 1))
    assert job.task_timeout == DEFAULT_TASK_TIMEOUT_S == 1800.0
    job = apply_overrides(job, poll_interval_s=60.0)  # 30 looks in half an hour
    config = RunConfig(
        job,
        RunPaths(tmp_path / "run"),
        Endpoint(simulator.base_url, TEST_KEY),
        retry=RetryPolicy(max_retries=2, base_delay_s=0.001),
    )

    first = await run_pipeline(config, total_rows=1, clock=clock)

    report = read_report(config.paths.root)
    for line in report:
        assert (line["status"], line["error"]["category"]) == ("failed", "timeout"), line
        assert "after 1800s (task_timeout)" in line["error"]["message"]
        assert line["task_id"], "the task id is kept"
    assert first.summary.stats.paid_submissions == 1
    assert simulator.stats()["submits"] == 1

    second = await run_pipeline(config, total_rows=1, clock=clock)

    again = read_report(config.paths.root)
    assert [line["status"] for line in again] == ["succeeded"], again[0]["error"]
    assert second.summary.stats.paid_submissions == 0
    assert simulator.stats()["submits"] == 1, "polled again, never paid again"
    assert [line["task_id"] for line in again] == [line["task_id"] for line in report]
