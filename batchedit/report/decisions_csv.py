"""Decisions as a spreadsheet: `batchedit decisions RUN_DIR --export/--import FILE.csv`.

The export lists every row (`id`, `decision`, `note`, `choice`), blank where
undecided,
so a team can decide in a spreadsheet and import the same file back. An
import checks every line before it appends anything: an unknown id, a
decision other than approved/rejected, or a row without a result is named
by FILE:LINE and nothing is recorded. A blank decision leaves a row as it is,
and a line that repeats the decision in force is not written again. `choice`
(optional) is which of a row's candidates to publish, 1-based: checked against
the row's output count, and it needs a decision on the same line.

A cell that could start a spreadsheet formula (an id or a note beginning
with `=`, `+`, `-`, `@`, tab or CR) is exported with a `'` before it, and
the import takes it off: the round trip gives back what was exported.
"""

from __future__ import annotations

import csv
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
    """Check every line of `source`, then append its decisions in one durable write."""
    by_id = {record.id: record for record in run.records}
    made: list[Decision] = []
    problems: list[str] = []
    unchanged = blank = 0
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
            where = f"{source}:{reader.line_num}"
            row_id, word, note, chosen = (
                from_spreadsheet_cell(line.get(name) or "") for name in COLUMNS
            )
            row_id, word, note = row_id.strip(), word.strip(), clean_note(note)
            try:
                choice = parse_choice(chosen.strip())
            except ValueError as exc:
                problems.append(f"{where}: choice: {exc}")
                continue
            if not word:
                if choice is not None:
                    problems.append(f"{where}: choice: needs a decision (approved or rejected)")
                else:
                    blank += 1
                continue
            record = by_id.get(row_id)
            problem = _problem(run, row_id, record, word, choice)
            if problem is not None:
                problems.append(f"{where}: {problem}")
            elif record is not None and (sha256 := decided_sha256(record)) is not None:
                decision = Decision(
                    row_id, sha256, Verdict(word.lower()), note, at, record.task_id, choice
                )
                if _in_force(record, run.decisions.get(row_id), decision):
                    unchanged += 1
                else:
                    made.append(decision)
    if problems:
        more = len(problems) - MAX_PROBLEMS_SHOWN
        shown = problems[:MAX_PROBLEMS_SHOWN] + ([f"... and {more} more"] if more > 0 else [])
        raise UsageError("nothing imported:\n" + "\n".join(shown))
    append_decisions(run.paths.decisions, made)
    return Imported(len(made), unchanged, blank)


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
