"""One counter and typed readers for what a run leaves: the summary a run
writes, `report merge` and `batchedit status` count the same records alike;
a line that is not a report record is named by FILE:LINE; summary.json is
read back as a typed LastRun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchedit.cli import main
from batchedit.errors import SourceError
from batchedit.records import ErrorCategory, OutputFile, ReportRecord, RowError, Status
from batchedit.report.counts import ReportCounts
from batchedit.report.merge import merge_reports
from batchedit.report.report_file import read_report
from batchedit.report.status import read_status, status_lines
from batchedit.report.summary import LastRun, read_last_run
from batchedit.state.rundir import RunPaths


def record(
    row: int, status: Status, category: ErrorCategory | None = None, *, output: str | None = None
) -> ReportRecord:
    error = None if category is None else RowError(category, f"why {row}", None)
    outputs: tuple[OutputFile, ...] = ()
    if output is not None:
        outputs = (OutputFile(output, "ab" * 32, 10, 4, 5, "png"),)
    return ReportRecord(
        id=f"sku-{row}",
        row=row,
        status=status,
        model="google/nano-banana-pro-edit",
        prompt="on white",
        images=("https://cdn.example.com/a.jpg",),
        params={"aspectRatio": "4:5"},
        fields={"title": f"Product {row}"},
        outputs=outputs,
        error=error,
        attempts=1,
    )


def write_run(run_dir: Path, records: list[ReportRecord]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in records]
    (run_dir / "report.jsonl").write_text("".join(lines), encoding="utf-8")
    return run_dir


MIXED = [
    record(1, Status.SUCCEEDED, output="outputs/sku-1.png"),
    record(2, Status.FAILED, ErrorCategory.TASK_FAILED),
    record(3, Status.FAILED, ErrorCategory.TASK_FAILED),
    record(4, Status.UNKNOWN, ErrorCategory.UNKNOWN_OUTCOME),
    record(5, Status.INVALID, ErrorCategory.INVALID_INPUT),
    record(6, Status.SUCCEEDED, ErrorCategory.DOWNLOAD),  # recovered: its old error is history
    record(7, Status.PENDING),
]


def test_the_counter_counts_statuses_and_the_categories_of_rows_that_did_not_succeed() -> None:
    counts = ReportCounts()
    for r in MIXED:
        counts.add(r)
    assert counts.to_json() == {
        "rows": 7,
        "statuses": {"failed": 2, "invalid": 1, "pending": 1, "succeeded": 2, "unknown": 1},
        "error_categories": {"invalid_input": 1, "task_failed": 2, "unknown_outcome": 1},
        "error_examples": {
            "invalid_input": "sku-5: why 5",
            "task_failed": "sku-2: why 2",
            "unknown_outcome": "sku-4: why 4",
        },
        "checks": {},  # no output failed a check (see test_output_checks)
    }
    assert counts.by_status == {
        Status.FAILED: {ErrorCategory.TASK_FAILED: 2},
        Status.UNKNOWN: {ErrorCategory.UNKNOWN_OUTCOME: 1},
        Status.INVALID: {ErrorCategory.INVALID_INPUT: 1},
    }
    assert not counts.all_succeeded
    assert ReportCounts().all_succeeded  # no rows: nothing failed


def test_status_prints_the_shared_counts_by_status_then_category(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", MIXED)
    last_run = {"finished_at": "2026-01-01T00:00:00Z", "wall_time_s": 1.5, "paid_submissions": 5}
    (run_dir / "summary.json").write_text(json.dumps(last_run), encoding="utf-8")
    status = read_status(run_dir)
    assert status.counts.to_json()["statuses"] == {
        "failed": 2,
        "invalid": 1,
        "pending": 1,
        "succeeded": 2,
        "unknown": 1,
    }
    lines = status_lines(run_dir, status)
    assert lines[0] == f"{run_dir}: 7 rows"
    assert [line.split() for line in lines[1:6]] == [
        ["succeeded", "2"],
        ["failed", "2", "task_failed", "2"],
        ["unknown", "1", "unknown_outcome", "1"],
        ["invalid", "1", "invalid_input", "1"],
        ["pending", "1"],
    ]
    assert lines[6:] == [
        "last run: ended 2026-01-01T00:00:00Z, wall time 1.5s, 5 paid submission(s)",
        f"re-run the failed rows: batchedit retry {run_dir}",
        "unknown rows may have been paid for: check the service, then "
        f"batchedit retry {run_dir} --status unknown",
    ]


def test_merge_rewrites_output_paths_and_counts_as_the_shards_do(tmp_path: Path) -> None:
    first = write_run(tmp_path / "a", MIXED[0::2])
    second = write_run(tmp_path / "b", MIXED[1::2])
    before = (first / "report.jsonl").read_bytes()
    counts, _ = merge_reports([first, second], tmp_path / "merged")
    merged = list(read_report(tmp_path / "merged" / "report.jsonl"))
    assert [r.row for r in merged] == list(range(1, 8))
    assert merged[0].outputs[0].path == "../a/outputs/sku-1.png"
    assert [r.status for r in merged] == [r.status for r in MIXED]
    assert (first / "report.jsonl").read_bytes() == before
    expected = ReportCounts()
    for r in MIXED:
        expected.add(r)
    summary = json.loads((tmp_path / "merged" / "summary.json").read_text())
    assert {key: summary[key] for key in expected.to_json()} == expected.to_json()
    assert counts == expected


statuses = st.sampled_from(list(Status))
categories = st.none() | st.sampled_from(list(ErrorCategory))


@settings(max_examples=40)  # each example writes a run directory and merges it
@given(st.lists(st.tuples(statuses, categories), max_size=30))
def test_a_run_s_summary_a_merge_and_status_agree_on_any_report(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[Status, ErrorCategory | None]]
) -> None:
    records = [record(n, s, c) for n, (s, c) in enumerate(rows, start=1)]
    run_dir = write_run(tmp_path_factory.mktemp("run"), records)
    direct = ReportCounts()
    for r in records:
        direct.add(r)
    merged, _ = merge_reports([run_dir], tmp_path_factory.mktemp("merged"))
    assert merged == direct == read_status(run_dir).counts


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        '["a list"]',
        '{"id": "x", "row": 2}',
        '{"id": "x", "row": 2, "status": "done"}',
        '{"id": "x", "status": "failed"}',
        '{"id": "x", "row": 2, "status": "failed", "error": {"category": "gremlins"}}',
    ],
)
def test_a_line_that_is_not_a_report_record_is_named_by_file_and_line(
    tmp_path: Path, bad: str
) -> None:
    run_dir = write_run(tmp_path / "run", MIXED[:1])
    with open(run_dir / "report.jsonl", "a", encoding="utf-8") as report:
        report.write(bad + "\n")
    with pytest.raises(SourceError) as info:
        list(read_report(run_dir / "report.jsonl"))
    assert (info.value.file, info.value.line) == (str(run_dir / "report.jsonl"), 2)
    assert main(["status", str(run_dir)]) == 2
    assert main(["report", "merge", str(run_dir), "--out", str(tmp_path / "m")]) == 2


def test_summary_json_is_read_back_typed_and_a_field_of_another_type_is_none() -> None:
    last = LastRun.from_json(
        {
            "finished_at": "2026-01-01T00:00:00Z",
            "wall_time_s": 2,
            "paid_submissions": True,  # not a count
            "requests": {"submit": 3, "poll": "many"},
            "latency_s": {"p50": 0.5, "p95": 1.5},
            "manifest": ["not", "a", "path"],
        }
    )
    assert last == LastRun(
        finished_at="2026-01-01T00:00:00Z",
        wall_time_s=2,
        requests={"submit": 3},
        latency_p50_s=0.5,
        latency_p95_s=1.5,
    )
    assert LastRun.from_json(["not", "an", "object"]) == LastRun()


def test_a_summary_that_is_not_json_is_named_by_report_and_skipped_by_status_and_merge(
    tmp_path: Path,
) -> None:
    run_dir = write_run(tmp_path / "run", MIXED)
    (run_dir / "summary.json").write_text("{torn", encoding="utf-8")
    with pytest.raises(SourceError) as info:
        read_last_run(RunPaths(run_dir))
    assert (info.value.file, info.value.line) == (str(run_dir / "summary.json"), None)
    assert main(["report", str(run_dir), "--failed-csv", str(tmp_path / "f.csv")]) == 2
    status = read_status(run_dir)
    assert status.last_run is None and status.counts.rows == 7
    counts, _ = merge_reports([run_dir], tmp_path / "merged")
    merged = json.loads((tmp_path / "merged" / "summary.json").read_text())
    assert counts.rows == 7 and merged["paid_submissions"] == 0
