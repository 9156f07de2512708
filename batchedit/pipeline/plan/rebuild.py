"""A journal rebuilt from report.jsonl (`run --rebuild-state`).

Each report line keeps what its row's journal entry held (`resume`: the
request fingerprint, the result URLs and their expiry, the output layout;
see records.ResumeKey), so the journal can be written again from it:

- a succeeded row whose every output is there with its sha256 is settled as
  it was: it costs nothing, not even a poll (its modification times are
  recorded afresh, so the plan finds the files intact without hashing again);
- a succeeded row whose outputs are missing or changed is restored with its
  result URLs and expiry but without modification times: the plan then finds
  its files damaged and does what it does for any such row (downloaded again
  while its results last, else resubmitted, paid and counted by the plan and
  the cost guard);
- a pending row with a known task id is restored as submitted: polled, never
  paid for again;
- failed and unknown rows are restored as they ended: `retry` decides;
- a row the journal never knew (pending without a task, invalid) needs
  nothing; a line without `resume` (written before it existed) or that
  cannot be read is not recovered, and its row is planned as never sent.

Every restored line carries the row's paid submissions as the report counted
them (`restored_attempts`) and the API origin that made its outcome (so a
simulator's results still settle nothing for a real run). Output paths are
confined to `outputs/` like any the run writes: a path leading elsewhere is
not an output. Synchronous: the launch runs it in a thread.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from batchedit.fsutil import replace_synced
from batchedit.jsonlines import loads
from batchedit.records import OutputFile, ReportRecord, Status
from batchedit.state.entries import Finished, JournalEntry, Submitted, Withdrawn
from batchedit.state.fingerprint import sha256_file
from batchedit.state.journal import JournalCondition, journal_condition, write_journal
from batchedit.state.rundir import RunPaths

#: Rows named in the closing words of a rebuild; the rest are counted.
EXAMPLES = 5


@dataclass(slots=True)
class Rebuilt:
    """What a rebuild restored and what it could not."""

    lines: int = 0  # report lines read
    settled: int = 0  # succeeded, every output verified by its sha256
    to_poll: int = 0  # pending with a known task id
    kept: int = 0  # failed or unknown, restored as they ended
    not_recovered: int = 0
    examples: list[str] = field(default_factory=list)  # "ID: why", at most EXAMPLES
    set_aside: Path | None = None  # the unreadable journal, kept for inspection
    report_found: bool = True

    def lost(self, what: str) -> None:
        self.not_recovered += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(what)

    def words(self) -> list[str]:
        """The lines a rebuild prints before the plan."""
        if not self.report_found:
            return [
                "no report.jsonl to rebuild the journal from: nothing vouches for the files "
                "in outputs/, so every row is planned as never sent (submitted and paid, as "
                "the plan below counts) and its outputs are replaced"
            ]
        said = [
            f"rebuilt the journal from report.jsonl ({self.lines} lines): {self.settled} "
            f"succeeded row(s) restored, every output verified by sha256; {self.to_poll} "
            f"to poll (task known); {self.kept} failed or unknown kept as they ended"
        ]
        if self.not_recovered:
            more = self.not_recovered - len(self.examples)
            named = "; ".join(self.examples) + (f"; and {more} more" if more > 0 else "")
            said.append(
                f"not recovered: {self.not_recovered} row(s) ({named}); they are planned "
                "as the rules for re-runs say: results downloaded again while they last, "
                "else submitted and paid, as the plan below counts"
            )
        if self.set_aside is not None:
            said.append(f"the unreadable journal was kept as {self.set_aside}")
        return said


def rebuild_journal(paths: RunPaths) -> Rebuilt:
    """Write the journal again from report.jsonl (aside, fsynced, renamed); an
    unreadable journal is first set aside under a dated name, never deleted."""
    rebuilt = Rebuilt()
    if journal_condition(paths.journal) is JournalCondition.UNREADABLE:
        rebuilt.set_aside = _set_aside(paths)
    rebuilt.report_found = paths.report.exists()
    if rebuilt.report_found:
        write_journal(paths.journal, _restored_entries(paths, rebuilt))
    return rebuilt


def _set_aside(paths: RunPaths) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    aside = paths.state_dir / f"journal.unreadable-{stamp}.jsonl"
    replace_synced(paths.journal, aside)
    return aside


def _restored_entries(paths: RunPaths, rebuilt: Rebuilt) -> Iterator[JournalEntry]:
    """The rebuilt journal's lines, one per report line that had an entry."""
    with open(paths.report, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            rebuilt.lines += 1
            try:
                record = ReportRecord.from_json(loads(line))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                rebuilt.lost(f"report.jsonl line {number}: not a report line ({exc})")
                continue
            entry = _restored(record, paths.root, rebuilt)
            if entry is not None:
                yield entry


def _restored(record: ReportRecord, root: Path, rebuilt: Rebuilt) -> JournalEntry | None:
    """A report line's journal entry, counted in `rebuilt`; None: none needed."""
    resume, attempts = record.resume, record.attempts
    never_sent = record.status is Status.PENDING and record.task_id is None
    if record.status is Status.INVALID or (never_sent and resume is None):
        # Nothing to poll or keep; a count of earlier paid submits is kept.
        return Withdrawn(record.row, record.id, attempts) if attempts else None
    if resume is None:
        rebuilt.lost(f"{record.id}: its report line has no `resume` (an earlier batchedit's)")
        return Withdrawn(record.row, record.id, attempts) if attempts else None
    if record.status is Status.PENDING and record.task_id is not None:
        rebuilt.to_poll += 1
        at = record.submitted_at or ""
        return Submitted(
            record.row,
            record.id,
            record.task_id,
            resume.fingerprint,
            at,
            origin=resume.origin,
            restored_attempts=attempts,
        )
    finished = replace(
        Finished.of_record(record, resume.fingerprint, resume.origin),
        result_urls=resume.result_urls,
        expires_at=resume.expires_at,
        layout=resume.layout,
        refused=resume.refused,
        restored_attempts=attempts,
    )
    if record.status is not Status.SUCCEEDED:
        rebuilt.kept += 1
        return finished
    mtimes, problem = verified_outputs(root, record.outputs)
    if problem is not None:
        rebuilt.lost(f"{record.id}: {problem}")
        if not all(_confined(root, output) for output in record.outputs):
            return replace(finished, outputs=())  # no file of it is vouched for
        return finished  # no modification times: the plan finds the files damaged
    rebuilt.settled += 1
    return replace(finished, output_mtimes_ns=mtimes)


def verified_outputs(
    root: Path, outputs: tuple[OutputFile, ...]
) -> tuple[tuple[int, ...], str | None]:
    """Each output's modification time if every one is a regular file under
    `outputs/` with its recorded size and sha256; else the first problem."""
    if not outputs:
        return (), "no output recorded"
    mtimes = []
    for output in outputs:
        path = root / output.path
        if not _confined(root, output):
            return (), f"{output.path} is not under outputs/"
        try:
            info = path.lstat()
        except OSError:
            return (), f"{output.path} is missing"
        if not stat.S_ISREG(info.st_mode):
            return (), f"{output.path} is not a regular file"
        if info.st_size != output.bytes or sha256_file(path) != output.sha256:
            return (), f"{output.path} has changed (its sha256 differs)"
        mtimes.append(info.st_mtime_ns)
    return tuple(mtimes), None


def _confined(root: Path, output: OutputFile) -> bool:
    """Whether the output's path leads into `outputs/` (invariant 9)."""
    folder = RunPaths(root).outputs.resolve()
    return (root / output.path).resolve().is_relative_to(folder)
