"""CSV files meant for a spreadsheet never hold a cell a spreadsheet would run
as a formula, and what batchedit wrote reads back exactly: the helper on any
text, the decisions export and import, the failed-rows manifest through
`validate` and `run`, and an export's feed.csv."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from support import ThreadedSimulator, read_report, write_csv, write_image

from batchedit.cli import main
from batchedit.manifest.spreadsheet import (
    FORMULA_STARTS,
    from_spreadsheet_cell,
    spreadsheet_cell,
)
from batchedit.records import OutputFile, ReportRecord, Status, Verdict
from batchedit.report.decisions import Decision, append_decisions, clean_note, read_decisions
from batchedit.report.decisions_csv import export_decisions, import_decisions
from batchedit.report.review import RunReport, load_run
from batchedit.report.summary import LastRun
from batchedit.state.rundir import RunPaths

FAST = ["--poll-interval", "0.01", "--no-progress"]
HOSTILE_IDS = ("=1+1", "+plus", "-minus", "@at", "plain")
texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
#: Texts, half of them starting as a formula would (or with a quote before one).
risky = st.one_of(
    texts, st.sampled_from((*FORMULA_STARTS, "'", "'=")).flatmap(lambda s: texts.map(s.__add__))
)


def cells(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def assert_no_formula(path: Path) -> None:
    for row in cells(path):
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS), (path.name, cell)


@given(risky)
def test_every_text_is_written_safe_and_read_back_as_it_was(text: str) -> None:
    for value in (text, "'" + text, "''" + text):
        written = spreadsheet_cell(value)
        assert not written.startswith(FORMULA_STARTS)
        assert from_spreadsheet_cell(written) == value
        if not value.lstrip("'").startswith(FORMULA_STARTS):
            assert written == value  # nothing else is touched


def test_the_cells_a_spreadsheet_would_run() -> None:
    assert [spreadsheet_cell(v) for v in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=x", "\r=x")] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "'\t=x",
        "'\r=x",
    ]
    assert [spreadsheet_cell(v) for v in ("a=1", " =1", "", None, 7)] == ["a=1", " =1", "", "", "7"]


ids = st.lists(
    risky.filter(lambda i: i == i.strip() and i != "" and i.isprintable()),
    min_size=1,
    max_size=6,
    unique=True,
)


@settings(max_examples=60)
@given(ids, st.lists(st.tuples(st.sampled_from(list(Verdict)), risky), min_size=6, max_size=6))
def test_decisions_round_trip_through_the_csv(
    tmp_path_factory: Any, row_ids: list[str], chosen: list[tuple[Verdict, str]]
) -> None:
    """Exported, then imported unchanged: every line repeats the decision in
    force (nothing recorded), so each id, decision and note read back exactly."""
    folder = tmp_path_factory.mktemp("sheet")
    output = OutputFile("outputs/x.png", "f" * 64, 1, 1, 1, "png")
    records = tuple(
        ReportRecord(row_id, n, Status.SUCCEEDED, "m", "p", (), {}, {}, "t", (output,))
        for n, row_id in enumerate(row_ids, start=1)
    )
    made = [
        Decision(row_id, "f" * 64, verdict, clean_note(note), "at", "t")
        for row_id, (verdict, note) in zip(row_ids, chosen, strict=False)
    ]
    append_decisions(folder / "decisions.jsonl", made)
    decisions = read_decisions(folder / "decisions.jsonl")
    run = RunReport(RunPaths(folder), records, LastRun(), decisions=decisions)
    sheet = folder / "decisions.csv"
    export_decisions(run, sheet)
    assert_no_formula(sheet)
    imported = import_decisions(run, sheet)
    assert (imported.recorded, imported.unchanged) == (0, len(made))
    assert read_decisions(folder / "decisions.jsonl") == decisions


def test_failed_rows_and_feed_csv_hold_no_formula_and_run_as_written(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> None:
    folder = tmp_path / "job"
    write_image(folder / "a.png")
    rows = [
        {"id": row_id, "prompt": "-make it {title}", "image": "a.png", "title": "=cmd|'/C calc'!A0"}
        for row_id in HOSTILE_IDS
    ]
    manifest = write_csv(folder / "rows.csv", rows)
    run_dir = folder / "run"
    threaded_simulator(fail_rate=1.0)
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 1
    failed = read_report(run_dir)

    fix = tmp_path / "fix.csv"
    assert main(["report", str(run_dir), "--failed-csv", str(fix)]) == 0
    assert_no_formula(fix)
    assert cells(fix)[0][:3] == ["problem", "id", "prompt"]
    assert cells(fix)[1][1:3] == ["'=1+1", "'-make it {title}"]
    assert main(["validate", str(fix)]) == 0

    threaded_simulator()  # a healthy service: the fixed manifest runs as written
    rerun_dir = tmp_path / "rerun"
    assert main(["run", str(fix), "--out", str(rerun_dir), *FAST]) == 0
    rerun = read_report(rerun_dir)
    assert [line["id"] for line in rerun] == [line["id"] for line in failed] == list(HOSTILE_IDS)
    assert {line["prompt"] for line in rerun} == {"-make it =cmd|'/C calc'!A0"}
    assert {line["fields"]["title"] for line in rerun} == {"=cmd|'/C calc'!A0"}

    shop = tmp_path / "shop"
    assert main(["export", str(rerun_dir), "--to", str(shop), "--allow-simulated"]) == 0
    assert_no_formula(shop / "feed.csv")
    feed_ids = [row[0] for row in cells(shop / "feed.csv")[1:]]
    assert [from_spreadsheet_cell(cell) for cell in feed_ids] == list(HOSTILE_IDS)
    assert feed_ids[0] == "'=1+1"
    assert {record.id for record in load_run(rerun_dir).records} == set(HOSTILE_IDS)
