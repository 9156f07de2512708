"""Decisions as a spreadsheet: `batchedit decisions RUN_DIR --export/--import FILE.csv`.

The export lists every row (`id`, `decision`, `note`, `choice`), blank where
undecided,
so a team can decide in a spreadsheet and import the same file back. An
import records the good lines and skips the others, each named by FILE:LINE
with what is wrong (an unknown id, a decision other than approved/rejected,
a row without a result, a choice out of range): a decision filled down a
whole column lands on rows that have nothing to decide on (invalid, failed),
and refusing the whole sheet for them would throw the good lines away. A
blank decision leaves a row as it is, and a line that repeats the decision
in force is not written again. `choice`
(optional) is which of a row's candidates to publish, 1-based: checked against
the row's output count, and it needs a decision on the same line.

A cell that could start a spreadsheet formula (an id or a note beginning
with `=`, `+`, `-`, `@`, tab or CR) is exported with a `'` before it, and
the import takes it off: the round trip gives back what was exported.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from batchedit.clock import utc_now_iso
from batchedit.errors import SourceError, UsageError
from batchedit.fsutil import atomic_writer
from batchedit.manifest.spreadsheet import from_spreadsheet_cell, spreadsheet_row
from batchedit.records import ReportRecord, Verdict
from batchedit.report.decisions import (
    Decision,
    ReviewState,
    append_decisions,
    chosen_output,
    clean_note,
    current_verdict,
    decided_sha256,
    parse_choice,
    review_state,
)
from batchedit.report.review import RunReport

COLUMNS = ("id", "decision", "note", "choice")
MAX_PROBLEMS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Imported:
    recorded: int  # decisions appended
    unchanged: int  # lines that repeat the decision in force
    blank: int  # lines without a decision
    skipped: int = 0  # lines not recorded, each for a problem
    problems: tuple[str, ...] = ()  # the first MAX_PROBLEMS_SHOWN, as FILE:LINE: field: message


def export_decisions(run: RunReport, target: Path) -> int:
    """Every row of the report, with the decision that holds for its result."""
    with atomic_writer(target, "w") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for record in run.records:
            decision = run.decisions.get(record.id)
            state = review_state(record, decision)
            holds = decision is not None and state is not ReviewState.STALE
            index, _ = chosen_output(record, decision)
            several = len(record.outputs) > 1
            writer.writerow(
                spreadsheet_row(
                    (
                        record.id,
                        decision.decision.value if holds and decision else "",
                        decision.note if holds and decision else "",
                        str(index + 1) if holds and several else "",
                    )
                )
            )
    return len(run.records)


def import_decisions(run: RunReport, source: Path) -> Imported:
    """Check every line of `source`, then append the good lines' decisions in
    one durable write; the others are skipped, and counted with their problems."""
    by_id = {record.id: record for record in run.records}
    made: list[Decision] = []
    problems: list[str] = []
    unchanged = blank = skipped = 0
    at = utc_now_iso()
    try:
        handle = open(source, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise UsageError(f"{source}: cannot read ({exc.strerror})") from exc
    with handle:
        reader = csv.DictReader(handle)
        missing = [name for name in ("id", "decision") if name not in (reader.fieldnames or ())]
        if missing:
            raise SourceError(
                str(source), 1, f"needs columns id, decision and optionally note; lacks {missing}"
            )
        for line in reader:
            read = _read_line(run, by_id, line, at)
            if isinstance(read, str):
                skipped += 1
                if len(problems) < MAX_PROBLEMS_SHOWN:  # counted, not kept: a sheet may be huge
                    problems.append(f"{source}:{reader.line_num}: {read}")
            elif read is None:
                blank += 1
            elif _in_force(by_id[read.id], run.decisions.get(read.id), read):
                unchanged += 1
            else:
                made.append(read)
    if made:  # a sheet of nothing new leaves no file behind
        append_decisions(run.paths.decisions, made)
    return Imported(len(made), unchanged, blank, skipped, tuple(problems))


def _read_line(
    run: RunReport, by_id: Mapping[str, ReportRecord], line: Mapping[str, str | None], at: str
) -> Decision | str | None:
    """A line's decision; None for a blank one; or what is wrong ("field: message")."""
    row_id, word, note, chosen = (from_spreadsheet_cell(line.get(name) or "") for name in COLUMNS)
    row_id, word, note = row_id.strip(), word.strip(), clean_note(note)
    try:
        choice = parse_choice(chosen.strip())
    except ValueError as exc:
        return f"choice: {exc}"
    if not word:
        return None if choice is None else "choice: needs a decision (approved or rejected)"
    record = by_id.get(row_id)
    problem = _problem(run, row_id, record, word, choice)
    if problem is not None:
        return problem
    assert record is not None  # _problem names a missing row
    sha256 = decided_sha256(record)
    assert sha256 is not None  # _problem names a row without a result
    return Decision(row_id, sha256, Verdict(word.lower()), note, at, record.task_id, choice)


def _in_force(record: ReportRecord, current: Decision | None, decision: Decision) -> bool:
    """Whether `decision` repeats the one in force: verdict, note and chosen candidate."""
    return (
        current is not None
        and current_verdict(record, current) is decision.decision
        and current.note == decision.note
        and chosen_output(record, current)[0] == chosen_output(record, decision)[0]
    )


def _problem(
    run: RunReport, row_id: str, record: ReportRecord | None, word: str, choice: int | None
) -> str | None:
    """What is wrong with a line deciding `word` on row `row_id` ("field: message"), or None."""
    if word.lower() not in {v.value for v in Verdict}:
        allowed = ", ".join(v.value for v in Verdict)
        return f"decision: {word!r} is not one of {allowed}"
    if record is None:
        return f"id: no row {row_id!r} in {run.paths.report}"
    if decided_sha256(record) is None:
        return f"id: row {row_id!r} has no result to decide on"
    if choice is not None and choice > len(record.outputs):
        return f"choice: {choice}, but row {row_id!r} has {len(record.outputs)} output(s)"
    return None
