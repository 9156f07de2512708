"""Safety refusals (`--refuse-rate`, category `content_policy`, left alone by
`retry` unless asked), the realistic latency profile, `--time-scale`, and
result URLs named after their task."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

import pytest
from support import ThreadedSimulator, read_report, write_csv

from batchedit.api.task_state import parse_task
from batchedit.cli import main
from batchedit.simulator import SimOptions
from batchedit.simulator.profiles import draw_duration_s, lognormal_params, profile_for
from batchedit.simulator.state import REFUSAL_MESSAGE, SimState
from batchedit.state.rundir import RunPaths

FAST = ["--poll-interval", "0.01", "--no-progress"]
IMAGE = "https://cdn.example.com/products/p.jpg"

Simulators = Callable[..., ThreadedSimulator]


def manifest(folder: Path, rows: int) -> Path:
    records = [{"id": f"r{n}", "prompt": "Put it on white", "image": IMAGE} for n in range(rows)]
    return write_csv(folder / "m.csv", records)


@pytest.mark.parametrize(
    ("message", "refused"),
    [
        (REFUSAL_MESSAGE, True),
        ("Task Failed: PROHIBITED_CONTENT", True),
        ("blocked: moderation_blocked", True),
        ("Task Failed: the simulated model could not complete this edit", False),
        ("the safety of the upstream worker could not be ensured", False),
    ],
)
def test_a_refusal_is_told_from_a_failure_by_the_services_markers(
    message: str, refused: bool
) -> None:
    state = parse_task("task-1", {"task_id": "task-1", "status": "failed", "error": message})
    assert state.refused is refused


def test_refused_rows_are_content_policy_and_retry_leaves_them_unless_asked(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator(refuse_rate=0.5, seed=3)
    run_dir = tmp_path / "run"
    assert main(["run", str(manifest(tmp_path, 12)), "--out", str(run_dir), *FAST]) == 1
    report = read_report(run_dir)
    refused = [line["id"] for line in report if line["status"] == "failed"]
    assert refused and len(refused) < 12
    for line in report:
        if line["status"] == "failed":
            assert line["error"]["category"] == "content_policy", line
            assert "IMAGE_PROHIBITED_CONTENT" in line["error"]["message"]
    assert simulator.stats()["refusals"] == len(refused)
    paid = simulator.stats()["submits"]

    assert main(["retry", str(run_dir), "--no-progress"]) == 1
    assert simulator.stats()["submits"] == paid, "a plain retry pays for no refusal again"

    argv = ["retry", str(run_dir), "--status", "failed", "--category", "content_policy"]
    main([*argv, "--no-progress"])
    assert simulator.stats()["submits"] == paid + len(refused)
    attempts = {line["id"]: line["attempts"] for line in read_report(run_dir)}
    assert all(attempts[row_id] == 2 for row_id in refused)


def test_category_without_failed_status_is_a_usage_error(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator()
    run_dir = tmp_path / "run"
    assert main(["run", str(manifest(tmp_path, 2)), "--out", str(run_dir), *FAST]) == 0
    argv = ["retry", str(run_dir), "--status", "unknown", "--category", "content_policy"]
    assert main(argv) == 2


def test_result_urls_end_in_a_file_named_after_the_task(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator()
    run_dir = tmp_path / "run"
    assert main(["run", str(manifest(tmp_path, 3)), "--out", str(run_dir), *FAST]) == 0
    journal = RunPaths(run_dir).journal.read_text()
    for line in read_report(run_dir):
        assert f"/{line['task_id']}/{line['task_id']}.png" in journal


@pytest.mark.parametrize(("size", "mean_s", "p95_s"), [("1K", 17.5, 25.0), ("4K", 60.0, 90.0)])
def test_the_realistic_profile_has_the_published_mean_and_p95(
    size: str, mean_s: float, p95_s: float
) -> None:
    import random

    rng = random.Random(5)
    draws = sorted(draw_duration_s("google/nano-banana-pro-edit", size, rng) for _ in range(4000))
    assert statistics.fmean(draws) == pytest.approx(mean_s, rel=0.05)
    assert draws[int(0.95 * len(draws))] == pytest.approx(p95_s, rel=0.06)
    mu, sigma = lognormal_params(*profile_for("google/nano-banana-pro-edit", size))
    assert sigma > 0 and mu > 0


def test_time_scale_multiplies_task_durations_and_the_request_budgets_second() -> None:
    options = SimOptions(latency_s=(10.0, 10.0), rate_limit=5.0, time_scale=0.1)
    state = SimState(options, clock=lambda: 0.0, wall_clock=lambda: 1e9)
    assert state.create_task("k", "google/nano-banana-pro-edit", "1K").latency_s == 1.0
    assert options.effective_rate_limit() == pytest.approx(50.0)
    assert options.scaled_expiry_s == pytest.approx(8640.0)
    realistic = SimState(
        SimOptions(latency_profile="realistic", time_scale=0.05, seed=1), lambda: 0.0, lambda: 0.0
    )
    durations = [
        realistic.create_task("k", "google/nano-banana-pro-edit", "2K").latency_s
        for _ in range(500)
    ]
    assert statistics.fmean(durations) == pytest.approx(35.0 * 0.05, rel=0.1)


def test_bad_profile_and_scale_are_refused() -> None:
    with pytest.raises(ValueError, match="latency_profile"):
        SimOptions(latency_profile="optimistic")
    with pytest.raises(ValueError, match="time_scale"):
        SimOptions(time_scale=0)
