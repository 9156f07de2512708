"""summary.json and the lines a person reads when a run ends.

Counts come from the report (every row of the manifest); requests, bytes and
latencies from this run alone, so a re-run's summary says what it cost.
"""

from __future__ import annotations

import json
import shlex
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from batchedit.errors import SourceError
from batchedit.fsutil import atomic_write_bytes
from batchedit.records import Status
from batchedit.report.counts import ReportCounts
from batchedit.report.spend import SpendTally
from batchedit.state.rundir import RunPaths

MAX_EXAMPLE_CHARS = 120
#: Shared task ids named in the closing lines, and rows named per id.
MAX_NAMED_TASK_IDS = 5
MAX_NAMED_ROWS = 5
T = TypeVar("T")


@dataclass(slots=True)
class RunStats:
    """Figures gathered while the run goes; a float per finished task at most."""

    started_at: str
    latencies_s: array[float] = field(default_factory=lambda: array("d"))
    paid_submissions: int = 0
    #: Settled rows whose lost files could not be fetched again: results expired.
    results_expired: int = 0
    spend: SpendTally | None = None  # None: no price table
    #: Task ids the service gave to more than one row (a few, with a few row ids
    #: each) and how many rows were given one: the closing lines name them.
    shared_task_ids: dict[str, list[str]] = field(default_factory=dict)
    shared_task_rows: int = 0

    def record_latency(self, seconds: float) -> None:
        self.latencies_s.append(seconds)

    def paid(self, model: str, price: float | None) -> None:
        """One paid submit (accepted, or whose outcome is unknown): counted, and
        its price added to the spend. Only the submit gate calls it (`Turn.paid`)."""
        self.paid_submissions += 1
        if self.spend is not None:
            self.spend.add(model, price)

    def record_shared_task(self, task_id: str, row_id: str) -> None:
        """`row_id` was given `task_id`, which another row of the run holds too."""
        self.shared_task_rows += 1
        named = self.shared_task_ids.get(task_id)
        if named is None and len(self.shared_task_ids) < MAX_NAMED_TASK_IDS:
            named = self.shared_task_ids[task_id] = []
        if named is not None and len(named) < MAX_NAMED_ROWS and row_id not in named:
            named.append(row_id)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def latency_summary(latencies_s: array[float]) -> dict[str, float] | None:
    if not latencies_s:
        return None
    ordered = sorted(latencies_s)
    return {
        "p50": round(percentile(ordered, 0.50), 3),
        "p90": round(percentile(ordered, 0.90), 3),
        "p95": round(percentile(ordered, 0.95), 3),
        "p99": round(percentile(ordered, 0.99), 3),
        "max": round(ordered[-1], 3),
    }


@dataclass(frozen=True, slots=True)
class RunSummary:
    counts: ReportCounts
    stats: RunStats
    requests: Mapping[str, int]
    bytes_downloaded: int
    wall_time_s: float
    finished_at: str
    concurrency: int
    peak_in_flight: int  # most tasks ever in flight at once, from the slots
    stopped_by: str | None  # an error category that stopped the run, or None
    # Absolute paths of what was run, so `report` finds the input images later.
    source: str | None = None
    manifest: str | None = None
    concurrency_settled: int | None = None  # the adaptive in-flight limit at the end
    concurrency_lowest: int | None = None  # the lowest it went after 429s
    #: The request budget at the end (requests/s; None: never bounded), whether it
    #: was learned (no --rate-limit), and the 429s about the request rate.
    request_rate_per_s: float | None = None
    request_rate_learned: bool = False
    rate_limited_answers: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            **self.counts.to_json(),
            "paid_submissions": self.stats.paid_submissions,
            "spend": None if self.stats.spend is None else self.stats.spend.to_json(),
            "requests": dict(self.requests),
            "bytes_downloaded": self.bytes_downloaded,
            "wall_time_s": round(self.wall_time_s, 3),
            "latency_s": latency_summary(self.stats.latencies_s),
            "concurrency": self.concurrency,
            "peak_in_flight": self.peak_in_flight,
            "concurrency_settled": self.concurrency_settled,
            "concurrency_lowest": self.concurrency_lowest,
            "request_rate": {
                "per_s": None
                if self.request_rate_per_s is None
                else round(self.request_rate_per_s, 3),
                "learned": self.request_rate_learned,
                "rate_limited": self.rate_limited_answers,
            },
            "started_at": self.stats.started_at,
            "finished_at": self.finished_at,
            "stopped_by": self.stopped_by,
            "source": self.source,
            "manifest": self.manifest,
        }

    def write(self, paths: RunPaths) -> None:
        """Synchronous and atomic; the pipeline runs it in a thread."""
        text = json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
        atomic_write_bytes(paths.summary, text.encode())

    def human_lines(self, paths: RunPaths) -> list[str]:
        """The closing lines of a run: what happened, what it cost, what to do next."""
        return closing_lines(self, paths)


@dataclass(frozen=True, slots=True)
class LastRun:
    """summary.json read back: what `status`, `report` and `report merge` take
    from it. Each field is None when the file lacks it or holds another type (a
    summary from another version, or a merged one, which has no latencies):
    the report is the record of the rows, this is only context beside it."""

    finished_at: str | None = None
    wall_time_s: float | None = None
    paid_submissions: int | None = None
    spend: float | None = None  # None: no price table (or an older summary)
    currency: str | None = None
    bytes_downloaded: int | None = None
    requests: Mapping[str, int] = field(default_factory=dict)
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    stopped_by: str | None = None
    source: str | None = None  # absolute paths of what was run
    manifest: str | None = None

    @classmethod
    def from_json(cls, data: object) -> LastRun:
        if not isinstance(data, Mapping):
            return cls()
        latency = data.get("latency_s")
        latency = latency if isinstance(latency, Mapping) else {}
        requests = data.get("requests")
        spend = data.get("spend")
        spend = spend if isinstance(spend, Mapping) else {}
        return cls(
            finished_at=_typed(data.get("finished_at"), str),
            wall_time_s=_number(data.get("wall_time_s")),
            paid_submissions=_typed(data.get("paid_submissions"), int),
            spend=_number(spend.get("amount")),
            currency=_typed(spend.get("currency"), str),
            bytes_downloaded=_typed(data.get("bytes_downloaded"), int),
            requests={
                str(kind): n
                for kind, n in (requests.items() if isinstance(requests, Mapping) else ())
                if isinstance(n, int) and not isinstance(n, bool)
            },
            latency_p50_s=_number(latency.get("p50")),
            latency_p95_s=_number(latency.get("p95")),
            stopped_by=_typed(data.get("stopped_by"), str),
            source=_typed(data.get("source"), str),
            manifest=_typed(data.get("manifest"), str),
        )


def read_last_run(paths: RunPaths) -> LastRun | None:
    """The run directory's summary.json, or None when there is none; a file that
    is not JSON raises SourceError naming it."""
    try:
        text = paths.summary.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return LastRun.from_json(json.loads(text))
    except ValueError as exc:
        raise SourceError(str(paths.summary), None, f"is not valid JSON: {exc}") from exc


def _typed(value: object, kind: type[T]) -> T | None:
    if isinstance(value, bool) and kind is not bool:
        return None
    return value if isinstance(value, kind) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def closing_lines(summary: RunSummary, paths: RunPaths) -> list[str]:
    counts = summary.counts
    order = list(Status)
    by_status = sorted(counts.statuses.items(), key=lambda item: order.index(item[0]))
    statuses = ", ".join(f"{n} {status.value}" for status, n in by_status)
    lines = [f"{counts.rows} rows: {statuses or 'none'}"]
    width = max((len(c) + len(str(n)) for c, n in counts.categories.items()), default=0) + 3
    for category, n in counts.categories.most_common():
        label = f"{category.value} ({n})".ljust(width)
        lines.append(f"  {label} e.g. {_clip(counts.examples.get(category, ''))}")
    if counts.checks:
        failed = ", ".join(f"{n} {check.value}" for check, n in sorted(counts.checks.items()))
        lines.append(f"output checks failed (files kept; see the report's checks): {failed}")
    latency = latency_summary(summary.stats.latencies_s)
    timing = f"wall time {format_seconds(summary.wall_time_s)}"
    if latency is not None:
        timing = f"task latency p50 {latency['p50']:.1f}s, p95 {latency['p95']:.1f}s; " + timing
    lines.append(timing)
    kinds = ", ".join(f"{n} {kind}" for kind, n in summary.requests.items() if n)
    spent = "" if summary.stats.spend is None else f" (spend {summary.stats.spend.text()})"
    lines.append(
        f"paid submissions {summary.stats.paid_submissions}{spent}; requests: "
        f"{kinds or 'none'}; {format_bytes(summary.bytes_downloaded)} written to {paths.outputs}"
    )
    lines.append(f"report: {paths.report}")
    if summary.stats.results_expired:
        lines.append(
            f"{summary.stats.results_expired} row(s) lost their files and their results have "
            "expired: a re-run submits them again (paid; the cost guard counts them)"
        )
    if summary.stats.shared_task_rows:
        lines.append(_shared_task_line(summary.stats))
    lines.extend(next_steps(counts, paths))
    return lines


def _shared_task_line(stats: RunStats) -> str:
    """The rows the service gave one task id to: none of them is settled."""
    named = "; ".join(
        f"{task_id} to {', '.join(rows)}" for task_id, rows in stats.shared_task_ids.items()
    )
    return (
        f"{stats.shared_task_rows} row(s) were given a task id another row was given too "
        f"(a protocol error; each is unknown, its results not taken): {named}"
    )


def next_steps(counts: ReportCounts, paths: RunPaths) -> list[str]:
    """What to do next, free steps first, each saying what it costs."""
    root = shlex.quote(str(paths.root))
    steps = [f"review page: batchedit report {root}"]
    if counts.free_again or counts.unsent:
        parts = []
        if counts.free_again:
            parts.append(f"{counts.free_again} row(s) with a known task looked at again (free)")
        if counts.unsent:
            parts.append(f"{counts.unsent} pending row(s) submitted (paid, as planned)")
        steps.append(f"continue: run the same command again: {'; '.join(parts)}")
    if counts.paid_again:
        steps.append(
            f"re-run failures (paid: resubmits {counts.paid_again} row(s)): batchedit retry {root}"
        )
    if counts.statuses[Status.UNKNOWN]:
        steps.append(
            "unknown outcomes (may be paid already; paid again): "
            f"batchedit retry {root} --status unknown"
        )
    if counts.statuses[Status.INVALID]:
        steps.append(f"fix invalid rows: batchedit report {root} --failed-csv fix.csv")
    return steps


def _clip(text: str, limit: int = MAX_EXAMPLE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def format_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")
