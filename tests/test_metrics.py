"""`--metrics-file PATH` (docs/runs.md, "Metrics for monitoring"): the
Prometheus text format, as `prometheus_client`'s own parser reads it, written
while the run goes and when it ends, its row counts the report's; and the
`progress` events of `--log-format json`."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import TEST_KEY, StartSimulator, ThreadedSimulator, read_report, two_image_manifest

from batchedit.api.endpoint import Endpoint
from batchedit.cli import main
from batchedit.cli.exits import run_exit_code
from batchedit.events import setup_logging
from batchedit.manifest.job import apply_overrides, load_job
from batchedit.pipeline import nightly
from batchedit.pipeline.runner import RunConfig, run_pipeline
from batchedit.records import Status
from batchedit.report.metrics import RunFigures, write_metrics
from batchedit.state.rundir import RunPaths

FAST = ["--poll-interval", "0.01", "--no-progress"]


def samples(path: Path) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of the file by sample name, as Prometheus' parser reads it."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def by_label(
    found: dict[str, list[tuple[dict[str, str], float]]], name: str, label: str
) -> dict[str, float]:
    return {labels[label]: value for labels, value in found[name]}


def value(found: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    ((_, number),) = found[name]
    return number


def test_the_metrics_file_parses_and_counts_the_reports_rows(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> None:
    threaded_simulator(fail_rate=0.3, seed=4)
    prices = tmp_path / "prices.yaml"
    prices.write_text("currency: EUR\ngoogle/nano-banana-pro-edit: 0.25\n", encoding="utf-8")
    metrics, run_dir = tmp_path / "textfile" / "batchedit.prom", tmp_path / "run"
    argv = ["run", str(two_image_manifest(tmp_path, 10)), "--out", str(run_dir), *FAST]
    argv += ["--prices", str(prices), "--metrics-file", str(metrics)]
    code = main(argv)
    assert code == 1

    found = samples(metrics)
    report = Counter(line["status"] for line in read_report(run_dir))
    assert by_label(found, "batchedit_rows", "status") == {s.value: report[s.value] for s in Status}
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert value(found, "batchedit_paid_submissions_total") == summary["paid_submissions"] == 10
    assert found["batchedit_spend"] == [
        ({"run_dir": str(run_dir.absolute()), "currency": "EUR"}, 2.5)
    ]
    kinds = by_label(found, "batchedit_api_requests_total", "kind")
    assert kinds == {kind: float(n) for kind, n in summary["requests"].items()}
    assert value(found, "batchedit_unknown_outcomes_total") == 0
    assert value(found, "batchedit_rate_limited_total") == 0
    quantiles = by_label(found, "batchedit_task_latency_seconds", "quantile")
    assert quantiles["0.5"] == pytest.approx(summary["latency_s"]["p50"], abs=1e-3)
    assert set(quantiles) == {"0.5", "0.9", "0.95", "0.99"}
    assert value(found, "batchedit_task_latency_seconds_count") == 10
    assert value(found, "batchedit_running") == 0
    assert value(found, "batchedit_last_run_exit_code") == code
    assert time.time() - value(found, "batchedit_last_success_timestamp_seconds") < 60
    assert not list(metrics.parent.glob(".*.part")), "written aside, then renamed"

    # A run that stops (the spend cap at once: exit 3) keeps the last success.
    success = value(found, "batchedit_last_success_timestamp_seconds")
    two_image_manifest(tmp_path, 11)  # one more row, to pay for
    assert main([*argv, "--max-spend", "0"]) == 3
    found = samples(metrics)
    assert value(found, "batchedit_last_run_exit_code") == 3
    assert value(found, "batchedit_last_success_timestamp_seconds") == success
    assert by_label(found, "batchedit_rows", "status")["pending"] == 1


async def test_the_file_is_written_while_the_run_goes_and_progress_is_logged(
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every few milliseconds here (15 s and 30 s by default): the snapshots
    taken while tasks ran show them pending, the last one the report's counts."""
    simulator = await start_simulator(latency_s=(0.05, 0.1))
    written: list[RunFigures] = []

    def keep(path: Path, figures: RunFigures) -> None:
        written.append(figures)
        write_metrics(path, figures)

    monkeypatch.setattr(nightly, "write_metrics", keep)
    metrics = tmp_path / "run.prom"
    manifest = two_image_manifest(tmp_path, 12)
    job = apply_overrides(load_job(manifest), metrics_file=str(metrics), poll_interval_s=0.005)
    config = RunConfig(
        job,
        RunPaths(tmp_path / "run"),
        Endpoint(simulator.base_url, TEST_KEY),
        metrics_interval_s=0.002,
        progress_interval_s=0.01,
    )
    setup_logging("json", verbose=False)
    try:
        outcome = await run_pipeline(config, total_rows=12)
    finally:
        setup_logging("text", verbose=False)
    assert run_exit_code(outcome) == 0

    during, last = written[:-1], written[-1]
    assert during and all(figures.running for figures in during)
    assert during[0].statuses["pending"] == 12, "the first write, before any row ended"
    assert sum(during[0].statuses.values()) == 12
    assert not last.running and last.statuses["succeeded"] == 12
    assert samples(metrics)["batchedit_rows"]

    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    progress: list[dict[str, Any]] = [e for e in events if e["event"] == "progress"]
    assert progress, "a progress event while the run went"
    for event in progress:
        assert event["total"] == 12 and 0 <= event["done"] <= 12
        assert set(event) >= {"rate_per_s", "eta_s", "spend", "paid_submissions"}
