"""A run directory records where its results came from (issue 24, item 1).

Every task is journalled with the API origin that made it; the report says
it (`origin`: the API origin, or `simulated`). A row settled by another
origin is not settled for this one: the README's `run --simulate` followed by
the real run pays for every row, and says why; `export` refuses simulated
results unless `--allow-simulated`.

The "real" origin here is the simulator behind a plain forwarding server
(tests/plain_origin.py) that does not say it is a simulator, as the real
service does not: batchedit has no switch to take the mark off.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from plain_origin import PlainOrigin
from support import TEST_KEY, ThreadedSimulator, read_report

from batchedit.cli import main
from batchedit.origins import SIMULATE_KEY
from batchedit.state.rundir import RunPaths

DEMO_JOB = Path(__file__).resolve().parents[1] / "jobs" / "catalog"
FAST = ["--no-progress", "--poll-interval", "0.01"]
SIMULATE = ["--simulate", "--sim-latency", "0.01-0.03"]


@pytest.fixture
def plain_origin(
    threaded_simulator: Callable[..., ThreadedSimulator], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[PlainOrigin, ThreadedSimulator]]:
    """A real-looking origin (MODELLIX_BASE_URL points at it) and the simulator behind it."""
    simulator = threaded_simulator()
    origin = PlainOrigin(simulator.base_url).start()
    monkeypatch.setenv("MODELLIX_BASE_URL", origin.base_url)
    monkeypatch.setenv("MODELLIX_API_KEY", TEST_KEY)
    yield origin, simulator
    origin.stop()


def demo_job(tmp_path: Path) -> Path:
    job_dir = tmp_path / "catalog"
    shutil.copytree(DEMO_JOB, job_dir)
    return job_dir / "job.yaml"


def journal_lines(run_dir: Path) -> list[dict[str, Any]]:
    text = RunPaths(run_dir).journal.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def paid(run_dir: Path) -> int:
    value = json.loads((run_dir / "summary.json").read_text())["paid_submissions"]
    assert isinstance(value, int)
    return value


def test_each_task_is_journalled_and_reported_with_its_origin(
    tmp_path: Path, plain_origin: tuple[PlainOrigin, ThreadedSimulator]
) -> None:
    origin, _ = plain_origin
    job = demo_job(tmp_path)
    simulated, real = tmp_path / "simulated", tmp_path / "real"
    assert main(["run", str(job), "--out", str(simulated), *SIMULATE, *FAST]) == 0
    assert main(["run", str(job), "--out", str(real), *FAST]) == 0

    assert {line["origin"] for line in read_report(simulated)} == {"simulated"}
    assert {line["origin"] for line in read_report(real)} == {origin.base_url}
    for run_dir, key, flag in ((simulated, SIMULATE_KEY, True), (real, origin.base_url, False)):
        tasks = [line for line in journal_lines(run_dir) if line["event"] != "withdrawn"]
        assert tasks, "the journal holds the run's tasks"
        assert {(line["origin"], line["simulated"]) for line in tasks} == {(key, flag)}


def test_a_simulator_behind_a_base_url_says_so_and_its_results_are_simulated(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> None:
    simulator = threaded_simulator()
    run_dir = tmp_path / "run"
    assert main(["run", str(demo_job(tmp_path)), "--out", str(run_dir), *FAST]) == 0
    assert {line["origin"] for line in read_report(run_dir)} == {"simulated"}
    submitted = [line for line in journal_lines(run_dir) if line["event"] == "submitted"]
    assert {(line["origin"], line["simulated"]) for line in submitted} == {
        (simulator.base_url, True)
    }


def strip_origins(run_dir: Path) -> None:
    """The journal as a release before origins were recorded wrote it."""
    lines = [
        {k: v for k, v in line.items() if k not in ("origin", "simulated")}
        for line in journal_lines(run_dir)
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    RunPaths(run_dir).journal.write_text(text, encoding="utf-8")


def test_results_journalled_without_an_origin_where_the_simulator_ran_count_as_simulated(
    tmp_path: Path,
) -> None:
    job, run_dir = demo_job(tmp_path), tmp_path / "run"
    argv = ["run", str(job), "--out", str(run_dir), *SIMULATE, *FAST]
    assert main(argv) == 0
    strip_origins(run_dir)
    assert main(argv) == 0
    assert paid(run_dir) == 0, "a simulated run's own results settle it"
    assert {line["origin"] for line in read_report(run_dir)} == {"simulated"}


def test_the_readme_simulate_then_real_run_pays_for_every_row_and_says_why(
    tmp_path: Path,
    plain_origin: tuple[PlainOrigin, ThreadedSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    origin, behind = plain_origin
    job, run_dir = demo_job(tmp_path), tmp_path / "runs" / "catalog"
    out = ["--out", str(run_dir)]
    assert main(["run", str(job), *out, *SIMULATE, *FAST]) == 0
    rows = len(read_report(run_dir))
    capsys.readouterr()

    assert main(["plan", str(job), *out]) == 0
    printed = capsys.readouterr().out
    assert f"to submit (paid) ({rows} of another origin)" in printed
    why = f"{rows} row(s) hold results from the simulator; a real run pays for them"
    assert why in printed
    assert main(["plan", str(job), *out, "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert (planned["paid_submissions"], planned["replace"], planned["settled"]) == (rows, rows, 0)
    assert planned["notes"] == [why]
    assert main(["plan", str(job), *out, "--simulate", "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)  # the simulator's own results settle it
    assert (planned["paid_submissions"], planned["settled"]) == (0, rows)
    # The cost guard counts them: capped below, nothing is sent.
    assert main(["run", str(job), *out, *FAST, "--max-tasks", str(rows - 1)]) == 2
    assert behind.stats()["submit_requests"] == 0
    capsys.readouterr()

    assert main(["run", str(job), *out, *FAST]) == 0
    assert behind.stats()["submits"] == rows, "the real run paid for every row"
    assert why in capsys.readouterr().err
    report = read_report(run_dir)
    assert {line["origin"] for line in report} == {origin.base_url}
    assert [line["attempts"] for line in report] == [2] * rows

    # A simulated run afterwards leaves the real results alone.
    assert main(["run", str(job), *out, *SIMULATE, *FAST]) == 0
    assert paid(run_dir) == 0
    assert f"{rows} row(s) hold results from a real API origin" in capsys.readouterr().err
    assert {line["origin"] for line in read_report(run_dir)} == {origin.base_url}
    assert main(["run", str(job), *out, *FAST]) == 0
    assert behind.stats()["submits"] == rows, "and the real ones still settle a real run"


def test_export_refuses_simulated_results_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job, run_dir = demo_job(tmp_path), tmp_path / "run"
    assert main(["run", str(job), "--out", str(run_dir), *SIMULATE, *FAST]) == 0
    rows = len(read_report(run_dir))
    shop = tmp_path / "shop"
    capsys.readouterr()

    assert main(["export", str(run_dir), "--to", str(shop)]) == 2
    message = capsys.readouterr().err
    assert f"{rows} row(s) of {run_dir} hold results from the simulator" in message
    assert "--allow-simulated" in message
    assert not shop.exists(), "nothing was written"

    assert main(["export", str(run_dir), "--to", str(shop), "--allow-simulated"]) == 0
    files = sum(1 for line in read_report(run_dir) if line["outputs"])  # the chosen of each
    assert len((shop / "feed.csv").read_text().splitlines()) == files + 1


def test_the_review_page_marks_simulated_results(tmp_path: Path) -> None:
    job, run_dir = demo_job(tmp_path), tmp_path / "run"
    assert main(["run", str(job), "--out", str(run_dir), *SIMULATE, *FAST]) == 0
    assert main(["report", str(run_dir)]) == 0
    page = (run_dir / "review.html").read_text(encoding="utf-8")
    assert page.count('<span class="badge simulated"') == len(read_report(run_dir))


def test_results_journalled_without_an_origin_settle_a_real_run_where_no_simulator_ran(
    tmp_path: Path, plain_origin: tuple[PlainOrigin, ThreadedSimulator]
) -> None:
    _, behind = plain_origin
    job, run_dir = demo_job(tmp_path), tmp_path / "run"
    argv = ["run", str(job), "--out", str(run_dir), *FAST]
    assert main(argv) == 0
    paid_once = behind.stats()["submits"]
    strip_origins(run_dir)
    assert main(argv) == 0
    assert behind.stats()["submits"] == paid_once, "never silently paid again"
    assert {line["origin"] for line in read_report(run_dir)} == {None}
    # Export takes them as real; a --simulate run leaves them alone.
    assert main(["export", str(run_dir), "--to", str(tmp_path / "shop")]) == 0
    assert main([*argv, *SIMULATE]) == 0
    assert paid(run_dir) == 0


def test_results_journalled_without_an_origin_where_the_simulator_ran_are_paid_for_by_a_real_run(
    tmp_path: Path, plain_origin: tuple[PlainOrigin, ThreadedSimulator]
) -> None:
    _, behind = plain_origin
    job, run_dir = demo_job(tmp_path), tmp_path / "run"
    assert main(["run", str(job), "--out", str(run_dir), *SIMULATE, *FAST]) == 0
    rows = len(read_report(run_dir))
    strip_origins(run_dir)
    assert main(["export", str(run_dir), "--to", str(tmp_path / "shop")]) == 2
    assert main(["run", str(job), "--out", str(run_dir), *FAST]) == 0
    assert behind.stats()["submits"] == rows
