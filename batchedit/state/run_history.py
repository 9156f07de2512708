"""`history.jsonl`: one line per run of the directory that ended, however it
ended, for `batchedit status --history`, the metrics' last success and the
operator who wants to know what last night did.

A run appends its line when it ends (jsonlines.append_lines: fsynced, a torn
last line of an earlier crash cut off first), after the report is written or
found unwritable; a run killed with `kill -9` leaves no line, since it never
ended. The file is small (a line a night) and read whole.

    {"v":1,"started_at":"…","ended_at":"…","wall_time_s":812.4,"exit_code":3,
     "stopped_by":"max_spend","paid_submissions":10,"spend":1.0,"currency":"EUR",
     "statuses":{"succeeded":10,"pending":20}}

`spend` is null without a price table; `statuses` is null when the report
could not be written (a full disk), since then nothing counted the rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from batchedit.errors import SourceError
from batchedit.jsonlines import append_lines, dumps_text, loads, read_lines
from batchedit.state.rundir import RunPaths

FORMAT_VERSION = 1
#: Exit codes of a run that completed (every row tried): 0 all succeeded, 1 some did not.
COMPLETED_EXITS = (0, 1)


@dataclass(frozen=True, slots=True)
class RunEntry:
    """One run that ended."""

    started_at: str  # ISO 8601 UTC
    ended_at: str
    wall_time_s: float
    exit_code: int
    paid_submissions: int
    spend: float | None = None  # None: no price table
    currency: str = ""
    statuses: Mapping[str, int] | None = None  # None: the report was not written
    stopped_by: str | None = None

    @property
    def completed(self) -> bool:
        """Every row was tried: exit 0, or 1 with some rows not succeeded."""
        return self.exit_code in COMPLETED_EXITS

    def count(self, status: str) -> int | None:
        return None if self.statuses is None else self.statuses.get(status, 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "wall_time_s": round(self.wall_time_s, 3),
            "exit_code": self.exit_code,
            "stopped_by": self.stopped_by,
            "paid_submissions": self.paid_submissions,
            "spend": None if self.spend is None else round(self.spend, 6),
            "currency": self.currency,
            "statuses": None if self.statuses is None else dict(self.statuses),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunEntry:
        statuses = data.get("statuses")
        spend = data.get("spend")
        return cls(
            started_at=str(data["started_at"]),
            ended_at=str(data["ended_at"]),
            wall_time_s=float(data["wall_time_s"]),
            exit_code=int(data["exit_code"]),
            paid_submissions=int(data["paid_submissions"]),
            spend=None if spend is None else float(spend),
            currency=str(data.get("currency") or ""),
            statuses=None
            if statuses is None
            else {str(name): int(n) for name, n in dict(statuses).items()},
            stopped_by=None if data.get("stopped_by") is None else str(data["stopped_by"]),
        )


@dataclass(frozen=True, slots=True)
class RunHistory:
    """Every run of a directory that ended, oldest first."""

    runs: tuple[RunEntry, ...] = field(default_factory=tuple)

    @property
    def last(self) -> RunEntry | None:
        return self.runs[-1] if self.runs else None

    @property
    def last_completed(self) -> RunEntry | None:
        """The latest run that completed (exit 0 or 1): the metrics' last success."""
        return next((run for run in reversed(self.runs) if run.completed), None)


def append_run(paths: RunPaths, entry: RunEntry) -> None:
    """Add the run's line, durably. Synchronous: callers run it in a thread."""
    append_lines(paths.history, dumps_text(entry.to_json()) + "\n")


def read_history(paths: RunPaths) -> RunHistory:
    """The directory's runs; empty when none has ended yet. A torn last line
    (a crash mid-append) is skipped; any other line that is not a run raises
    SourceError naming FILE:LINE."""
    runs: list[RunEntry] = []
    for line in read_lines(paths.history):
        try:
            data = loads(line.text)
            if not isinstance(data, Mapping):
                raise TypeError("not a JSON object")
            runs.append(RunEntry.from_json(data))
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceError(str(paths.history), line.number, f"is not a run: {exc}") from exc
    return RunHistory(tuple(runs))
