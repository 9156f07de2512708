"""The journal owns its format and its integrity (issue 12): a write that
fails fails every caller whose line it carried and stops the run (exit 4)
before another paid request; a line this version cannot read never makes a
row look unsubmitted; a fetch that finds the results expired pays nothing and
leaves a paid resubmit that the plan and the cost guard count."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import types
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support import SteppedClock, ThreadedSimulator, read_report, run_cli, write_csv, write_image

import batchedit.state.journal as journal_module
from batchedit.errors import ApiError, FatalApiError, JournalWriteFailed
from batchedit.manifest.job import load_job
from batchedit.origins import origin_of
from batchedit.pipeline.plan.planning import survey
from batchedit.records import Status
from batchedit.state.fingerprint import FileDigests
from batchedit.state.journal import (
    Finished,
    Journal,
    JournalEntry,
    Submitted,
    Submitting,
    Undecodable,
    read_entries,
)
from batchedit.state.rundir import RunPaths

Simulators = Callable[..., ThreadedSimulator]


def catalog(folder: Path, rows: int) -> Path:
    write_image(folder / "photos" / "mug.png", colour="red")
    records = [
        {"id": f"sku-{n}", "prompt": f"Put product {n} on white", "image": "photos/mug.png"}
        for n in range(rows)
    ]
    return write_csv(folder / "catalog.csv", records)


class FailingFsync:
    """os.fsync for the journal module that fails (disk full) from call `after`
    on, remembering how far the journal was durable when it first failed."""

    def __init__(self, after: int, on_failure: Callable[[], None] = lambda: None) -> None:
        self.calls = 0
        self.after = after
        self.on_failure = on_failure
        self.durable_bytes: int | None = None
        self._size_at_last_sync = 0

    def __call__(self, fd: int) -> None:
        self.calls += 1
        if self.calls >= self.after:
            if self.durable_bytes is None:
                self.durable_bytes = self._size_at_last_sync
                self.on_failure()
            raise OSError(errno.ENOSPC, "No space left on device")
        os.fsync(fd)
        self._size_at_last_sync = os.fstat(fd).st_size


def patch_journal_fsync(monkeypatch: pytest.MonkeyPatch, fsync: FailingFsync) -> None:
    """Only the journal's fsync fails: the report and summary can still be written."""
    fake_os = types.SimpleNamespace(**{name: getattr(os, name) for name in dir(os)})
    fake_os.fsync = fsync
    monkeypatch.setattr(journal_module, "os", fake_os)


async def test_a_failed_batch_write_fails_every_caller_in_it_and_every_later_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    patch_journal_fsync(monkeypatch, FailingFsync(after=2))
    journal = await Journal.open(tmp_path / "journal.jsonl")
    entries = [Submitted(n, f"row-{n}", f"task-{n}", "fp", "t") for n in range(3)]
    # The first append writes alone; the next two wait for it and share one batch.
    outcomes = await asyncio.gather(
        *(journal.append(entry) for entry in entries), return_exceptions=True
    )
    assert outcomes[0] is None
    assert all(isinstance(outcome, JournalWriteFailed) for outcome in outcomes[1:])
    with pytest.raises(JournalWriteFailed):
        await journal.append(Submitted(9, "row-9", "task-9", "fp", "t"))
    await journal.close()


def test_a_run_whose_journal_fails_stops_with_exit_4_and_pays_nothing_after(
    tmp_path: Path, threaded_simulator: Simulators, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = catalog(tmp_path, rows=40), tmp_path / "run"
    paths = RunPaths(run_dir)
    seen_at_failure: dict[str, Any] = {}
    fsync = FailingFsync(after=12, on_failure=lambda: seen_at_failure.update(simulator.stats()))
    patch_journal_fsync(monkeypatch, fsync)

    assert run_cli(manifest, run_dir, "--concurrency", "4") == 4

    durable = paths.journal.read_bytes()[: fsync.durable_bytes]
    durable_intents = sum(b'"event":"submitting"' in line for line in durable.splitlines())
    stats = simulator.stats()
    # Every paid request that left had its intent durable before the failure.
    assert stats["submit_requests"] <= durable_intents
    assert stats["submit_requests"] <= seen_at_failure["submit_requests"] + 4
    summary = json.loads(paths.summary.read_text())
    assert summary["stopped_by"] == "local_failure"
    assert len(read_report(run_dir)) == 40

    monkeypatch.setattr(journal_module, "os", os)  # the disk has room again
    assert run_cli(manifest, run_dir) in (0, 1)
    report = read_report(run_dir)
    unknown = sum(line["status"] == "unknown" for line in report)
    assert simulator.stats()["submits"] <= 40 + unknown
    assert all(line["status"] in ("succeeded", "unknown") for line in report)


def rewrite_journal(paths: RunPaths, change: Callable[[list[Any]], list[Any]]) -> None:
    """The journal written again, entry by entry through the journal itself."""
    entries = [entry for _, entry in read_entries(paths.journal)]
    paths.journal.unlink()

    async def write() -> None:
        journal = await Journal.open(paths.journal)
        for entry in change(entries):
            if not isinstance(entry, Undecodable):
                await journal.append(entry)
        await journal.close()

    asyncio.run(write())


def append_line_from_a_newer_version(paths: RunPaths, row_id: str) -> None:
    newer = {"v": 2, "event": "finished", "id": row_id, "outcome": {"kind": "new"}}
    with open(paths.journal, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(newer) + "\n")


def test_an_unreadable_line_after_a_submitted_one_polls_that_task_and_pays_nothing(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = catalog(tmp_path, rows=4), tmp_path / "run"
    paths = RunPaths(run_dir)
    assert run_cli(manifest, run_dir) == 0
    task_id = read_report(run_dir)[1]["task_id"]
    # As if sku-1's outcome was written by a newer batchedit: its last readable
    # line is the submit, then a line this version cannot read.
    rewrite_journal(
        paths,
        lambda entries: [e for e in entries if not (isinstance(e, Finished) and e.id == "sku-1")],
    )
    append_line_from_a_newer_version(paths, "sku-1")
    before = simulator.stats()

    assert run_cli(manifest, run_dir) == 0

    after = simulator.stats()
    assert after["submits"] == before["submits"]
    assert after["polls"] > before["polls"]
    row = read_report(run_dir)[1]
    assert (row["status"], row["task_id"], row["attempts"]) == ("succeeded", task_id, 1)


def test_a_row_known_only_by_an_unreadable_line_is_held_unknown_not_paid_again(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = catalog(tmp_path, rows=3), tmp_path / "run"
    paths = RunPaths(run_dir)
    assert run_cli(manifest, run_dir) == 0
    rewrite_journal(paths, lambda entries: [e for e in entries if e.id != "sku-2"])
    append_line_from_a_newer_version(paths, "sku-2")
    before = simulator.stats()

    assert run_cli(manifest, run_dir) == 1

    assert simulator.stats()["submit_requests"] == before["submit_requests"]
    row = read_report(run_dir)[2]
    assert (row["status"], row["error"]["category"]) == ("unknown", "unknown_outcome")


def test_results_found_expired_on_a_fetch_pay_nothing_and_the_plan_counts_the_resubmit(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    expire_after_s = 60.0  # far beyond the first run's downloads, however loaded the machine
    clock = SteppedClock()
    simulator = threaded_simulator(expire_after_s=expire_after_s, clock=clock.now)
    manifest, run_dir = catalog(tmp_path, rows=3), tmp_path / "run"
    paths = RunPaths(run_dir)
    assert run_cli(manifest, run_dir) == 0
    # Counted from the end of the first run: every task finished before this
    # step, so each one's results are now past their expiry at the simulator.
    clock.advance(expire_after_s + 1)
    # The journal believes the results still valid (a service whose expiry
    # stamp was wrong): the run tries a free download first.
    rewrite_journal(
        paths,
        lambda entries: [
            replace(e, expires_at="2999-01-01T00:00:00+00:00") if isinstance(e, Finished) else e
            for e in entries
        ],
    )
    (run_dir / read_report(run_dir)[0]["outputs"][0]["path"]).unlink()
    before = simulator.stats()

    assert run_cli(manifest, run_dir) == 0

    assert simulator.stats()["submit_requests"] == before["submit_requests"]
    origin = origin_of(simulator.base_url)
    planned = survey(load_job(manifest), paths, FileDigests(), origin=origin)
    assert (planned.paid_submissions, planned.resubmits) == (1, 1)
    # The cost guard sees it: a run capped at 0 paid submissions refuses.
    assert run_cli(manifest, run_dir, "--max-tasks", "0") == 2
    assert run_cli(manifest, run_dir) == 0
    assert simulator.stats()["submits"] == before["submits"] + 1
    assert read_report(run_dir)[0]["attempts"] == 2


def test_a_fatal_api_condition_is_not_a_kind_of_row_error() -> None:
    assert not issubclass(FatalApiError, ApiError)
    assert not issubclass(JournalWriteFailed, ApiError | FatalApiError)


def test_entries_round_trip_through_their_one_codec(tmp_path: Path) -> None:
    entries: list[JournalEntry] = [
        Submitting(1, "a", "fp", "t0"),
        Submitted(1, "a", "task-1", "fp", "t1"),
        Finished(1, "a", "fp", Status.SUCCEEDED, "task-1", result_urls=("https://x/1.png",)),
    ]

    async def write() -> None:
        journal = await Journal.open(tmp_path / "j.jsonl")
        for entry in entries:
            await journal.append(entry)
        await journal.close()

    asyncio.run(write())
    assert [entry for _, entry in read_entries(tmp_path / "j.jsonl")] == entries
