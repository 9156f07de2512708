"""Progress bars on a terminal: submitted and finished rows, with the failed
count beside them. Silent (no bar at all) when stderr is not a terminal or
the user asked for `--no-progress`, so logs and CI output stay clean."""

from __future__ import annotations

from collections import Counter
from types import TracebackType

from tqdm import tqdm

from .records import Status


class Progress:
    def __init__(self, total_rows: int, *, enabled: bool) -> None:
        self._statuses: Counter[Status] = Counter()
        self._submitted = tqdm(
            total=total_rows, desc="submitted", unit="row", disable=not enabled, position=0
        )
        self._finished = tqdm(
            total=total_rows, desc="finished ", unit="row", disable=not enabled, position=1
        )

    def submitted(self) -> None:
        self._submitted.update(1)

    def finished(self, status: Status) -> None:
        self._statuses[status] += 1
        self._finished.update(1)
        not_ok = sum(n for s, n in self._statuses.items() if s is not Status.SUCCEEDED)
        if not_ok:
            self._finished.set_postfix(not_succeeded=not_ok, refresh=False)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._submitted.close()
        self._finished.close()
