"""What a run is given (RunConfig) and how it ended (RunOutcome): the two
records that cross between the launcher, the pipeline and the tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from batchedit.api.client import RetryPolicy, ServiceLimits
from batchedit.api.endpoint import Endpoint
from batchedit.errors import FatalApiError, LocalFailure
from batchedit.manifest.job import JobSettings
from batchedit.pipeline.breaker import BreakerSettings
from batchedit.pipeline.gate import BY_FAILURE_BRAKE
from batchedit.pipeline.resume import RetryScope
from batchedit.pipeline.scheduler import LatencyAwarePolicy, Policy, PollPolicy, RateSource
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
    written: RunSummary | None  # None: the report and summary could not be written
    fatal: FatalApiError | None
    interrupted: bool = False
    halted: str | None = None  # why submitting stopped early, and what to do
    local_failure: LocalFailure | None = None  # the disk, the system or a bug stopped the run
    halted_by: str | None = None  # "max_unknown" (exit 3) or "halt_on_failure" (exit 1)
    report_error: str | None = None  # why report.jsonl and summary.json are not written

    @property
    def summary(self) -> RunSummary:
        """The summary written; only a run whose report was written has one."""
        if self.written is None:
            raise AssertionError(f"no summary: {self.report_error}")
        return self.written

    @property
    def exit_code(self) -> int:
        """The contract's codes: 0 all succeeded, 1 some did not (or the failure
        brake stopped submitting), 3 a fatal API stop (or the unknown-outcome
        budget spent), 4 a local failure, 130 stopped by a signal."""
        if self.local_failure is not None:
            return 4
        braked = self.halted_by == BY_FAILURE_BRAKE
        if self.fatal is not None or (self.halted is not None and not braked):
            return 3
        if self.interrupted:
            return 130
        if self.written is None:
            return 4
        if self.halted is not None:
            return 1
        return 0 if self.summary.counts.all_succeeded else 1
