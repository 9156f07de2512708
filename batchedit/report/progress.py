"""Progress bars on a terminal: rows submitted, rows finished with an ETA, and
beside them the tasks in flight and the rows that failed.

The totals are the plan's, not the manifest's: the submitted bar counts
toward this run's paid submissions, the finished bar toward the rows this run
acts on (submits, polls, downloads again). Rows settled by an earlier run or
invalid are counted beside the bars (`settled`), so a nightly run that
submits 5 rows of 307 ends at 5/5, not at 5/307 looking aborted.

Silent (no bar at all) when stderr is not a terminal or the user asked for
`--no-progress`, so logs and CI output stay clean; the CLI routes log lines
around the bars (tqdm's logging redirect), so a warning never tears a bar.
The counts live here, not in tqdm, so they are the same whether bars show.
"""

from __future__ import annotations

from collections import Counter
from types import TracebackType
from typing import TextIO

from tqdm import tqdm

from batchedit.records import Status

#: Statuses counted as failures beside the bar (invalid rows were never sent).
FAILED_STATUSES = (Status.FAILED, Status.UNKNOWN)
BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"


class Progress:
    def __init__(
        self,
        total_work: int,
        *,
        enabled: bool,
        submits: int | None = None,
        file: TextIO | None = None,
    ) -> None:
        self.statuses: Counter[Status] = Counter()
        self.total_work = total_work  # the rows this run acts on: the finished bar's total
        self.settled_rows = 0
        self.in_flight = 0
        options = {"unit": "row", "disable": not enabled, "file": file}
        submit_total = total_work if submits is None else submits
        self._submitted = tqdm(desc="submitted", position=0, total=submit_total, **options)  # type: ignore[call-overload]
        self._finished = tqdm(
            desc="finished ", position=1, bar_format=BAR_FORMAT, total=total_work, **options
        )  # type: ignore[call-overload]

    @property
    def done(self) -> int:
        """Rows this run acted on that reached their final status."""
        return sum(self.statuses.values()) - self.settled_rows

    @property
    def failed(self) -> int:
        return sum(self.statuses[status] for status in FAILED_STATUSES)

    def postfix(self) -> str:
        parts = [f"{self.in_flight} in flight", f"{self.failed} failed"]
        if invalid := self.statuses[Status.INVALID]:
            parts.append(f"{invalid} invalid")
        return ", ".join(parts)

    def submitted(self, *, in_flight: int | None = None) -> None:
        """A paid task was accepted; `in_flight` is the count at the service now."""
        self._update(self._submitted, in_flight)

    def finished(self, status: Status, *, in_flight: int | None = None) -> None:
        """A row this run acted on reached its final status."""
        self.statuses[status] += 1
        self._update(self._finished, in_flight)

    def settled(self, status: Status, count: int = 1) -> None:
        """Rows this run leaves alone (settled earlier, or invalid): counted,
        not on the bar, whose total is this run's work."""
        self.statuses[status] += count
        self.settled_rows += count
        if not self._finished.disable:  # nothing drawn: a no-op re-run counts 100,000 here
            self._finished.set_postfix_str(self.postfix(), refresh=False)

    def _update(self, bar: tqdm[None], in_flight: int | None) -> None:
        if in_flight is not None:
            self.in_flight = in_flight
        if bar.disable:
            return  # nothing is drawn
        try:
            bar.update(1)
            self._finished.set_postfix_str(self.postfix(), refresh=False)  # at tqdm's pace
        except (OSError, ValueError):  # the terminal went away: bars off, the run goes on
            self._hide()

    def _hide(self) -> None:
        for each in (self._submitted, self._finished):
            each.disable = True

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for each in (self._submitted, self._finished):
            try:
                each.close()
            except (OSError, ValueError):  # a closed terminal must not turn an end into a crash
                each.disable = True
