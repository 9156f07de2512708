"""The journal's durability and tolerance, and the report as a join of the
manifest with the journal: one line per row, in order, pending where unknown."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from support import join_report

from batchedit.fsutil import MAX_NAME_CHARS, safe_name
from batchedit.origins import SIMULATE
from batchedit.records import (
    EditRequest,
    ErrorCategory,
    ImageRef,
    InvalidRow,
    Problem,
    Row,
    RowError,
    Status,
)
from batchedit.report.report_file import request_record
from batchedit.state.fingerprint import FileDigests, request_fingerprint
from batchedit.state.history import JournalIndex
from batchedit.state.journal import (
    Finished,
    Journal,
    JournalEntry,
    Submitted,
    Submitting,
    Undecodable,
    Withdrawn,
    read_entries,
)
from batchedit.state.rundir import RunPaths


def _row(entry: JournalEntry | Undecodable) -> int:
    assert not isinstance(entry, Undecodable), entry
    return entry.row


def make_row(index: int) -> Row:
    request = EditRequest("google/nano-banana-pro-edit", f"prompt {index}", (ImageRef("a.png"),))
    return Row(index, index + 1, f"row-{index}", request, {"sku": f"S{index}"})


async def test_concurrent_appends_are_all_durable_with_fewer_flushes(tmp_path: Path) -> None:
    journal = await Journal.open(tmp_path / "journal.jsonl")
    entries = [Submitted(i, f"row-{i}", f"task-{i}", "fp", "t") for i in range(200)]
    await asyncio.gather(*(journal.append(entry) for entry in entries))
    await journal.close()
    rows = [_row(entry) for _, entry in read_entries(tmp_path / "journal.jsonl")]
    assert sorted(rows) == list(range(200))


async def test_a_torn_last_line_is_ignored_and_the_next_run_appends_cleanly(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.jsonl"
    journal = await Journal.open(path)
    await journal.append(Submitted(1, "a", "task-1", "fp", "t"))
    await journal.close()
    with open(path, "ab") as handle:
        handle.write(b'{"event": "submitted", "row": 2, "task_')  # killed mid-write
    assert [_row(entry) for _, entry in read_entries(path)] == [1]
    journal = await Journal.open(path)
    await journal.append(Submitted(3, "c", "task-3", "fp", "t"))
    await journal.close()
    assert [_row(entry) for _, entry in read_entries(path)] == [1, 3]


async def test_report_joins_manifest_order_with_the_latest_journal_outcome(
    tmp_path: Path,
) -> None:
    paths = RunPaths(tmp_path)
    journal = await Journal.open(paths.journal)
    digests = FileDigests()
    rows = [make_row(i) for i in range(1, 7)]
    fp = [request_fingerprint(row.request, digests) for row in rows]
    await journal.append(Submitted(3, "row-3", "task-3", fp[2], "t"))
    await journal.append(
        Finished.of_record(request_record(rows[2], Status.FAILED), fp[2], SIMULATE)
    )
    await journal.append(Submitted(3, "row-3", "task-3b", fp[2], "t"))
    await journal.append(
        Finished.of_record(request_record(rows[2], Status.SUCCEEDED), fp[2], SIMULATE)
    )
    await journal.append(Submitted(1, "row-1", "task-1", fp[0], "2026-01-01T00:00:00Z"))
    await journal.append(Submitted(4, "row-4", "task-4", "an older request", "t"))
    await journal.append(
        Finished.of_record(request_record(rows[3], Status.SUCCEEDED), "an older request", SIMULATE)
    )
    await journal.append(Submitting(5, "row-5", fp[4], "t"))  # killed mid-submit
    await journal.close()
    invalid = InvalidRow(7, 8, "row-7", (Problem("m.csv", 8, "no prompt", "prompt"),))

    with JournalIndex.build(paths.journal) as index:
        counts = join_report(paths, [*rows, invalid], index, digests)

    lines = [json.loads(line) for line in paths.report.read_text().splitlines()]
    assert [line["id"] for line in lines] == [f"row-{n}" for n in range(1, 8)]
    assert [line["status"] for line in lines] == [
        "pending",
        "pending",
        "succeeded",
        "pending",  # its request changed since it succeeded
        "unknown",
        "pending",
        "invalid",
    ]
    assert [line["attempts"] for line in lines] == [1, 0, 2, 1, 1, 0, 0]
    assert lines[4]["error"]["category"] == "unknown_outcome"
    assert lines[0]["task_id"] == "task-1", "a pending row keeps the task it is waiting on"
    assert lines[0]["submitted_at"] == "2026-01-01T00:00:00Z"
    assert lines[1]["task_id"] is None
    assert lines[6]["error"] == {
        "category": "invalid_input",
        "message": "no prompt",
        "http_status": None,
    }
    assert counts.rows == 7 and counts.statuses[Status.PENDING] == 4
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


@given(st.text(max_size=300))
def test_safe_names_stay_in_their_folder(row_id: str) -> None:
    name = safe_name(row_id)
    assert "/" not in name and "\\" not in name and "\0" not in name
    assert not name.startswith(".") and name not in {"", "..", "."}
    assert len(name) <= MAX_NAME_CHARS + 11


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_distinct_ids_get_distinct_names(first: str, second: str) -> None:
    if first != second:
        assert safe_name(first) != safe_name(second)


async def test_attempts_count_every_intent_not_withdrawn_and_no_refusal(tmp_path: Path) -> None:
    """Issue 24: a submit the service charged for but whose task id was refused
    at the trust boundary showed `attempts: 0` while the summary counted it."""
    paths = RunPaths(tmp_path)
    journal = await Journal.open(paths.journal)
    unsafe = RowError(ErrorCategory.SERVER, "the service named a task id unsafe to use")
    refused = RowError(ErrorCategory.INVALID_REQUEST, "bad parameter", 400)
    await journal.append(Submitting(1, "charged", "fp", "t"))
    await journal.append(Finished(1, "charged", "fp", Status.FAILED, error=unsafe))
    await journal.append(Submitting(2, "refused", "fp", "t"))
    await journal.append(Withdrawn(2, "refused"))
    await journal.append(Finished(2, "refused", "fp", Status.FAILED, error=refused))
    await journal.append(Submitting(3, "retried", "fp", "t"))  # a 503: refused, retried
    await journal.append(Withdrawn(3, "retried"))
    await journal.append(Submitting(3, "retried", "fp", "t"))
    await journal.append(Submitted(3, "retried", "task-3", "fp", "t"))
    await journal.append(Finished(3, "retried", "fp", Status.SUCCEEDED, task_id="task-3"))
    await journal.append(Submitting(4, "lost", "fp", "t"))  # no answer: unknown
    await journal.append(Finished(4, "lost", "fp", Status.UNKNOWN))
    await journal.close()
    with JournalIndex.build(paths.journal) as index:
        counted = {row_id: index.attempts(row_id) for row_id in ("charged", "refused")}
        counted |= {row_id: index.attempts(row_id) for row_id in ("retried", "lost")}
    assert counted == {"charged": 1, "refused": 0, "retried": 1, "lost": 1}
