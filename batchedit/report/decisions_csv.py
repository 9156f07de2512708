"""Decisions as a spreadsheet: `batchedit decisions RUN_DIR --export/--import FILE.csv`.

The export lists every row (`id`, `decision`, `note`), blank where undecided,
so a team can decide in a spreadsheet and import the same file back. An
import checks every line before it appends anything: an unknown id, a
decision other than approved/rejected, or a row without a result is named
by FILE:LINE and nothing is recorded. A blank decision leaves a row as it is,
and a line that repeats the decision in force is not written again.

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
from batchedit.records import Verdict
from batchedit.report.decisions import (
    Decision,
    ReviewState,
    append_decisions,
    clean_note,
    current_verdict,
    decided_sha256,
    review_state,
)
from batchedit.report.review import RunReport

COLUMNS = ("id", "decision", "note")
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
            writer.writerow(
                spreadsheet_row(
                    (
                        record.id,
                        decision.decision.value if holds and decision else "",
                        decision.note if holds and decision else "",
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
    allowed = ", ".join(v.value for v in Verdict)
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
            row_id, word, note = (from_spreadsheet_cell(line.get(name) or "") for name in COLUMNS)
            row_id, word, note = row_id.strip(), word.strip(), clean_note(note)
            if not word:
                blank += 1
                continue
            record = by_id.get(row_id)
            if word.lower() not in {v.value for v in Verdict}:
                problems.append(f"{where}: decision: {word!r} is not one of {allowed}")
            elif record is None:
                problems.append(f"{where}: id: no row {row_id!r} in {run.paths.report}")
            elif (sha256 := decided_sha256(record)) is None:
                problems.append(f"{where}: id: row {row_id!r} has no result to decide on")
            else:
                decision = Decision(row_id, sha256, Verdict(word.lower()), note, at, record.task_id)
                current = run.decisions.get(row_id)
                if (
                    current is not None
                    and current_verdict(record, current) is decision.decision
                    and current.note == decision.note
                ):
                    unchanged += 1
                else:
                    made.append(decision)
    if problems:
        more = len(problems) - MAX_PROBLEMS_SHOWN
        shown = problems[:MAX_PROBLEMS_SHOWN] + ([f"... and {more} more"] if more > 0 else [])
        raise UsageError("nothing imported:\n" + "\n".join(shown))
    append_decisions(run.paths.decisions, made)
    return Imported(len(made), unchanged, blank)
