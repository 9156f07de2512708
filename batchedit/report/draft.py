"""report.jsonl in two steps, so that a run streams its manifest for the
report only once: the survey drafts one line per row, and when the run ends
the draft becomes the report (with the review decisions that still hold).

A row the run will not touch (invalid, or settled by an earlier run) is
drafted as its final report line. A row the run has work for is drafted as
what it asks for (a pending record) with its request fingerprint, and gets
its outcome from the journal when the report is finished (`outcome_record`:
the one place a valid row's report line is decided). A no-op re-run thus
finishes its report by copying the draft: neither the manifest nor a journal
entry is read again. The draft is scratch in the state folder, rewritten by every run; the
report itself is still written aside, fsynced and renamed (invariant 2).

Draft lines, one per manifest row, in manifest order:

    =STATUS CATEGORY CHECKS AGAIN<TAB>{report line}   final (counts.Counted)
    ?FINGERPRINT<TAB>{pending record}           finished from the journal ("-": none)

Synchronous: callers run it in a thread.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import IO

from batchedit.fsutil import atomic_writer
from batchedit.jsonlines import dumps_text, loads
from batchedit.manifest.prices import PriceTable
from batchedit.records import ReportRecord, Status
from batchedit.report.counts import Counted, ReportCounts
from batchedit.report.decisions import current_verdict
from batchedit.report.report_file import decisions_or_none, outcome_record
from batchedit.report.spend import with_cost
from batchedit.state.history import JournalIndex
from batchedit.state.rundir import RunPaths

_FINAL, _TO_FINISH, _NONE = "=", "?", "-"


def _line(record: ReportRecord) -> str:
    return dumps_text(record.to_json())


class ReportDraft:
    """Writes the draft, one row at a time; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._out: IO[str] = open(path, "w", encoding="utf-8")  # closed in close()

    def settled(self, record: ReportRecord) -> None:
        """A row whose report line this run will not change."""
        self._out.write(f"{_FINAL}{Counted.of(record).to_text()}\t{_line(record)}\n")

    def to_finish(self, asked: ReportRecord, fingerprint: str | None) -> None:
        """A row the run has work for: its outcome comes from the journal at the end."""
        self._out.write(f"{_TO_FINISH}{fingerprint or _NONE}\t{_line(asked)}\n")

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> ReportDraft:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def finish_report(
    draft: Path, paths: RunPaths, index: JournalIndex, prices: PriceTable | None = None
) -> ReportCounts:
    """Write the run's report from `draft` (aside, fsync, rename), rows the run
    had work for joined with `index` (caught up with the run's own lines) and
    priced from `prices` (their `cost`; drafted lines were priced when drafted),
    each line with the review decision that still holds for its output; return
    what it counted, then remove the draft."""
    counts = ReportCounts()
    decisions = decisions_or_none(paths)
    with open(draft, encoding="utf-8") as lines, atomic_writer(paths.report, "w") as out:
        for line in lines:
            if line.startswith(_FINAL) and not decisions:
                out.write(_count_final(line, counts))
                continue
            if line.startswith(_FINAL):
                record = ReportRecord.from_json(loads(line[1:].split("\t", 1)[1]))
            else:
                fingerprint, _, body = line[1:].partition("\t")
                asked = ReportRecord.from_json(loads(body))
                record = outcome_record(
                    asked,
                    None if fingerprint == _NONE else fingerprint,
                    index.get(asked.id),
                    index.attempts(asked.id),
                )
                record = with_cost(record, prices)
            verdict = current_verdict(record, decisions.get(record.id))
            if verdict is not record.decision:
                record = replace(record, decision=verdict)
            counts.add(record)
            out.write(_line(record) + "\n")
    draft.unlink(missing_ok=True)
    return counts


def drafted_invalid(line: str) -> ReportRecord | None:
    """The record of a draft line if it is an invalid row's, else None."""
    if not line.startswith(f"{_FINAL}{Status.INVALID.value} "):
        return None
    return ReportRecord.from_json(loads(line.split("\t", 1)[1]))


def _count_final(line: str, counts: ReportCounts) -> str:
    """Count a final line from its summary, reading its JSON only for a
    category's first example; return the report line."""
    summary, body = line[1:].split("\t", 1)
    counted = Counted.from_text(summary)
    example = ""
    if counts.needs_example(counted):
        record = ReportRecord.from_json(loads(body))
        example = "" if record.error is None else f"{record.id}: {record.error.message}"
    counts.add_counted(counted, example)
    return body
