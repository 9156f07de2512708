"""The spend and its cap (docs/runs.md, "What a run spends"): at 0.10 a task,
`--max-spend 1.00` on 30 rows pays for 10 tasks and exits 3 naming the cap,
the spend and the rows left pending; the summary's spend is 0.10 times the
paid submits, each report line carries its cost, an `unknown` outcome counts
as spent, and a re-run continues without paying twice. Checked against the
simulator's own count of paid tasks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support import (
    TEST_KEY,
    StartSimulator,
    ThreadedSimulator,
    VirtualClock,
    read_report,
    write_csv,
    write_image,
)

from batchedit.api.endpoint import Endpoint
from batchedit.cli import main
from batchedit.cli.exits import run_exit_code
from batchedit.manifest.guards import UnknownBudget
from batchedit.manifest.job import apply_overrides, load_job
from batchedit.manifest.prices import parse_prices
from batchedit.pipeline.runner import RunConfig, run_pipeline
from batchedit.pipeline.stop import StopReason
from batchedit.pipeline.submit.gate import GateSettings, SubmitGate
from batchedit.state.rundir import RunPaths

FAST = ["--poll-interval", "0.01", "--no-progress"]
MODEL = "google/nano-banana-pro-edit"
PRICE = 0.10


def catalog(folder: Path, rows: int = 30, resolution: str = "1K") -> Path:
    write_image(folder / "a.png", colour="red")
    records = [
        {"id": f"sku-{n:02d}", "prompt": "on white", "image": "a.png", "resolution": resolution}
        for n in range(rows)
    ]
    return write_csv(folder / "catalog.csv", records)


def write_prices(folder: Path, price: float = PRICE) -> Path:
    path = folder / "prices.yaml"
    path.write_text(f"currency: EUR\n{MODEL}:\n  1K: {price}\n", encoding="utf-8")
    return path


def test_a_spend_cap_pays_up_to_it_exits_3_and_a_rerun_continues(
    tmp_path: Path,
    threaded_simulator: Callable[..., ThreadedSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    simulator = threaded_simulator()
    manifest, prices, run_dir = catalog(tmp_path), write_prices(tmp_path), tmp_path / "run"
    argv = ["run", str(manifest), "--out", str(run_dir), *FAST, "--prices", str(prices)]
    assert main([*argv, "--concurrency", "4", "--max-spend", "1.00"]) == 3

    err = capsys.readouterr().err
    assert "max_spend 1.00 EUR" in err and "spent 1.00 EUR on 10 paid submission(s)" in err
    assert "20 row(s) left pending" in err
    assert simulator.stats()["submits"] == 10, "the cap's worth of tasks, and no more"
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["paid_submissions"] == 10 and summary["stopped_by"] == "max_spend"
    assert summary["spend"] == {
        "amount": 1.0,
        "currency": "EUR",
        "by_model": {MODEL: 1.0},
        "unpriced": 0,
    }
    assert summary["spend"]["amount"] == pytest.approx(PRICE * summary["paid_submissions"])
    report = read_report(run_dir)
    paid = [line for line in report if line["attempts"]]
    assert len(paid) == 10 and all(line["status"] == "succeeded" for line in paid)
    assert all(line["cost"] == PRICE for line in paid)
    pending = [line for line in report if line["status"] == "pending"]
    assert len(pending) == 20 and all(line["cost"] == 0.0 for line in pending)

    assert main([*argv, "--max-spend", "5"]) == 0, "a re-run continues with the pending rows"
    assert simulator.stats()["submits"] == 30, "the 10 already paid were not paid again"
    assert json.loads((run_dir / "summary.json").read_text())["spend"]["amount"] == 2.0
    assert sum(line["cost"] for line in read_report(run_dir)) == pytest.approx(3.0)

    capsys.readouterr()
    assert main(["status", str(run_dir), "--history", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [run["exit_code"] for run in runs] == [3, 0]
    assert [run["paid_submissions"] for run in runs] == [10, 20]
    assert [run["spend"] for run in runs] == [1.0, 2.0]
    assert [run["stopped_by"] for run in runs] == ["max_spend", None]
    assert runs[0]["statuses"] == {"pending": 20, "succeeded": 10}
    assert runs[1]["statuses"] == {"succeeded": 30}


def test_the_closing_lines_and_status_show_the_spend(
    tmp_path: Path,
    threaded_simulator: Callable[..., ThreadedSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    threaded_simulator()
    manifest, prices, run_dir = catalog(tmp_path, rows=3), write_prices(tmp_path), tmp_path / "run"
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST, "--prices", str(prices)]) == 0
    assert "paid submissions 3 (spend 0.30 EUR)" in capsys.readouterr().out
    assert main(["status", str(run_dir)]) == 0
    assert "3 paid submission(s), spend 0.30 EUR" in capsys.readouterr().out
    assert main(["status", str(run_dir), "--history"]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "started",
        "(UTC)",
        "duration",
        "exit",
        "paid",
        "spend",
        "succeeded",
        "failed",
        "unknown",
        "pending",
    ]
    assert line.split()[3:] == ["0", "3", "0.30", "EUR", "3", "0", "0", "0"]


async def test_an_unknown_outcome_is_counted_as_spent(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    """A 504 after the task was made and charged: the row is `unknown`, and its
    price is in the spend, so the cap counts it too."""
    simulator = await start_simulator(gateway_timeout_rate=0.3, seed=3)
    settings = {
        "concurrency": 4,
        "poll_interval_s": 0.005,
        "max_unknown": "0",
        "prices": {"currency": "EUR", MODEL: PRICE},
        "max_spend": 1.0,
    }
    job = apply_overrides(load_job(catalog(tmp_path)), **settings)
    config = RunConfig(job, RunPaths(tmp_path / "run"), Endpoint(simulator.base_url, TEST_KEY))
    outcome = await run_pipeline(config, total_rows=30)

    report, stats = read_report(tmp_path / "run"), simulator.stats()
    unknown = sum(line["status"] == "unknown" for line in report)
    assert unknown > 0 and stats["faults"]["gateway_timeout"] == unknown
    assert stats["submits"] == outcome.summary.stats.paid_submissions == 10
    assert outcome.summary.to_json()["spend"]["amount"] == pytest.approx(1.0)
    assert run_exit_code(outcome) == 3 and outcome.stop is StopReason.MAX_SPEND
    assert sum(line["cost"] for line in report) == pytest.approx(1.0)


def test_max_spend_needs_a_price_for_every_paid_row(
    tmp_path: Path,
    threaded_simulator: Callable[..., ThreadedSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = catalog(tmp_path, rows=4), tmp_path / "run"
    argv = ["run", str(manifest), "--out", str(run_dir), *FAST, "--max-spend", "1"]
    assert main(argv) == 2
    assert "max_spend needs a price table" in capsys.readouterr().err
    only_4k = tmp_path / "4k.yaml"
    only_4k.write_text(f"{MODEL}:\n  4K: 0.24\n", encoding="utf-8")
    assert main([*argv, "--prices", str(only_4k)]) == 2
    assert "max_spend cannot be enforced" in capsys.readouterr().err
    assert simulator.stats()["submits"] == 0 and not run_dir.exists()


async def test_the_cap_is_exact_in_decimals_and_waits_for_submits_in_doubt() -> None:
    """0.1 three times is 0.3, not more; a fourth submit waits while submits it
    could replace are unanswered, goes when one of them charged nothing, and is
    refused once the cap is surely reached."""
    table = parse_prices({"currency": "EUR", MODEL: 0.1})
    settings = GateSettings(
        max_unknown=None,
        budget=UnknownBudget(),
        planned_submits=10,
        brake=None,
        prices=table,
        max_spend=0.3,
    )
    gate = SubmitGate(settings, VirtualClock())
    turns = [await gate.admit(MODEL, {}) for _ in range(3)]
    fourth = asyncio.ensure_future(gate.admit(MODEL, {}))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not fourth.done(), "three submits in doubt hold the whole cap"
    first, second, third = turns
    assert first is not None and second is not None and third is not None
    first.close()  # refused: nothing charged, its reservation back
    spare = await fourth
    assert spare is not None
    for turn in (second, third, spare):
        turn.paid()
        turn.close()
    assert gate.stats.spend is not None and str(gate.stats.spend.total) == "0.3"
    assert await gate.admit(MODEL, {}) is None
    assert gate.halted_by is StopReason.MAX_SPEND and gate.stats.paid_submissions == 3
