"""The one tally of report records: rows by status, failures by error category,
rows by failed output check.

Writing the report, merging shards' reports, `batchedit status` and the review
page's header all count the same records, so they count them here, the same
way: a category is counted only for a row that did not succeed (a succeeded
row's error, if any, is history), with the first such row's message kept as
an example. summary.json's count fields come from `to_json`, in one place.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from batchedit.records import POLLABLE_FAILURES, Check, ErrorCategory, ReportRecord, Status


@dataclass(slots=True)
class ReportCounts:
    """Counts of report records, added one at a time (constant memory per category)."""

    rows: int = 0
    statuses: Counter[Status] = field(default_factory=Counter)
    categories: Counter[ErrorCategory] = field(default_factory=Counter)
    #: Per status, its rows by error category (what `batchedit status` prints).
    by_status: dict[Status, Counter[ErrorCategory]] = field(default_factory=dict)
    #: Per category, "id: message" of the first row counted in it.
    examples: dict[ErrorCategory, str] = field(default_factory=dict)
    #: Rows whose stored outputs failed each check (succeeded or not: files kept).
    checks: Counter[Check] = field(default_factory=Counter)
    #: Rows a plain re-run continues for free: a known task to poll or download again.
    free_again: int = 0
    #: Failed rows only `retry` repeats, paying a submit each.
    paid_again: int = 0
    #: Pending rows never accepted: a plain re-run submits them (paid, as planned).
    unsent: int = 0

    def add(self, record: ReportRecord) -> None:
        self.rows += 1
        self.statuses[record.status] += 1
        self.checks.update(record.checks)
        self._add_cost_again(record)
        if record.error is None or record.status is Status.SUCCEEDED:
            return
        category = record.error.category
        self.categories[category] += 1
        self.by_status.setdefault(record.status, Counter())[category] += 1
        self.examples.setdefault(category, f"{record.id}: {record.error.message}")

    def _add_cost_again(self, record: ReportRecord) -> None:
        """What running this row again would cost, for the closing lines' advice."""
        if record.status is Status.PENDING:
            if record.task_id:
                self.free_again += 1
            else:
                self.unsent += 1
        elif record.status is Status.FAILED:
            error = record.error
            if error is not None and error.category in POLLABLE_FAILURES and record.task_id:
                self.free_again += 1
            else:
                self.paid_again += 1

    @property
    def all_succeeded(self) -> bool:
        """Every row counted succeeded (vacuously so for none): exit 0 rather than 1."""
        return self.statuses[Status.SUCCEEDED] == self.rows

    def to_json(self) -> dict[str, Any]:
        """The count fields of summary.json (a run's and a merge's alike), keys sorted."""
        return {
            "rows": self.rows,
            "statuses": {s.value: n for s, n in sorted(self.statuses.items())},
            "error_categories": {c.value: n for c, n in sorted(self.categories.items())},
            "error_examples": {c.value: text for c, text in sorted(self.examples.items())},
            "checks": {c.value: n for c, n in sorted(self.checks.items())},
        }
