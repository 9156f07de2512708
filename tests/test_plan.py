"""`batchedit plan`: a finished run after 5 rows changed and 2 outputs were
deleted plans 5 submits, 2 downloads and the rest settled, costs 5 tasks with
a price table, and sends nothing; --max-cost refuses as --max-tasks does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from support import ThreadedSimulator, read_report, write_csv, write_image

from batchedit.api.task_state import parse_task
from batchedit.cli import main
from batchedit.state.journal import Finished, Journal, Undecodable, read_entries
from batchedit.state.rundir import RunPaths

FAST = ["--poll-interval", "0.01", "--no-progress"]
ROWS = 12
PRICE = 0.13


def catalog(folder: Path, changed: int = 0) -> Path:
    write_image(folder / "a.png", colour="red")
    records = [
        {
            "id": f"sku-{n:02d}",
            "prompt": "on grey" if n < changed else "on white",
            "image": "a.png",
            "resolution": "1K",
        }
        for n in range(ROWS)
    ]
    return write_csv(folder / "catalog.csv", records)


def write_prices(folder: Path) -> Path:
    path = folder / "prices.yaml"
    path.write_text(
        f"currency: EUR\ngoogle/nano-banana-pro-edit:\n  1K: {PRICE}\n  4K: 0.24\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def finished_run(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> tuple[Path, Path, ThreadedSimulator]:
    simulator = threaded_simulator()
    manifest, run_dir = catalog(tmp_path), tmp_path / "run"
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0
    catalog(tmp_path, changed=5)  # sku-00..04: a new prompt
    for line in read_report(run_dir)[-2:]:  # sku-10, sku-11: outputs deleted
        (run_dir / line["outputs"][0]["path"]).unlink()
    return manifest, run_dir, simulator


def test_plan_after_changes_and_deletions(
    finished_run: tuple[Path, Path, ThreadedSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    manifest, run_dir, simulator = finished_run
    before = simulator.stats()
    capsys.readouterr()
    argv = [
        "plan",
        str(manifest),
        "--out",
        str(run_dir),
        "--prices",
        str(write_prices(run_dir.parent)),
    ]

    assert main([*argv, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["submit"], plan["download"], plan["poll"]) == (5, 2, 0)
    assert (plan["settled"], plan["invalid"], plan["rows"]) == (ROWS - 7, 0, ROWS)
    assert plan["paid_submissions"] == 5
    assert plan["cost"]["amount"] == pytest.approx(5 * PRICE)
    assert plan["cost"]["currency"] == "EUR" and plan["cost"]["complete"]

    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "estimated cost 0.65 EUR" in text
    assert simulator.stats() == before, "planning sends nothing"


def test_plan_without_prices_says_so_and_invents_none(
    finished_run: tuple[Path, Path, ThreadedSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    manifest, run_dir, _ = finished_run
    capsys.readouterr()
    assert main(["--json", "plan", str(manifest), "--out", str(run_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["cost"] is None
    assert main(["plan", str(manifest), "--out", str(run_dir)]) == 0
    assert "no price table" in capsys.readouterr().out


def test_max_cost_refuses_plan_and_run_before_anything_is_paid(
    finished_run: tuple[Path, Path, ThreadedSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    manifest, run_dir, simulator = finished_run
    prices = str(write_prices(run_dir.parent))
    before = simulator.stats()
    capsys.readouterr()
    plan = ["plan", str(manifest), "--out", str(run_dir), "--prices", prices]
    assert main([*plan, "--max-cost", "0.5", "--json"]) == 2
    refused = json.loads(capsys.readouterr().out)
    assert refused["ok"] is False and refused["error"]["exit_code"] == 2
    assert "more than max_cost" in refused["error"]["message"]
    run = ["run", str(manifest), "--out", str(run_dir), "--prices", prices, *FAST]
    assert main([*run, "--max-cost", "0.5"]) == 2
    assert simulator.stats()["submit_requests"] == before["submit_requests"]
    assert main([*run, "--max-cost", "0.70"]) == 0
    assert simulator.stats()["submits"] - before["submits"] == 5


def test_max_cost_without_a_price_table_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = catalog(tmp_path)
    assert main(["plan", str(manifest), "--max-cost", "10"]) == 2
    assert "needs a price table" in capsys.readouterr().err


def test_a_job_file_carries_its_prices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog(tmp_path)
    job = tmp_path / "job.yaml"
    job.write_text(
        "manifest: catalog.csv\noutput_dir: run\nprices:\n  currency: USD\n"
        "  google/nano-banana-pro-edit: 0.1\n",
        encoding="utf-8",
    )
    assert main(["plan", str(job), "--json"]) == 0
    cost = json.loads(capsys.readouterr().out)["cost"]
    assert cost["amount"] == pytest.approx(ROWS * 0.1) and cost["currency"] == "USD"
    assert not (tmp_path / "run").exists()


def test_a_run_prints_its_plan_first_and_says_what_it_left_untouched(
    finished_run: tuple[Path, Path, ThreadedSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    manifest, run_dir, _ = finished_run
    capsys.readouterr()
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0
    captured = capsys.readouterr()
    (plan,) = [line for line in captured.err.splitlines() if line.startswith("plan:")]
    assert "5 to submit" in plan and "2 to download again" in plan and "5 settled" in plan
    assert "this run worked on 7 row(s); 5 were settled by earlier runs" in captured.out


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (1767225600, "2026-01-01T00:00:00+00:00"),  # epoch seconds
        (1767225600000, "2026-01-01T00:00:00+00:00"),  # epoch milliseconds
        ("1767225600000", "2026-01-01T00:00:00+00:00"),  # either, as text
        ("2026-01-01T01:00:00+01:00", "2026-01-01T00:00:00+00:00"),  # ISO 8601
        ("2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00+00:00"),
        ("2026-01-01T00:00:00", "2026-01-01T00:00:00+00:00"),  # no zone: the API's UTC
        ("next tuesday", None),
        (True, None),
        (None, None),
        (-5, None),
    ],
)
def test_result_expiry_is_read_in_every_form_the_service_may_use(
    given: object, expected: str | None
) -> None:
    data = {"task_id": "t-1", "status": "success", "result_expires_at": given}
    data["result"] = {"resources": [{"url": "https://files.example.com/r.png"}]}
    assert parse_task("t-1", data).expires_at == expected


@pytest.mark.parametrize("spelling", ["1767225600", "1767225600000", "2026-01-01T00:00:00Z"])
def test_plan_counts_results_expired_in_any_spelling_as_paid_again(
    finished_run: tuple[Path, Path, ThreadedSimulator],
    capsys: pytest.CaptureFixture[str],
    spelling: str,
) -> None:
    """A journal line of an older run kept the service's own spelling of the
    expiry: an epoch in seconds or milliseconds is read as one, so the two
    rows whose outputs were deleted are planned as paid again, not fetched."""
    manifest, run_dir, _ = finished_run
    paths = RunPaths(run_dir)
    entries = [entry for _, entry in read_entries(paths.journal)]
    paths.journal.unlink()

    async def rewrite() -> None:
        journal = await Journal.open(paths.journal)
        for entry in entries:
            if isinstance(entry, Finished) and entry.expires_at is not None:
                entry = replace(entry, expires_at=spelling)
            assert not isinstance(entry, Undecodable)
            await journal.append(entry)
        await journal.close()

    asyncio.run(rewrite())
    capsys.readouterr()
    assert main(["plan", str(manifest), "--out", str(run_dir), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["submit"], plan["download"]) == (7, 0)
