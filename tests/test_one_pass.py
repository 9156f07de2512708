"""One pass over the manifest and the journal (issue 20): the survey drafts the
report and keeps its journal index, the producer plans again only the rows
with work and stops reading after the last one, and the report is finished
from the draft; what comes out is what a full join of the manifest with the
journal says."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import (
    FAST_CLI,
    ThreadedSimulator,
    join_report,
    read_report,
    run_cli,
    two_image_manifest,
    write_csv,
    write_image,
)

import batchedit.pipeline.plan.local_images as local_images
import batchedit.pipeline.plan.planning as planning
import batchedit.pipeline.plan.resume as resume
import batchedit.pipeline.produce.producer as producer
import batchedit.state.fingerprint as fingerprint
import batchedit.state.history as history
from batchedit.cli import main
from batchedit.manifest.job import iter_rows, load_job
from batchedit.records import ReportRecord, Status
from batchedit.report.counts import ReportCounts
from batchedit.report.report_file import read_report as read_report_records
from batchedit.state.entries import Finished, Submitted, Submitting, Withdrawn
from batchedit.state.fingerprint import FileDigests
from batchedit.state.history import JournalIndex
from batchedit.state.journal import Journal, read_entries
from batchedit.state.rundir import RunPaths

Simulators = Callable[..., ThreadedSimulator]


def catalog(folder: Path, rows: int = 8) -> Path:
    write_image(folder / "photos" / "mug.png", colour="red")
    records = [
        {
            "id": f"sku-{n}",
            "title": f"Product {n}",
            "prompt": "Put the {title} on white",
            "image": "photos/mug.png",
            "aspect_ratio": "1:1" if n != 5 else "7:3",  # row 5 is invalid
        }
        for n in range(rows)
    ]
    return write_csv(folder / "catalog.csv", records)


class Reads:
    """Counts what each pass reads: rows streamed per module, journal lines read."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows: Counter[str] = Counter()
        self.opened: Counter[str] = Counter()
        self.journal_lines = 0
        for module in (planning, producer, local_images):
            monkeypatch.setattr(module, "iter_rows", self._rows(module.__name__))
        real_entries = read_entries

        def entries(path: Path, start: int = 0) -> Iterator[Any]:
            for item in real_entries(path, start):
                self.journal_lines += 1
                yield item

        monkeypatch.setattr(history, "read_entries", entries)

    def _rows(self, name: str) -> Callable[..., Iterator[Any]]:
        def rows(job: Any, *, decode: bool = True, notes: bool = True) -> Iterator[Any]:
            if not decode:  # preflight's pass for local image paths, before the survey's
                name_here = f"{name} (local image paths)"
            else:
                name_here = name
            self.opened[name_here] += 1
            for row in iter_rows(job, decode=decode, notes=notes):
                self.rows[name_here] += 1
                yield row

        return rows


def full_join(manifest: Path, run_dir: Path, tmp_path: Path) -> tuple[str, ReportCounts]:
    """The report as a fresh join of the manifest with the whole journal makes it."""
    paths = RunPaths(run_dir)
    elsewhere = RunPaths(tmp_path / "joined")
    with JournalIndex.build(paths.journal) as index:
        counts = join_report(elsewhere, iter_rows(load_job(manifest)), index, FileDigests())
    return elsewhere.report.read_text(encoding="utf-8"), counts


def test_a_noop_rerun_reads_the_manifest_once_and_each_journal_line_once(
    tmp_path: Path, threaded_simulator: Simulators, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = catalog(tmp_path), tmp_path / "run"
    assert run_cli(manifest, run_dir) == 1  # row 5 is invalid
    first = read_report(run_dir)
    journal_lines = sum(1 for _ in read_entries(RunPaths(run_dir).journal))
    before = simulator.stats()
    reads = Reads(monkeypatch)

    assert run_cli(manifest, run_dir) == 1

    assert simulator.stats()["polls"] == before["polls"]
    assert simulator.stats()["submit_requests"] == before["submit_requests"]
    assert reads.rows[planning.__name__] == 8, "the survey planned every row once"
    assert reads.opened[planning.__name__] == 1
    assert reads.opened[producer.__name__] == 0
    assert reads.journal_lines == journal_lines, "every journal line read once"
    assert read_report(run_dir) == first
    assert not RunPaths(run_dir).report_draft.exists(), "the draft became the report"
    text, counts = full_join(manifest, run_dir, tmp_path)
    assert RunPaths(run_dir).report.read_text(encoding="utf-8") == text
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["statuses"] == counts.to_json()["statuses"]


def test_a_first_run_plans_fingerprints_and_hashes_each_row_once(
    tmp_path: Path, threaded_simulator: Simulators, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 28.2: the producer carries out the survey's decisions, with the
    run's one hash cache: every local image read once, every row planned once."""
    simulator = threaded_simulator()
    manifest, run_dir = two_image_manifest(tmp_path, 6), tmp_path / "run"
    reads = Reads(monkeypatch)
    hashed: Counter[str] = Counter()
    real_hash = fingerprint.sha256_file

    def hashing(path: Path) -> str:
        hashed[path.name] += 1
        return real_hash(path)

    monkeypatch.setattr(fingerprint, "sha256_file", hashing)
    planned: list[str] = []
    real_plan = resume.plan_row

    def planning_row(row: Any, *args: Any, **kwargs: Any) -> Any:
        planned.append(row.id)
        return real_plan(row, *args, **kwargs)

    monkeypatch.setattr(f"{planning.__name__}.plan_row", planning_row)
    fingerprinted = 0
    real_fingerprint = fingerprint.request_fingerprint

    def fingerprinting(request: Any, digests: FileDigests) -> str:
        nonlocal fingerprinted
        fingerprinted += 1
        return real_fingerprint(request, digests)

    monkeypatch.setattr(f"{planning.__name__}.request_fingerprint", fingerprinting)

    assert run_cli(manifest, run_dir) == 0

    assert simulator.stats()["submit_requests"] == 6
    assert hashed == {"a.png": 1, "b.png": 1}, "each local image read once a run"
    assert sorted(planned) == [f"row-{n:02d}" for n in range(6)], "each row planned once"
    assert fingerprinted == 6
    # The paths pass of preflight, the survey, and the producer up to the last row with work.
    assert reads.opened == {
        f"{local_images.__name__} (local image paths)": 1,
        planning.__name__: 1,
        producer.__name__: 1,
    }
    assert {line["status"] for line in read_report(run_dir)} == {"succeeded"}


def test_a_rerun_with_work_reads_up_to_the_last_row_with_work_and_joins_the_same(
    tmp_path: Path, threaded_simulator: Simulators, monkeypatch: pytest.MonkeyPatch
) -> None:
    threaded_simulator()
    manifest, run_dir = catalog(tmp_path), tmp_path / "run"
    assert run_cli(manifest, run_dir) == 1
    first = {line["id"]: line for line in read_report(run_dir)}
    (run_dir / first["sku-1"]["outputs"][0]["path"]).unlink()  # fetched again
    text = manifest.read_text(encoding="utf-8").replace("Product 3", "Product three")
    manifest.write_text(text, encoding="utf-8")  # sku-3's request changed: paid again
    reads = Reads(monkeypatch)

    assert run_cli(manifest, run_dir) == 1

    # The producer stops after sku-3, the last row with work.
    assert reads.rows[planning.__name__] == 8 and reads.rows[producer.__name__] == 4
    second = {line["id"]: line for line in read_report(run_dir)}
    assert second["sku-3"]["attempts"] == 2 and second["sku-3"]["status"] == "succeeded"
    assert second["sku-1"]["attempts"] == 1 and second["sku-1"]["status"] == "succeeded"
    assert second["sku-5"]["status"] == "invalid"
    text, counts = full_join(manifest, run_dir, tmp_path)
    assert RunPaths(run_dir).report.read_text(encoding="utf-8") == text
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["statuses"] == counts.to_json()["statuses"]
    assert summary["error_categories"] == counts.to_json()["error_categories"]
    assert summary["error_examples"] == counts.to_json()["error_examples"]


async def test_catching_up_the_index_equals_building_it_afresh(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = await Journal.open(path)
    await journal.append(Submitting(1, "a", "fp-a", "t"))
    await journal.append(Submitted(1, "a", "task-a", "fp-a", "t"))
    await journal.append(Submitting(2, "b", "fp-b", "t"))  # no answer yet
    await journal.close()
    with open(path, "ab") as handle:
        handle.write(b'{"v":1,"event":"subm')  # a torn tail, as a crash leaves it
    index = JournalIndex.build(path)

    journal = await Journal.open(path)  # starts a fresh line after the torn one
    await journal.append(Submitting(2, "b", "fp-b", "t"))  # the first intent got nothing
    await journal.append(Withdrawn(2, "b"))
    await journal.append(Submitting(3, "c", "fp-c", "t"))
    await journal.append(
        Finished(1, "a", "fp-a", Status.SUCCEEDED, "task-a", None, (), "t", "t", 1.0)
    )
    await journal.close()
    index.catch_up()

    with JournalIndex.build(path) as fresh:
        for row_id in ("a", "b", "c", "d"):
            assert index.attempts(row_id) == fresh.attempts(row_id), row_id
            assert index.get(row_id) == fresh.get(row_id), row_id
        assert len(index) == len(fresh) == 3
    assert index.attempts("b") == 1 and index.attempts("c") == 1
    index.close()


def test_a_report_read_back_matches_the_records_it_was_drafted_from(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    """The draft's final lines are copied verbatim: read back, they are records."""
    threaded_simulator()
    manifest, run_dir = catalog(tmp_path, rows=4), tmp_path / "run"
    assert run_cli(manifest, run_dir) == 0
    assert run_cli(manifest, run_dir) == 0
    records = list(read_report_records(RunPaths(run_dir).report))
    assert [record.id for record in records] == [f"sku-{n}" for n in range(4)]
    assert all(isinstance(record, ReportRecord) for record in records)
    assert {record.status for record in records} == {Status.SUCCEEDED}


def test_invalid_rows_after_the_last_row_with_work_still_have_their_event(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    """Their events come from the draft: the same fields a streamed invalid row gives."""
    threaded_simulator()
    manifest, run_dir = catalog(tmp_path), tmp_path / "run"
    argv = ["run", str(manifest), "--out", str(run_dir), *FAST_CLI, "--log-format", "json"]
    assert main(argv) == 1
    streamed = _invalid_events(capsys.readouterr().err)
    assert main(argv) == 1  # nothing to do: the manifest is read by the survey only

    drafted = _invalid_events(capsys.readouterr().err)
    assert drafted == streamed
    assert [event["id"] for event in drafted] == ["sku-5"]


def _invalid_events(log: str) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    keys = ("id", "row", "status", "category", "message")
    return [
        {key: event[key] for key in keys}
        for event in events
        if event.get("event") == "row_finished" and event.get("status") == "invalid"
    ]


def test_a_hosted_image_catalog_skips_the_local_image_pass_until_it_changes(
    tmp_path: Path, threaded_simulator: Simulators, monkeypatch: pytest.MonkeyPatch
) -> None:
    threaded_simulator()
    records = [
        {"id": f"h-{n}", "prompt": "On white", "image": f"https://cdn.example.com/{n}.jpg"}
        for n in range(4)
    ]
    manifest, run_dir = write_csv(tmp_path / "hosted.csv", records), tmp_path / "run"
    assert run_cli(manifest, run_dir) == 0  # finds no local image, and notes it
    reads = Reads(monkeypatch)

    assert run_cli(manifest, run_dir) == 0

    assert reads.opened[f"{local_images.__name__} (local image paths)"] == 0
    assert reads.opened[planning.__name__] == 1
    records.append({"id": "local", "prompt": "On white", "image": "photos/mug.png"})
    write_image(tmp_path / "photos" / "mug.png")
    write_csv(manifest, records)  # changed: a local image now

    assert run_cli(manifest, run_dir) == 0

    assert reads.opened[f"{local_images.__name__} (local image paths)"] == 1
    assert {line["id"]: line["status"] for line in read_report(run_dir)}["local"] == "succeeded"
