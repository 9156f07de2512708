"""The QA loop after a run: decide (decisions.jsonl, the CSV round trip), send
the rejected back (`retry --status rejected`: paid for exactly those rows,
with their notes in the prompt), publish (`export`). Against the simulator;
what was paid for is read from its counters."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import ThreadedSimulator, read_report, two_image_manifest, write_csv

from batchedit.cli import main
from batchedit.records import OutputFile, ReportRecord, Status, Verdict
from batchedit.report.decisions import (
    Decision,
    ReviewState,
    append_decisions,
    clean_note,
    read_decisions,
    review_state,
)
from batchedit.report.decisions_csv import import_decisions
from batchedit.report.review import RunReport, load_run
from batchedit.report.summary import LastRun
from batchedit.state.fingerprint import sha256_file
from batchedit.state.rundir import RunPaths

FAST = ["--poll-interval", "0.01", "--no-progress"]
NOTES = {"row-03": "make the background pure white", "row-07": "Remove the shadow!"}
APPROVED = ("row-01", "row-02", "row-05")


@pytest.fixture
def sim(threaded_simulator: Callable[..., ThreadedSimulator]) -> ThreadedSimulator:
    return threaded_simulator()


def make_run(folder: Path, rows: int = 10) -> tuple[Path, Path]:
    manifest = two_image_manifest(folder / "job", rows)
    run = folder / "job" / "run"
    assert main(["run", str(manifest), "--out", str(run), *FAST]) == 0
    return manifest, run


def decide(run: Path, folder: Path, decisions: dict[str, tuple[str, str]]) -> None:
    sheet = write_csv(
        folder / "decided.csv",
        [{"id": i, "decision": d, "note": note} for i, (d, note) in decisions.items()],
    )
    assert main(["decisions", str(run), "--import", str(sheet)]) == 0


def by_id(run: Path) -> dict[str, dict[str, Any]]:
    return {line["id"]: line for line in read_report(run)}


def usual_decisions() -> dict[str, tuple[str, str]]:
    chosen = {row_id: ("approved", "") for row_id in APPROVED}
    chosen.update({row_id: ("rejected", note) for row_id, note in NOTES.items()})
    return chosen


def test_retry_rejected_pays_for_exactly_those_rows_and_adds_their_notes(
    tmp_path: Path, sim: ThreadedSimulator
) -> None:
    manifest, run = make_run(tmp_path)
    decide(run, tmp_path, usual_decisions())
    before = by_id(run)
    paid = sim.stats()["submits"]

    assert main(["retry", str(run), "--status", "rejected", *FAST[2:]]) == 0

    assert sim.stats()["submits"] - paid == len(NOTES)
    after = by_id(run)
    for row_id, note in NOTES.items():
        assert after[row_id]["prompt"].endswith(note), after[row_id]["prompt"]
        assert after[row_id]["prompt"].startswith(before[row_id]["prompt"])
        assert after[row_id]["outputs"][0]["sha256"] != before[row_id]["outputs"][0]["sha256"]
        assert after[row_id]["decision"] is None  # decided on the old result: undecided now
        assert after[row_id]["attempts"] == 2
    for row_id in APPROVED:
        assert after[row_id]["decision"] == "approved"
        assert after[row_id]["task_id"] == before[row_id]["task_id"]
    reviewed = load_run(run)
    states = {r.id: review_state(r, reviewed.decisions.get(r.id)) for r in reviewed.records}
    assert {i for i, state in states.items() if state is ReviewState.STALE} == set(NOTES)

    # A plain run keeps the amended prompts: nothing looks changed, nothing is paid.
    paid = sim.stats()["submits"]
    assert main(["run", str(manifest), "--out", str(run), *FAST]) == 0
    assert sim.stats()["submits"] == paid
    assert by_id(run)["row-03"]["prompt"] == after["row-03"]["prompt"]
    # Nothing is rejected any more: a second retry sends nothing.
    assert main(["retry", str(run), "--status", "rejected", *FAST[2:]]) == 0
    assert sim.stats()["submits"] == paid


def test_retry_rejected_obeys_the_cost_guard_and_no_notes_sends_the_prompt_unchanged(
    tmp_path: Path, sim: ThreadedSimulator
) -> None:
    _, run = make_run(tmp_path)
    decide(run, tmp_path, usual_decisions())
    before = by_id(run)
    paid = sim.stats()["submits"]
    refused = ["retry", str(run), "--status", "rejected", "--max-tasks", "1", *FAST[2:]]
    assert main(refused) == 2
    assert sim.stats()["submits"] == paid
    assert not (run / ".batchedit" / "prompt_notes.json").exists()

    assert main(["retry", str(run), "--status", "rejected", "--no-notes", *FAST[2:]]) == 0
    assert sim.stats()["submits"] - paid == len(NOTES)
    after = by_id(run)
    for row_id in NOTES:
        assert after[row_id]["prompt"] == before[row_id]["prompt"]
        assert after[row_id]["task_id"] != before[row_id]["task_id"]
        assert after[row_id]["decision"] is None  # a new task: the old decision is stale


def test_prompt_suffix_replaces_the_notes_and_needs_rejected(
    tmp_path: Path, sim: ThreadedSimulator
) -> None:
    _, run = make_run(tmp_path, rows=4)
    decide(run, tmp_path, {"row-01": ("rejected", "ignored note")})
    assert main(["retry", str(run), "--prompt-suffix", "Brighter."]) == 2
    args = ["retry", str(run), "--status", "rejected", "--prompt-suffix", "Brighter.", *FAST[2:]]
    assert main(args) == 0
    assert by_id(run)["row-01"]["prompt"] == "edit. Brighter."


def test_export_only_approved_copies_exactly_those_and_the_feed_matches(
    tmp_path: Path, sim: ThreadedSimulator
) -> None:
    _, run = make_run(tmp_path)
    decide(run, tmp_path, usual_decisions())
    shop = tmp_path / "shop"
    (shop / "keep-me.txt").parent.mkdir()
    (shop / "keep-me.txt").write_text("the shop's own file")

    assert (
        main(["export", str(run), "--allow-simulated", "--to", str(shop), "--only", "approved"])
        == 0
    )

    report = by_id(run)
    with open(shop / "feed.csv", encoding="utf-8", newline="") as handle:
        feed = list(csv.DictReader(handle))
    assert [row["id"] for row in feed] == list(APPROVED)
    published = sorted(p.name for p in shop.iterdir() if p.suffix in (".png", ".jpg", ".jpeg"))
    assert published == sorted(row["file"] for row in feed)
    for row in feed:
        output = report[row["id"]]["outputs"][0]
        assert sha256_file(shop / row["file"]) == row["sha256"] == output["sha256"]
        assert (row["width"], row["height"]) == (str(output["width"]), str(output["height"]))
        assert row["decision"] == "approved" and row["model"] == report[row["id"]]["model"]
    assert (shop / "keep-me.txt").read_text() == "the shop's own file"

    # Again: nothing to write. Then one approval withdrawn: its file leaves the
    # feed at once, and the folder only with --prune (a shop may still show it).
    export = ["export", str(run), "--allow-simulated", "--to", str(shop), "--only", "approved"]
    assert main(export) == 0
    decide(run, tmp_path, {"row-02": ("rejected", "on second thought")})
    assert main(export) == 0
    with open(shop / "feed.csv", encoding="utf-8", newline="") as handle:
        assert [row["id"] for row in csv.DictReader(handle)] == ["row-01", "row-05"]
    assert (shop / feed[1]["file"]).exists()
    assert main([*export, "--prune"]) == 0
    assert not (shop / feed[1]["file"]).exists()
    assert (shop / feed[0]["file"]).exists()


def test_export_refuses_to_overwrite_what_it_did_not_write_and_links(
    tmp_path: Path, sim: ThreadedSimulator
) -> None:
    _, run = make_run(tmp_path, rows=3)
    shop = tmp_path / "shop"
    shop.mkdir()
    name = Path(read_report(run)[1]["outputs"][0]["path"]).name
    (shop / name).write_bytes(b"someone else's picture")
    assert main(["export", str(run), "--allow-simulated", "--to", str(shop)]) == 2
    assert (shop / name).read_bytes() == b"someone else's picture"
    assert not (shop / "feed.csv").exists()

    linked = tmp_path / "linked"
    assert main(["export", str(run), "--allow-simulated", "--to", str(linked), "--link"]) == 0
    for line in read_report(run):
        output = run / line["outputs"][0]["path"]
        assert os.stat(output).st_ino == os.stat(linked / output.name).st_ino


def test_decisions_csv_round_trip_and_a_bad_sheet_records_nothing(
    tmp_path: Path, sim: ThreadedSimulator
) -> None:
    _, run = make_run(tmp_path, rows=4)
    decide(run, tmp_path, {"row-00": ("approved", ""), "row-02": ("rejected", "too dark")})
    sheet = tmp_path / "out.csv"
    assert main(["decisions", str(run), "--export", str(sheet)]) == 0
    with open(sheet, encoding="utf-8", newline="") as handle:
        rows = {row["id"]: (row["decision"], row["note"]) for row in csv.DictReader(handle)}
    assert rows == {
        "row-00": ("approved", ""),
        "row-01": ("", ""),
        "row-02": ("rejected", "too dark"),
        "row-03": ("", ""),
    }
    lines_before = (run / "decisions.jsonl").read_text().count("\n")
    assert main(["decisions", str(run), "--import", str(sheet)]) == 0  # all unchanged
    assert (run / "decisions.jsonl").read_text().count("\n") == lines_before

    bad = write_csv(
        tmp_path / "bad.csv",
        [
            {"id": "row-01", "decision": "approved", "note": ""},
            {"id": "row-03", "decision": "maybe", "note": ""},
            {"id": "nope", "decision": "rejected", "note": ""},
        ],
    )
    assert main(["decisions", str(run), "--import", str(bad)]) == 1  # the good line taken
    assert (run / "decisions.jsonl").read_text().count("\n") == lines_before + 1
    decided = {record.id: record.decision for record in load_run(run).records}
    assert decided == {
        "row-00": Verdict.APPROVED,
        "row-01": Verdict.APPROVED,
        "row-02": Verdict.REJECTED,
        "row-03": None,
    }


def test_a_torn_last_line_is_ignored_and_closed_off_by_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    first = Decision("a", "1" * 64, Verdict.APPROVED, "", "t1")
    append_decisions(path, [first])
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"id": "b", "sha256": "2')  # a crash mid-append
    assert read_decisions(path) == {"a": first}
    second = Decision("b", "2" * 64, Verdict.REJECTED, "note\nwith a newline", "t2")
    append_decisions(path, [second])
    assert read_decisions(path) == {"a": first, "b": second}


decisions_strategy = st.lists(
    st.builds(
        Decision,
        id=st.sampled_from(["a", "b", "c/d", "é"]),
        sha256=st.text("0123456789abcdef", min_size=1, max_size=8),
        decision=st.sampled_from(list(Verdict)),
        note=st.text(max_size=20),
        at=st.just("2026-01-01T00:00:00.000Z"),
    ),
    max_size=12,
)


@given(decisions_strategy)
def test_the_latest_decision_per_row_wins(tmp_path_factory: Any, made: list[Decision]) -> None:
    path = tmp_path_factory.mktemp("d") / "decisions.jsonl"
    for decision in made:
        append_decisions(path, [decision])
    assert read_decisions(path) == {d.id: d for d in made}


sheet_lines = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "zz"]),  # "zz" is not a row of the report
        st.sampled_from(["approved", "rejected", "Rejected", "", "maybe"]),
        st.text(
            alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12
        ),
    ),
    min_size=1,
    max_size=8,
)


@given(sheet_lines)
def test_an_import_records_the_good_lines_and_skips_the_others(
    tmp_path_factory: Any, lines: list[tuple[str, str, str]]
) -> None:
    folder = tmp_path_factory.mktemp("sheet")
    output = OutputFile("outputs/x.png", "f" * 64, 1, 1, 1, "png")
    records = tuple(
        ReportRecord(i, n, Status.SUCCEEDED, "m", "p", (), {}, {}, "t", (output,))
        for n, i in enumerate("abc", start=1)
    )
    run = RunReport(RunPaths(folder), records, LastRun())
    sheet = write_csv(folder / "s.csv", [{"id": i, "decision": d, "note": n} for i, d, n in lines])
    wrong = [(i, d) for i, d, _ in lines if d and (i == "zz" or d == "maybe")]
    imported = import_decisions(run, sheet)
    assert imported.skipped == len(wrong) == len(imported.problems)
    good = [(i, d, n) for i, d, n in lines if d and (i, d) not in wrong]
    latest = {i: (d.lower(), clean_note(n)) for i, d, n in good}
    recorded = read_decisions(folder / "decisions.jsonl")
    assert {i: (d.decision.value, d.note) for i, d in recorded.items()} == latest
