"""What a run is given (RunConfig) and how it ended (RunOutcome): the two
records that cross between the launcher, the pipeline and the tests; and
RunRefused, for a run that must not start."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from batchedit.api.client import RetryPolicy, ServiceLimits
from batchedit.api.endpoint import Endpoint
from batchedit.errors import FatalApiError, ReportNotWritten
from batchedit.manifest.job import JobSettings
from batchedit.pipeline.plan.resume import RetryScope
from batchedit.pipeline.poll.scheduler import LatencyAwarePolicy, Policy, PollPolicy, RateSource
from batchedit.pipeline.stop import StopReason, exit_code
from batchedit.pipeline.submit.breaker import BreakerSettings
from batchedit.report.summary import RunSummary
from batchedit.state.rundir import RunPaths


@dataclass(frozen=True, slots=True)
class RunConfig:
    job: JobSettings
    paths: RunPaths
    endpoint: Endpoint
    show_progress: bool = False
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: `batchedit retry`: act only on the rows it selects; None for a plain run.
    retry_rows: RetryScope | None = None
    #: Paid submissions the plan counted; a `max_unknown` share is of these (None: the rows).
    planned_submits: int | None = None
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    #: At a stop, how long submits already sent may take to be answered before cancelling.
    stop_grace_s: float = 5.0
    #: The per-user cache of task durations (`latency_store.py`); None: not used.
    latency_cache_dir: Path | None = None
    #: How often `--metrics-file` is rewritten, and a `progress` event logged (nightly.py).
    metrics_interval_s: float = 15.0
    progress_interval_s: float = 30.0

    def limits(self) -> ServiceLimits:
        """The bounds the client puts on the service's answers, from the job."""
        return ServiceLimits(
            request_timeout_s=self.job.request_timeout_s,
            max_wait_s=self.job.max_wait_s,
            allow_private_downloads=self.job.allow_private_downloads,
        )

    def poll_policy(self, rate: RateSource | None = None) -> Policy:
        """A fixed interval when the job asks for one, else latency-aware polling,
        planned against the request budget `rate` (given or learned)."""
        if self.job.poll_interval_s is not None:
            return PollPolicy(self.job.poll_interval_s)
        return LatencyAwarePolicy(
            concurrency=self.job.concurrency, requests_per_s=self.job.rate_limit, rate=rate
        )


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How a run ended: its summary (when written), and the stop, if any,
    that ended it before its work was done."""

    written: RunSummary | None  # None: the report and summary could not be written
    stop: StopReason | None = None  # None: the run went to its end
    why: str | None = None  # the stop in words: the answer, the failure, the guard and what to do
    fatal: FatalApiError | None = None  # the answer behind a FATAL_API stop
    report_error: str | None = None  # why report.jsonl and summary.json are not written

    @property
    def summary(self) -> RunSummary:
        """The summary written; a run whose report could not be written has none,
        and asking for it raises the local failure that prevented it."""
        if self.written is None:
            raise ReportNotWritten(
                f"report.jsonl and summary.json not written: {self.report_error}"
            )
        return self.written

    @property
    def stopped_by(self) -> str | None:
        """summary.json's `stopped_by`: the stop's name, or for a fatal answer its
        error category (`auth`, `payment`, ...), as earlier versions wrote it."""
        if self.stop is StopReason.FATAL_API and self.fatal is not None:
            return self.fatal.category.value
        if self.stop in (StopReason.LOCAL_FAILURE, StopReason.INTERNAL_ERROR):
            return StopReason.LOCAL_FAILURE.value
        return None if self.stop is None else self.stop.value


def run_exit_code(outcome: RunOutcome) -> int:
    """The contract's exit code of a run that started: 0 every row succeeded, 1
    some did not, else its stop's (`stop.exit_code`, the one table). The command
    line exits with it; the history of runs and the metrics record it."""
    written = outcome.written
    return exit_code(outcome.stop, None if written is None else written.counts.all_succeeded)
