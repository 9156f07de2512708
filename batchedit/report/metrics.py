"""`--metrics-file PATH`: the run in Prometheus' text format, for
node_exporter's textfile collector (or any scraper that reads a file).

Written through `prometheus_client`'s own exposition (so the format is the
one Prometheus parses), atomically (fsutil: aside, fsync, rename; the
collector never reads half a file): every 15 s while the run goes and once
when it ends. Every sample carries a `run_dir` label, so several jobs'
files in one collector's folder never clash.

    batchedit_rows{status}                       rows by status (pending: not finished yet)
    batchedit_paid_submissions_total             paid submits of this run
    batchedit_spend{currency}                    this run's spend (with a price table)
    batchedit_unknown_outcomes_total             submits of this run whose outcome is unknown
    batchedit_api_requests_total{kind}           API requests of this run by kind
    batchedit_rate_limited_total                 429 answers about the request rate
    batchedit_task_latency_seconds{quantile}     this run's task latencies (a summary)
    batchedit_running                            1 while the run goes, 0 once it ended
    batchedit_run_started_timestamp_seconds      when this run started
    batchedit_last_run_exit_code                 the exit code of the last run that ended
    batchedit_last_success_timestamp_seconds     when the last completed run (exit 0 or 1) ended

While a run goes, the last run is the one before it (from the history);
once it ends, itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from batchedit.fsutil import atomic_write_bytes
from batchedit.report.summary import percentile

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

PREFIX = "batchedit_"
QUANTILES = (0.5, 0.9, 0.95, 0.99)


@dataclass(frozen=True, slots=True)
class RunFigures:
    """What the metrics file says, gathered by the pipeline (nightly.py)."""

    run_dir: str
    statuses: Mapping[str, int]  # every status, pending included
    paid_submissions: int
    unknown_outcomes: int
    requests: Mapping[str, int]
    rate_limited: int
    latencies_s: Sequence[float]
    running: bool
    started_s: float  # Unix time
    spend: float | None = None  # None: no price table
    currency: str = ""
    last_exit_code: int | None = None  # None: no run of the directory has ended yet
    last_success_s: float | None = None  # Unix time; None: none completed yet


def metrics_text(figures: RunFigures) -> bytes:
    """The figures in the Prometheus text format (version 0.0.4)."""
    # Imported here: a run without --metrics-file never pays for the import.
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(figures))
    return generate_latest(registry)


def write_metrics(path: Path, figures: RunFigures) -> None:
    """Write the file whole or not at all. Synchronous: callers use a thread."""
    atomic_write_bytes(path, metrics_text(figures))


class _Collector:
    """The figures as metric families, each sample labelled with the run directory."""

    def __init__(self, figures: RunFigures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        f = self.figures
        where = [f.run_dir]

        def gauge(name: str, doc: str, value: float | None) -> Iterator[Metric]:
            if value is not None:
                family = GaugeMetricFamily(PREFIX + name, doc, labels=["run_dir"])
                family.add_metric(where, value)
                yield family

        def counter(name: str, doc: str, value: float) -> Metric:
            family = CounterMetricFamily(PREFIX + name, doc, labels=["run_dir"])
            family.add_metric(where, value)
            return family

        rows = GaugeMetricFamily(
            PREFIX + "rows", "Rows of the manifest by status", labels=["run_dir", "status"]
        )
        for status, count in f.statuses.items():
            rows.add_metric([*where, status], count)
        yield rows
        yield counter("paid_submissions", "Paid submits of this run", f.paid_submissions)
        if f.spend is not None:
            spend = GaugeMetricFamily(
                PREFIX + "spend",
                "This run's spend, from the price table",
                labels=["run_dir", "currency"],
            )
            spend.add_metric([*where, f.currency], f.spend)
            yield spend
        yield counter(
            "unknown_outcomes", "Submits of this run whose outcome is unknown", f.unknown_outcomes
        )
        requests = CounterMetricFamily(
            PREFIX + "api_requests", "API requests of this run by kind", labels=["run_dir", "kind"]
        )
        for kind, count in f.requests.items():
            requests.add_metric([*where, kind], count)
        yield requests
        yield counter("rate_limited", "429 answers about the request rate", f.rate_limited)
        yield self._latency()
        yield from gauge("running", "1 while the run goes", 1.0 if f.running else 0.0)
        yield from gauge("run_started_timestamp_seconds", "When this run started", f.started_s)
        yield from gauge(
            "last_run_exit_code",
            "Exit code of the last run of the directory that ended",
            f.last_exit_code,
        )
        yield from gauge(
            "last_success_timestamp_seconds",
            "When the last run that completed (exit 0 or 1) ended",
            f.last_success_s,
        )

    def _latency(self) -> Metric:
        from prometheus_client.metrics_core import Metric

        name = PREFIX + "task_latency_seconds"
        family = Metric(name, "Task latency of this run, submit to result", "summary")
        run_dir = self.figures.run_dir
        ordered = sorted(self.figures.latencies_s)
        if ordered:
            for quantile in QUANTILES:
                labels = {"run_dir": run_dir, "quantile": str(quantile)}
                family.add_sample(name, labels, percentile(ordered, quantile))
        family.add_sample(name + "_count", {"run_dir": run_dir}, len(ordered))
        family.add_sample(name + "_sum", {"run_dir": run_dir}, sum(ordered))
        return family
