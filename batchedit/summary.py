"""summary.json and the lines a person reads when a run ends.

Counts come from the report (every row of the manifest); requests, bytes and
latencies from this run alone, so a re-run's summary says what it cost.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .fsutil import atomic_write_bytes
from .report import ReportCounts
from .rundir import RunPaths


@dataclass(slots=True)
class RunStats:
    """Figures gathered while the run goes; a float per finished task at most."""

    started_at: str
    latencies_s: array[float] = field(default_factory=lambda: array("d"))
    paid_submissions: int = 0

    def record_latency(self, seconds: float) -> None:
        self.latencies_s.append(seconds)


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

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.counts.rows,
            "statuses": dict(sorted(self.counts.statuses.items())),
            "error_categories": dict(sorted(self.counts.categories.items())),
            "error_examples": dict(sorted(self.counts.examples.items())),
            "paid_submissions": self.stats.paid_submissions,
            "requests": dict(self.requests),
            "bytes_downloaded": self.bytes_downloaded,
            "wall_time_s": round(self.wall_time_s, 3),
            "latency_s": latency_summary(self.stats.latencies_s),
            "concurrency": self.concurrency,
            "peak_in_flight": self.peak_in_flight,
            "started_at": self.stats.started_at,
            "finished_at": self.finished_at,
            "stopped_by": self.stopped_by,
        }

    def write(self, paths: RunPaths) -> None:
        """Synchronous and atomic; the pipeline runs it in a thread."""
        text = json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
        atomic_write_bytes(paths.summary, text.encode())

    def human_lines(self, paths: RunPaths) -> list[str]:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.statuses.items()))
        lines = [f"{self.counts.rows} rows: {statuses or 'none'}"]
        for category, example in sorted(self.counts.examples.items()):
            lines.append(f"  {category} ({self.counts.categories[category]}), e.g. {example}")
        latency = latency_summary(self.stats.latencies_s)
        if latency is not None:
            lines.append(f"task latency p50 {latency['p50']}s, p95 {latency['p95']}s")
        requests = ", ".join(f"{n} {kind}" for kind, n in self.requests.items())
        lines.append(
            f"paid submissions {self.stats.paid_submissions}; requests: {requests}; "
            f"{self.bytes_downloaded} bytes downloaded; wall time {self.wall_time_s:.1f}s"
        )
        lines.append(f"outputs: {paths.outputs}")
        lines.append(f"report:  {paths.report}")
        lines.append(f"summary: {paths.summary}")
        return lines
