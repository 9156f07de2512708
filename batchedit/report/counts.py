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

from batchedit.records import Check, ErrorCategory, ReportRecord, Status
from batchedit.state.rerun import (
    PAID_ACTIONS,
    Action,
    Standing,
    retried_by_default,
    standing_action,
)


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
        counted = Counted.of(record)
        example = "" if record.error is None else f"{record.id}: {record.error.message}"
        self.add_counted(counted, example)

    def add_counted(self, counted: Counted, example: str = "") -> None:
        """Count a record by its `Counted` summary; `example` ("id: message") is
        kept if it is the first of its category (`needs_example` says whether)."""
        self.rows += 1
        self.statuses[counted.status] += 1
        self.checks.update(counted.checks)
        if counted.again == AGAIN_FREE:
            self.free_again += 1
        elif counted.again == AGAIN_PAID:
            self.paid_again += 1
        elif counted.again == AGAIN_UNSENT:
            self.unsent += 1
        category = counted.category
        if category is None:
            return
        self.categories[category] += 1
        self.by_status.setdefault(counted.status, Counter())[category] += 1
        self.examples.setdefault(category, example)

    def needs_example(self, counted: Counted) -> bool:
        return counted.category is not None and counted.category not in self.examples

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


AGAIN_FREE, AGAIN_PAID, AGAIN_UNSENT, AGAIN_NONE = "free", "paid", "unsent", "-"


@dataclass(frozen=True, slots=True)
class Counted:
    """What `ReportCounts.add` counts of a record, and nothing more, so that a
    report line can be counted again without being read back (report/draft.py
    keeps it as text beside each drafted line)."""

    status: Status
    category: ErrorCategory | None  # only where it is counted: the row did not succeed
    checks: tuple[Check, ...]
    again: str  # what running the row again costs: AGAIN_FREE, _PAID, _UNSENT or _NONE

    @classmethod
    def of(cls, record: ReportRecord) -> Counted:
        error = record.error
        counted = error is not None and record.status is not Status.SUCCEEDED
        return cls(
            record.status,
            error.category if counted and error is not None else None,
            record.checks,
            _cost_again(record),
        )

    def to_text(self) -> str:
        """Tab-free: `status category checks again`, "-" for none."""
        category = "-" if self.category is None else self.category.value
        checks = ",".join(check.value for check in self.checks) or "-"
        return f"{self.status.value} {category} {checks} {self.again}"

    @classmethod
    def from_text(cls, text: str) -> Counted:
        status, category, checks, again = text.split(" ")
        return cls(
            Status(status),
            None if category == "-" else ErrorCategory(category),
            () if checks == "-" else tuple(Check(name) for name in checks.split(",")),
            again,
        )


def _cost_again(record: ReportRecord) -> str:
    """What running this row again would cost, for the closing lines' advice,
    by the rule the plan and the run follow (state/rerun.py): free where a
    plain re-run polls, unsent where it submits (paid, as planned), paid
    where only a plain `batchedit retry` would re-run it."""
    if record.status in (Status.SUCCEEDED, Status.INVALID):
        return AGAIN_NONE
    error, resume = record.error, record.resume
    category = None if error is None else error.category
    standing = Standing(
        record.status, record.task_id, category, resume is not None and resume.refused
    )
    plain = standing_action(standing, retrying=False)
    if plain is Action.POLL:
        return AGAIN_FREE
    if plain in PAID_ACTIONS:
        return AGAIN_UNSENT
    if retried_by_default(record.status, category):
        return AGAIN_PAID
    return AGAIN_NONE
