"""How a run stopped early ends on the terminal (issue 29): the guard's reason,
with what to do, is told once, at the end, not also as a log line when it
happened; and the closing line says how many of its rows the run finished and
how many it left pending, not the number it set out to do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support import ThreadedSimulator, read_report, two_image_manifest

from batchedit.cli import main

FAST = ["--poll-interval", "0.01", "--no-progress"]
BUDGET_SPENT = "the unknown-outcome budget is spent"


def test_an_unknown_outcome_stop_is_told_once_and_the_closing_line_counts_what_was_left(
    tmp_path: Path,
    threaded_simulator: Callable[..., ThreadedSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    simulator = threaded_simulator(drop_rate=1.0)  # every submit charged, then unanswered
    manifest, run_dir = two_image_manifest(tmp_path, rows=10), tmp_path / "run"
    argv = ["run", str(manifest), "--out", str(run_dir), *FAST, "--concurrency", "1"]
    assert main([*argv, "--max-unknown", "2"]) == 3

    captured = capsys.readouterr()
    assert captured.err.count(BUDGET_SPENT) == 1, captured.err
    assert BUDGET_SPENT not in captured.out
    assert captured.err.count("submitting stopped (max_unknown)") == 1, captured.err
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith(f"batchedit: submitting stopped: {BUDGET_SPENT}")

    report = read_report(run_dir)
    pending = sum(line["status"] == "pending" for line in report)
    unknown = sum(line["status"] == "unknown" for line in report)
    assert pending > 0 and unknown == simulator.stats()["submits"]
    assert (
        f"this run finished {10 - pending} of the 10 row(s) it set out to do and left "
        f"{pending} pending; 0 were settled by earlier runs" in captured.out
    ), captured.out
    assert "worked on 10 row(s)" not in captured.out


def test_a_spend_cap_stop_says_how_many_rows_it_finished_and_left(
    tmp_path: Path,
    threaded_simulator: Callable[..., ThreadedSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    threaded_simulator()
    manifest, run_dir = two_image_manifest(tmp_path, rows=12), tmp_path / "run"
    prices = tmp_path / "prices.yaml"
    prices.write_text("currency: EUR\ngoogle/nano-banana-pro-edit: 0.10\n", encoding="utf-8")
    argv = ["run", str(manifest), "--out", str(run_dir), *FAST, "--prices", str(prices)]
    assert main([*argv, "--max-spend", "0.40"]) == 3

    captured = capsys.readouterr()
    assert captured.err.count("submitting stopped by the spend cap") == 1, captured.err
    assert "this run finished 4 of the 12 row(s) it set out to do and left 8 pending" in (
        captured.out
    ), captured.out


def test_a_run_that_went_to_its_end_says_how_many_rows_it_worked_on(
    tmp_path: Path,
    threaded_simulator: Callable[..., ThreadedSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    threaded_simulator()
    manifest = two_image_manifest(tmp_path, rows=3)
    assert main(["run", str(manifest), "--out", str(tmp_path / "run"), *FAST]) == 0
    out = capsys.readouterr().out
    assert "this run worked on 3 row(s); 0 were settled by earlier runs" in out
    assert "pending" not in out
