"""What a person sees during and after a run: the progress bars' counts, and
closing lines that say what happened, what it cost and what to do next."""

from __future__ import annotations

import io
from array import array
from collections import Counter
from pathlib import Path

from batchedit.records import ErrorCategory, Status
from batchedit.report.counts import ReportCounts
from batchedit.report.progress import Progress
from batchedit.report.summary import RunStats, RunSummary, format_bytes, format_seconds
from batchedit.state.rundir import RunPaths


def summary(statuses: dict[str, int], categories: dict[str, int], **again: int) -> RunSummary:
    counts = ReportCounts(
        rows=sum(statuses.values()),
        statuses=Counter({Status(name): n for name, n in statuses.items()}),
        categories=Counter({ErrorCategory(name): n for name, n in categories.items()}),
        examples={ErrorCategory(name): f"row-{name}: it broke\nbadly" for name in categories},
        paid_again=again.get("paid", statuses.get("failed", 0)),
        free_again=again.get("free", 0),
        unsent=again.get("unsent", 0),
    )
    stats = RunStats("2024-01-01T00:00:00Z", array("d", [0.5, 1.0, 1.5, 2.0, 9.0]), 12)
    return RunSummary(
        counts=counts,
        stats=stats,
        requests={"submit": 12, "poll": 30, "upload": 0, "download": 10},
        bytes_downloaded=2_400_000,
        wall_time_s=125.0,
        finished_at="2024-01-01T00:02:05Z",
        concurrency=8,
        peak_in_flight=8,
        stopped_by=None,
    )


def test_closing_lines_give_counts_examples_latency_cost_and_next_steps(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path / "my run")
    done = summary(
        {"succeeded": 10, "failed": 2, "unknown": 1, "invalid": 1},
        {"task_failed": 2, "unknown_outcome": 1, "invalid_input": 1},
    )
    lines = done.human_lines(paths)
    text = "\n".join(lines)
    assert lines[0] == "14 rows: 10 succeeded, 2 failed, 1 unknown, 1 invalid"
    assert lines[1].split() == [
        "task_failed",
        "(2)",
        "e.g.",
        "row-task_failed:",
        "it",
        "broke",
        "badly",
    ]
    assert "p50 1.5s, p95 9.0s" in text and "wall time 2m05s" in text
    assert "paid submissions 12; requests: 12 submit, 30 poll, 10 download; 2.4 MB" in text
    assert f"report: {paths.report}" in text
    assert f"batchedit retry '{paths.root}'" in text
    assert f"batchedit retry '{paths.root}' --status unknown" in text
    assert "--failed-csv" in text


def test_closing_lines_offer_the_free_re_run_first_and_say_what_costs_money(
    tmp_path: Path,
) -> None:
    """Rows failed on a download or a timeout, or pending with a known task, are
    continued for free by a plain re-run: `retry` (which pays) is not offered."""
    paths = RunPaths(tmp_path / "run")
    done = summary(
        {"succeeded": 5, "failed": 2, "pending": 3},
        {"download": 1, "timeout": 1},
        free=4,
        unsent=1,
        paid=0,
    )
    text = "\n".join(done.human_lines(paths))
    assert "run the same command again" in text
    assert "4 row(s) with a known task looked at again (free)" in text
    assert "1 pending row(s) submitted (paid, as planned)" in text
    assert "batchedit retry" not in text
    mixed = "\n".join(summary({"failed": 3}, {"task_failed": 3}).human_lines(paths))
    assert "paid: resubmits 3 row(s)" in mixed and "batchedit retry" in mixed


def test_closing_lines_of_a_clean_run_offer_no_retry(tmp_path: Path) -> None:
    text = "\n".join(summary({"succeeded": 3}, {}).human_lines(RunPaths(tmp_path)))
    assert "3 rows: 3 succeeded" in text and "retry" not in text and "e.g." not in text


def test_sizes_and_durations_read_at_a_glance() -> None:
    assert [format_bytes(n) for n in (512, 2_400_000, 7_000_000_000)] == [
        "512 B",
        "2.4 MB",
        "7.0 GB",
    ]
    assert [format_seconds(s) for s in (4.25, 125, 3725)] == ["4.2s", "2m05s", "1h02m05s"]


def test_progress_counts_in_flight_and_failed_rows_beside_the_bars() -> None:
    screen = io.StringIO()
    with Progress(5, enabled=True, file=screen) as progress:
        progress.submitted(in_flight=1)
        progress.submitted(in_flight=2)
        progress.finished(Status.FAILED, in_flight=1)
        progress.finished(Status.UNKNOWN, in_flight=0)
        progress.finished(Status.INVALID)
        assert progress.postfix() == "0 in flight, 2 failed, 1 invalid"
    assert "submitted" in screen.getvalue() and "in flight" in screen.getvalue()


def test_progress_draws_nothing_when_disabled() -> None:
    screen = io.StringIO()
    with Progress(2, enabled=False, file=screen) as progress:
        progress.submitted(in_flight=1)
        progress.finished(Status.SUCCEEDED, in_flight=0)
    assert screen.getvalue() == "" and progress.statuses[Status.SUCCEEDED] == 1


def test_the_bars_count_this_runs_work_and_settled_rows_beside_them() -> None:
    """A nightly run that submits 1 row and downloads 1 again, of 7, ends at
    1/1 and 2/2, not at 2/7 looking aborted."""
    screen = io.StringIO()
    with Progress(2, submits=1, enabled=True, file=screen) as progress:
        for _ in range(5):
            progress.settled(Status.SUCCEEDED)
        progress.submitted(in_flight=1)
        progress.finished(Status.SUCCEEDED, in_flight=0)  # the submitted row
        progress.finished(Status.SUCCEEDED, in_flight=0)  # the row downloaded again
    text = screen.getvalue()
    assert "1/1" in text and "2/2" in text and "/7" not in text
    assert progress.settled_rows == 5 and progress.statuses[Status.SUCCEEDED] == 7
