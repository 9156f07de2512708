"""`batchedit status RUN_DIR`: where a run directory stands, without the network.

It reads what every run leaves behind, `report.jsonl` (one line per row) and
`summary.json` (the last run's figures), streaming the report so a million-row
run is counted in constant memory; and it says when a run is going on right
now, since the report then describes the run before it. `--history` reads
`history.jsonl` instead: one line per run that ended (state/run_history.py).
"""

from __future__ import annotations

from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from batchedit.errors import SourceError, UsageError
from batchedit.records import Status
from batchedit.report.counts import ReportCounts
from batchedit.report.report_file import no_report_yet, read_report
from batchedit.report.summary import LastRun, format_seconds, read_last_run
from batchedit.state.lock import lock_holder
from batchedit.state.run_history import RunEntry, RunHistory, read_history
from batchedit.state.rundir import RunPaths


@dataclass(slots=True)
class RunStatus:
    counts: ReportCounts = field(default_factory=ReportCounts)
    last_run: LastRun | None = None  # None: no summary.json, or not JSON
    running_pid: int | None = None


def read_status(run_dir: Path) -> RunStatus:
    paths = RunPaths(run_dir)
    if not paths.report.exists():
        raise no_report_yet(paths, "no report.jsonl; is this a batchedit run directory?")
    status = RunStatus(running_pid=lock_holder(paths))
    for record in read_report(paths.report):
        status.counts.add(record)
    with suppress(SourceError):  # the counts stand without the last run's figures
        status.last_run = read_last_run(paths)
    return status


def status_lines(run_dir: Path, status: RunStatus) -> list[str]:
    counts = status.counts
    lines = [f"{run_dir}: {counts.rows} rows"]
    for name in (s for s in Status if counts.statuses[s]):
        categories = counts.by_status.get(name, Counter())
        detail = ", ".join(f"{c.value} {n}" for c, n in categories.most_common())
        lines.append(
            f"  {name.value:<10} {counts.statuses[name]:>8}" + (f"   {detail}" if detail else "")
        )
    if counts.checks:
        failed = ", ".join(f"{check.value} {n}" for check, n in sorted(counts.checks.items()))
        lines.append(f"  output checks failed (files kept): {failed}")
    last = status.last_run
    if last is not None:
        lines.append(
            f"last run: ended {last.finished_at}, wall time {last.wall_time_s}s, "
            f"{last.paid_submissions} paid submission(s)"
            + ("" if last.spend is None else f", spend {last.spend:.2f}")
            + (f" {last.currency}" if last.spend is not None and last.currency else "")
            + (f", stopped by {last.stopped_by}" if last.stopped_by else "")
        )
    if status.running_pid is not None:
        lines.append(
            f"a run is in progress (pid {status.running_pid}); these figures are from before it"
        )
    if counts.statuses[Status.FAILED]:
        lines.append(f"re-run the failed rows: batchedit retry {run_dir}")
    if counts.statuses[Status.UNKNOWN]:
        lines.append(
            "unknown rows may have been paid for: check the service, then "
            f"batchedit retry {run_dir} --status unknown"
        )
    return lines


#: `status --history`'s columns: the counts shown of every run's statuses.
HISTORY_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.UNKNOWN, Status.PENDING)


def read_run_history(run_dir: Path) -> RunHistory:
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run directory")
    return read_history(RunPaths(run_dir))


def history_lines(run_dir: Path, history: RunHistory) -> list[str]:
    """A table, one line per run (date and time of its start, UTC)."""
    if not history.runs:
        return [f"{run_dir}: no run has ended yet (history.jsonl is written as each run ends)"]
    header = ("started (UTC)", "duration", "exit", "paid", "spend")
    rows = [header + tuple(status.value for status in HISTORY_STATUSES)]
    rows.extend(_history_row(entry) for entry in history.runs)
    widths = [max(len(row[n]) for row in rows) for n in range(len(header) + len(HISTORY_STATUSES))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _history_row(entry: RunEntry) -> tuple[str, ...]:
    started = entry.started_at.replace("T", " ")[:16]
    spend = "-" if entry.spend is None else f"{entry.spend:.2f} {entry.currency}".strip()
    counts = tuple(
        "-" if (n := entry.count(status.value)) is None else str(n) for status in HISTORY_STATUSES
    )
    duration = format_seconds(entry.wall_time_s)
    return (started, duration, str(entry.exit_code), str(entry.paid_submissions), spend, *counts)
