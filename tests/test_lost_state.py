"""State that is lost is never guessed (issue 24): a run directory whose
report.jsonl or outputs show earlier results but whose journal is missing,
empty or unreadable is refused by `run` and `retry` (exit 2, nothing sent, no
file changed); `run --rebuild-state` rebuilds the journal from report.jsonl,
settles every row whose outputs verify without paying, polls known tasks, and
says what it could not recover, which is then planned, and paid, openly."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import TEST_KEY, StartSimulator, ThreadedSimulator, read_report, write_csv, write_image

import batchedit
from batchedit.cli import main
from batchedit.origins import Origin, origin_of
from batchedit.pipeline.plan.lost_state import StateLost, lost_state
from batchedit.records import Status
from batchedit.state.journal import read_entries
from batchedit.state.rundir import RunPaths

Simulators = Callable[..., ThreadedSimulator]
FAST = ["--poll-interval", "0.01", "--no-progress", "--concurrency", "16", "--yes"]
ROWS = 30
COUNTERS = ("submits", "submit_requests", "polls", "downloads", "uploads")


def catalog(folder: Path, rows: int = ROWS) -> Path:
    for colour in ("red", "navy", "gold"):
        write_image(folder / f"{colour}.png", colour=colour)
    colours = ("red", "navy", "gold")
    records = [
        {"id": f"sku-{n:02d}", "prompt": f"edit {n}", "image": f"{colours[n % 3]}.png"}
        for n in range(rows)
    ]
    return write_csv(folder / "catalog.csv", records)


def run(manifest: Path, run_dir: Path, *extra: str) -> int:
    return main(["run", str(manifest), "--out", str(run_dir), *FAST, *extra])


def counters(simulator: ThreadedSimulator) -> dict[str, int]:
    stats = simulator.stats()
    return {name: stats[name] for name in COUNTERS}


def tree(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under `root`: (size, mtime_ns, sha256), to prove none changed."""
    return {
        str(path.relative_to(root)): (
            path.stat().st_size,
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def outputs_of(run_dir: Path) -> dict[str, tuple[int, int, str]]:
    return {name: facts for name, facts in tree(run_dir).items() if name.startswith("outputs/")}


def finished_run(tmp_path: Path, simulator: ThreadedSimulator) -> tuple[Path, Path]:
    manifest, run_dir = catalog(tmp_path), tmp_path / "run"
    assert run(manifest, run_dir) == 0
    assert simulator.stats()["submits"] == ROWS
    return manifest, run_dir


def test_a_removed_state_folder_is_refused_then_rebuilt_paying_nothing(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = finished_run(tmp_path, simulator)
    first = read_report(run_dir)
    assert all(line["resume"]["fingerprint"] for line in first), "the report keeps the key"
    assert all(line["resume"]["results"] and line["resume"]["layout"] for line in first)
    shutil.rmtree(RunPaths(run_dir).state_dir)
    before, files = counters(simulator), tree(run_dir)
    capsys.readouterr()

    assert run(manifest, run_dir) == 2
    assert main(["retry", str(run_dir), "--status", "failed,unknown", "--no-progress"]) == 2
    assert main(["plan", str(manifest), "--out", str(run_dir)]) == 2, "the plan says so too"

    err = capsys.readouterr().err
    assert "journal" in err and "is missing" in err and "will not guess" in err
    assert f"--out {run_dir} --rebuild-state" in err, "the way out, as a command"
    assert "state folder" in err and "then retry again" in err, "retry says it too"
    assert err.count(f"--out {run_dir} --rebuild-state") == 3, "run, retry and plan"
    assert counters(simulator) == before, "nothing sent"
    assert tree(run_dir) == files and not RunPaths(run_dir).state_dir.exists(), "nothing changed"

    assert run(manifest, run_dir, "--rebuild-state") == 0

    err = capsys.readouterr().err
    assert f"{ROWS} succeeded row(s) restored, every output verified by sha256" in err
    assert f"{ROWS} settled" in err and "0 to submit" in err, "and the plan pays nothing"
    assert "not recovered" not in err
    assert counters(simulator) == before, "a rebuild pays for nothing, polls nothing"
    again = read_report(run_dir)
    assert {line["status"] for line in again} == {"succeeded"}
    assert [line["attempts"] for line in again] == [1] * ROWS, "attempts kept"
    assert again == first, "the same report, outcomes, origins and keys"
    rebuilt = [entry for _, entry in read_entries(RunPaths(run_dir).journal)]
    made_by = Origin(origin_of(simulator.base_url).key, simulated=True)
    assert {getattr(entry, "origin", None) for entry in rebuilt} == {made_by}, "origin kept"
    assert outputs_of(run_dir) == {k: v for k, v in files.items() if k.startswith("outputs/")}
    # The rebuilt journal is an ordinary one: the next run plans from it alone.
    assert run(manifest, run_dir) == 0
    assert counters(simulator) == before
    assert main(["retry", str(run_dir), "--no-progress"]) == 0


@pytest.mark.parametrize("damage", ["emptied", "unreadable"])
def test_an_emptied_or_unreadable_journal_is_refused_then_rebuilt(
    tmp_path: Path,
    threaded_simulator: Simulators,
    capsys: pytest.CaptureFixture[str],
    damage: str,
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = finished_run(tmp_path, simulator)
    journal = RunPaths(run_dir).journal
    journal.write_bytes(b"" if damage == "emptied" else b"\x00" * 4096 + b"\n" + b"\xff" * 99)
    before, files = counters(simulator), tree(run_dir)
    capsys.readouterr()

    assert run(manifest, run_dir) == 2
    assert f"is {'empty' if damage == 'emptied' else 'unreadable'};" in capsys.readouterr().err
    assert tree(run_dir) == files and counters(simulator) == before

    assert run(manifest, run_dir, "--rebuild-state") == 0
    err = capsys.readouterr().err
    assert f"{ROWS} succeeded row(s) restored" in err
    assert counters(simulator) == before
    assert {line["status"] for line in read_report(run_dir)} == {"succeeded"}
    kept = list(journal.parent.glob("journal.unreadable-*.jsonl"))
    if damage == "unreadable":  # set aside for inspection, never deleted
        assert len(kept) == 1 and kept[0].read_bytes().startswith(b"\x00" * 4096)
        assert f"the unreadable journal was kept as {kept[0]}" in err
    else:
        assert kept == []


def test_a_journal_with_only_a_torn_last_line_is_not_lost(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = finished_run(tmp_path, simulator)
    with open(RunPaths(run_dir).journal, "ab") as journal:
        journal.write(b'{"v":1,"event":"submitt')  # a crash in the middle of a write
    before = counters(simulator)
    assert run(manifest, run_dir) == 0
    assert "will not guess" not in capsys.readouterr().err
    assert counters(simulator) == before


def test_a_readable_journal_is_never_rebuilt_even_when_asked(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = finished_run(tmp_path, simulator)
    journal = RunPaths(run_dir).journal.read_bytes()
    assert run(manifest, run_dir, "--rebuild-state") == 0
    assert "is readable; nothing rebuilt" in capsys.readouterr().err
    assert RunPaths(run_dir).journal.read_bytes() == journal


def test_a_rebuild_fetches_a_deleted_output_again_and_says_so(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = finished_run(tmp_path, simulator)
    shutil.rmtree(RunPaths(run_dir).state_dir)
    gone = read_report(run_dir)[3]
    (run_dir / gone["outputs"][0]["path"]).unlink()
    before, kept = counters(simulator), outputs_of(run_dir)
    capsys.readouterr()

    assert run(manifest, run_dir, "--rebuild-state") == 0

    err = capsys.readouterr().err
    assert f"{ROWS - 1} succeeded row(s) restored" in err
    assert f"not recovered: 1 row(s) ({gone['id']}: {gone['outputs'][0]['path']} is missing)" in err
    assert "1 to download again" in err and "0 to submit" in err, "the plan counts it"
    delta = {name: counters(simulator)[name] - before[name] for name in COUNTERS}
    assert delta == {"submits": 0, "submit_requests": 0, "polls": 0, "downloads": 1, "uploads": 0}
    restored = read_report(run_dir)[3]
    assert restored["status"] == "succeeded" and restored["attempts"] == 1
    assert (run_dir / gone["outputs"][0]["path"]).is_file()
    assert {k: v for k, v in outputs_of(run_dir).items() if k in kept} == kept, "others untouched"


def test_a_rebuild_pays_openly_for_an_output_whose_results_expired(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = finished_run(tmp_path, simulator)
    shutil.rmtree(RunPaths(run_dir).state_dir)
    lines = read_report(run_dir)
    lines[5]["resume"]["expires_at"] = "2001-01-01T00:00:00.000Z"  # long gone
    changed = lines[5]["outputs"][0]["path"]
    (run_dir / changed).write_bytes(b"edited by hand")
    paths = RunPaths(run_dir)
    paths.report.write_text("".join(json.dumps(line) + "\n" for line in lines))
    before = counters(simulator)
    capsys.readouterr()

    # The cost guard sees the resubmit: capped at 0 paid submissions, the run refuses.
    assert run(manifest, run_dir, "--rebuild-state", "--max-tasks", "0") == 2
    err = capsys.readouterr().err
    assert f"not recovered: 1 row(s) ({lines[5]['id']}: {changed} has changed" in err
    assert "1 to submit" in err and "would make 1 paid submissions" in err
    assert counters(simulator) == before
    # The journal is rebuilt now; the paid run goes ahead when allowed.
    assert run(manifest, run_dir, "--max-tasks", "1") == 0
    assert counters(simulator)["submits"] == before["submits"] + 1
    again = read_report(run_dir)[5]
    assert again["status"] == "succeeded" and again["attempts"] == 2, "paid openly, counted"


def test_report_lines_without_a_resume_key_or_outside_outputs_are_not_recovered(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = finished_run(tmp_path, simulator)
    shutil.rmtree(RunPaths(run_dir).state_dir)
    outside = tmp_path / "elsewhere.png"
    lines = read_report(run_dir)
    shutil.copy(run_dir / lines[1]["outputs"][0]["path"], outside)
    lines[0]["resume"] = None  # as an earlier batchedit wrote it
    lines[1]["outputs"][0]["path"] = "outputs/../../elsewhere.png"  # same bytes, wrong place
    RunPaths(run_dir).report.write_text("".join(json.dumps(line) + "\n" for line in lines))
    before = counters(simulator)
    capsys.readouterr()

    assert run(manifest, run_dir, "--rebuild-state", "--max-tasks", "2") == 0

    err = capsys.readouterr().err
    assert "not recovered: 2 row(s)" in err
    assert f"{lines[0]['id']}: its report line has no `resume`" in err
    assert f"{lines[1]['id']}: outputs/../../elsewhere.png is not under outputs/" in err
    delta = {name: counters(simulator)[name] - before[name] for name in COUNTERS}
    assert delta["submits"] == 1 and delta["downloads"] == 2, "one paid anew, one fetched"
    assert outside.is_file(), "a path outside the run directory is never touched"
    assert read_report(run_dir)[0]["attempts"] == 2, "its earlier paid submit still counts"
    assert {line["status"] for line in read_report(run_dir)} == {"succeeded"}


async def test_a_rebuild_polls_tasks_left_running_and_pays_for_none(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    offset_s = [0.0]
    simulator = await start_simulator(
        latency_s=(30.0, 30.0), clock=lambda: time.monotonic() + offset_s[0]
    )
    manifest, out = catalog(tmp_path, rows=4), tmp_path / "run"
    settings: dict[str, Any] = {
        "out": out,
        "base_url": simulator.base_url,
        "api_key": TEST_KEY,
        "poll_interval_s": 0.01,
        "concurrency": 4,
    }
    task = asyncio.create_task(batchedit.arun(manifest, **settings))
    while simulator.stats()["submits"] < 4:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    running = [record for record in batchedit.load_report(out) if record.task_id]
    assert len(running) == simulator.stats()["submits"] >= 4
    shutil.rmtree(RunPaths(out).state_dir)
    before = simulator.stats()

    with pytest.raises(StateLost, match="--rebuild-state"):
        await batchedit.arun(manifest, **settings)
    assert simulator.stats() == before

    offset_s[0] = 60.0  # the tasks left running have finished at the service meanwhile
    summary = await batchedit.arun(manifest, rebuild_state=True, **settings)

    after = simulator.stats()
    assert after["submits"] == before["submits"] and after["polls"] > before["polls"]
    records = {record.id: record for record in batchedit.load_report(out)}
    assert all(records[r.id].task_id == r.task_id for r in running), "polled, not resubmitted"
    assert {record.status for record in records.values()} == {Status.SUCCEEDED}
    assert all(record.attempts == 1 for record in records.values())
    assert summary.stats.paid_submissions == 0
    entries = [entry for _, entry in read_entries(RunPaths(out).journal)]
    assert [type(entry).__name__ for entry in entries[:4]] == ["Submitted"] * 4, "rebuilt"
    assert all(getattr(entry, "restored_attempts", None) == 1 for entry in entries[:4])


def test_a_rebuild_keeps_the_simulators_results_apart_from_a_real_origins(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rebuilt from the report, `run --simulate` results still settle only for
    `run --simulate`: another origin pays for them, counted by the cost guard."""
    manifest, run_dir = catalog(tmp_path, rows=4), tmp_path / "run"
    assert run(manifest, run_dir, "--simulate") == 0
    shutil.rmtree(RunPaths(run_dir).state_dir)
    simulator = threaded_simulator()  # another origin than run --simulate's
    capsys.readouterr()

    assert run(manifest, run_dir, "--rebuild-state", "--max-tasks", "0") == 2

    err = capsys.readouterr().err
    assert "4 succeeded row(s) restored" in err and "4 to submit" in err
    assert "hold results from the simulator" in err
    assert simulator.stats()["submit_requests"] == 0
    assert run(manifest, run_dir, "--simulate") == 0, "the rebuilt journal stands"
    assert "4 settled" in capsys.readouterr().err


def test_a_rebuild_for_another_source_is_refused_unless_new_source(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    """The source binding went with the state folder: the rebuild checks the
    source summary.json names, so another manifest cannot take the report over."""
    simulator = threaded_simulator()
    manifest, run_dir = finished_run(tmp_path, simulator)
    shutil.rmtree(RunPaths(run_dir).state_dir)
    other = write_csv(tmp_path / "other.csv", [{"id": "x", "prompt": "p", "image": "red.png"}])
    before, files = counters(simulator), tree(run_dir)
    capsys.readouterr()

    assert run(other, run_dir, "--rebuild-state") == 2

    err = capsys.readouterr().err
    assert f"its report was made by {manifest.resolve()}" in err and "--new-source" in err
    assert f"batchedit run {manifest.resolve()} --out {run_dir} --rebuild-state" in err
    assert tree(run_dir) == files and counters(simulator) == before, "nothing changed"
    assert run(other, run_dir, "--rebuild-state", "--new-source") == 0
    assert counters(simulator)["submits"] == before["submits"] + 1
    assert [line["id"] for line in read_report(run_dir)] == ["x"]


def test_files_in_outputs_count_as_lost_state_only_where_a_run_was(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path / "run")
    write_image(paths.outputs / "placed-by-hand.png")
    assert lost_state(paths) is None, "a folder filled before the first run"
    paths.summary.write_text("{}")
    lost = lost_state(paths)
    assert lost is not None and lost.condition.value == "missing"
    assert lost.evidence == "outputs/ holds the results of earlier runs"
    paths.state_dir.mkdir()
    paths.journal.write_bytes(b'{"v":1,"event":"submitt')  # a torn only line: no object
    assert lost_state(paths) is not None
    paths.journal.write_bytes(b'{"v":9,"event":"from the future","id":"a"}\n')
    assert lost_state(paths) is None, "a newer batchedit's journal is not lost"
