"""`plan` promises what a run then does: over random histories of a run
directory (outputs deleted, results expired, prompts changed, a task whose
end was never journaled, a row rejected in review and retried with a note),
the plan's paid submissions, polls and downloads are what the next run makes,
counted by the simulator; and what the report's counts say a row costs again
(the closing advice, `batchedit status`) is what the plan decides for it.

The histories are made with the product's own commands and its journal codec
(state/journal.py, state/entries.py), never by writing the state format by hand.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ThreadedSimulator, read_report, write_csv, write_image

from batchedit.cli import main
from batchedit.jsonlines import dumps_line
from batchedit.manifest.job import iter_rows, load_job
from batchedit.origins import Origin
from batchedit.pipeline.plan.resume import RetryScope, plan_row
from batchedit.records import ErrorCategory, ReportRecord, Row, RowError, Status
from batchedit.report.counts import AGAIN_FREE, AGAIN_NONE, AGAIN_PAID, AGAIN_UNSENT, Counted
from batchedit.report.report_file import outcome_record, request_record
from batchedit.state.entries import Finished, JournalEntry, Submitted, Submitting
from batchedit.state.history import RowHistory
from batchedit.state.journal import read_entries
from batchedit.state.rerun import Action
from batchedit.state.rundir import RunPaths

FAST = ["--poll-interval", "0.01", "--no-progress"]
ROWS = 4
PAST = "2001-01-01T00:00:00Z"
#: What happens to a row between its first run and the plan.
HISTORIES = (
    "kept",  # nothing: settled, free
    "output_deleted",  # fetched again while its results live: free
    "output_deleted_and_expired",  # files gone and results expired: paid again
    "prompt_changed",  # a new request: paid
    "end_not_journaled",  # killed after the submit was journaled: polled, free
    "rejected_and_retried",  # a review round: retried with a note, then settled
)


ORIGIN = Origin("http://127.0.0.1:8000", simulated=True)


def write_catalog(folder: Path, prompts: dict[str, str]) -> Path:
    records = [
        {"id": row_id, "prompt": prompt, "image": "photo.png", "resolution": "1K"}
        for row_id, prompt in prompts.items()
    ]
    return write_csv(folder / "catalog.csv", records)


def rewrite_journal(paths: RunPaths, change: Callable[[Finished], Finished | None]) -> None:
    """The journal again, each `finished` entry as `change` makes it (None: dropped)."""
    lines: list[bytes] = []
    for _, entry in read_entries(paths.journal):
        if isinstance(entry, Finished):
            changed = change(entry)
            if changed is None:
                continue
            entry = changed
        lines.append(dumps_line(entry.to_json()))  # type: ignore[union-attr]
    paths.journal.write_bytes(b"".join(lines))


def plan_json(manifest: Path, run_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    capsys.readouterr()
    assert main(["plan", str(manifest), "--out", str(run_dir), "--json"]) == 0
    document: dict[str, int] = json.loads(capsys.readouterr().out)
    return document


def make_history(folder: Path, histories: list[str], sim: ThreadedSimulator) -> tuple[Path, Path]:
    write_image(folder / "photo.png", colour="olive")
    prompts = {f"row-{n}": "on white" for n in range(ROWS)}
    manifest, run_dir = write_catalog(folder, prompts), folder / "run"
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0
    paths = RunPaths(run_dir)
    outputs = {line["id"]: run_dir / line["outputs"][0]["path"] for line in read_report(run_dir)}
    rejected = [f"row-{n}" for n, kind in enumerate(histories) if kind == "rejected_and_retried"]
    if rejected:
        sheet = write_csv(
            folder / "decided.csv",
            [
                {"id": row_id, "decision": "rejected", "note": "softer shadow"}
                for row_id in rejected
            ],
        )
        assert main(["decisions", str(run_dir), "--import", str(sheet)]) == 0
        assert main(["retry", str(run_dir), "--status", "rejected", *FAST[2:]]) == 0
    for n, kind in enumerate(histories):
        row_id = f"row-{n}"
        if kind.startswith("output_deleted"):
            outputs[row_id].unlink()
        elif kind == "prompt_changed":
            prompts[row_id] = "on black"
    write_catalog(folder, prompts)
    expired = {f"row-{n}" for n, kind in enumerate(histories) if kind.endswith("expired")}
    unended = {f"row-{n}" for n, kind in enumerate(histories) if kind == "end_not_journaled"}

    def change(entry: Finished) -> Finished | None:
        if entry.id in unended:
            return None
        if entry.id in expired:
            return dataclasses.replace(entry, expires_at=PAST)
        return entry

    rewrite_journal(paths, change)
    return manifest, run_dir


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,  # the same histories in every CI run; a failure replays
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(histories=st.lists(st.sampled_from(HISTORIES), min_size=ROWS, max_size=ROWS))
def test_the_plan_counts_what_the_next_run_pays_polls_and_downloads(
    histories: list[str],
    threaded_simulator: Callable[..., ThreadedSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = threaded_simulator()
    with tempfile.TemporaryDirectory() as scratch:
        manifest, run_dir = make_history(Path(scratch), histories, sim)
        plan = plan_json(manifest, run_dir, capsys)
        before = sim.stats()
        assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0
        after = sim.stats()
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))

    paid = after["submits"] - before["submits"]
    assert plan["paid_submissions"] == paid == summary["paid_submissions"], (histories, plan)
    worked = plan["submit"] + plan["poll"] + plan["download"]  # submit counts resubmits
    assert after["downloads"] - before["downloads"] == worked, (histories, plan)
    assert plan["settled"] == ROWS - worked
    if plan["poll"]:
        assert after["polls"] > before["polls"]


def test_after_a_review_round_the_plan_and_the_run_both_pay_nothing(
    tmp_path: Path,
    threaded_simulator: Callable[..., ThreadedSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The issue's case: a rejection with a note, `retry --status rejected`;
    the plan of the next run then says 0 paid submissions, and the run pays 0."""
    sim = threaded_simulator()
    histories = ["kept", "rejected_and_retried", "kept", "kept"]
    manifest, run_dir = make_history(tmp_path, histories, sim)
    plan = plan_json(manifest, run_dir, capsys)
    before = sim.stats()["submits"]
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0
    assert plan["paid_submissions"] == 0 == sim.stats()["submits"] - before
    assert plan["settled"] == ROWS


#: Where a row can stand after a run, as the journal writes it: the rule's inputs.
ERROR_CATEGORIES = (None, *ErrorCategory)


def standings() -> list[tuple[str, JournalEntry | None]]:
    """Every journal state of an unchanged request that did not succeed."""
    cases: list[tuple[str, JournalEntry | None]] = [
        ("never sent", None),
        ("intent, no answer", Submitting(1, "row-0", "fp", "t", origin=ORIGIN)),
        ("running", Submitted(1, "row-0", "task-1", "fp", "t", origin=ORIGIN)),
    ]
    for status in (Status.FAILED, Status.UNKNOWN):
        for task_id in (None, "task-1"):
            for category in ERROR_CATEGORIES:
                for refused in (False, True):
                    error = None if category is None else RowError(category, "m")
                    entry = Finished(
                        1,
                        "row-0",
                        "fp",
                        status,
                        task_id,
                        error,
                        (),
                        "t",
                        "t",
                        1.0,
                        origin=ORIGIN,
                        refused=refused,
                    )
                    cases.append((f"{status} {task_id} {category} refused={refused}", entry))
    return cases


def test_status_and_the_closing_advice_count_by_the_plans_rule(tmp_path: Path) -> None:
    """What the report's counts say a row costs again (the closing advice,
    `batchedit status`) is what the plan of a plain re-run, or of a plain
    `batchedit retry`, decides for it: over every journal state of a row that
    did not succeed, read back from report.jsonl's line as `status` reads it."""
    manifest = write_csv(
        tmp_path / "rows.csv",
        [{"id": "row-0", "prompt": "on white", "image": "https://cdn.example.com/0.jpg"}],
    )
    (row,) = iter_rows(load_job(manifest))
    assert isinstance(row, Row)
    retry = RetryScope(statuses=frozenset({Status.FAILED}))  # `batchedit retry`'s default
    for name, entry in standings():
        history = None if entry is None else RowHistory(entry, attempts=1)
        fingerprint = "fp" if entry is not None else "fp-new"

        plain, retried = (
            plan_row(
                row,
                fingerprint,
                history,
                origin=ORIGIN,
                run_dir=tmp_path,
                now_epoch_s=0.0,
                retry=scope,
            )
            for scope in (None, retry)
        )
        record = outcome_record(request_record(row, Status.PENDING), fingerprint, history, 1)
        read_back = ReportRecord.from_json(json.loads(json.dumps(record.to_json())))
        again = Counted.of(read_back).again
        expected = (
            AGAIN_FREE
            if plain.action is Action.POLL
            else AGAIN_UNSENT
            if plain.paid
            else AGAIN_PAID
            if retried.paid
            else AGAIN_NONE
        )
        assert again == expected, (name, plain.action, retried.action)
