"""Validation problems grouped for people: one line per distinct message.

Three hundred rows failing for the same reason are one fact, not three
hundred lines: a digest groups problems by file, field and message, keeps the
first few line numbers of each group and counts the rest, so what is printed
grows with the kinds of problem, not with the rows. A group read alone is
`FILE:LINE: message`, as before; a repeated one reads

    313 rows: aspect_ratio '4x5' is not allowed ...; first at catalog.csv:2, 3, 4 and 310 more

Memory is bounded: past `max_groups` distinct messages, problems are only
counted, and the lines say so (the full list is `validate --json`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from batchedit.records import Problem

LINES_SHOWN = 3
MAX_GROUPS = 10_000


@dataclass(slots=True)
class ProblemGroup:
    """Problems with the same file, field and message."""

    file: str
    field: str | None
    message: str
    lines: list[int] = dataclasses.field(default_factory=list)  # the first LINES_SHOWN
    count: int = 0

    def line(self) -> str:
        if self.count == 1:
            return f"{self.file}:{self.lines[0]}: {self.message}"
        shown = ", ".join(str(n) for n in self.lines)
        more = self.count - len(self.lines)
        tail = f" and {more} more" if more > 0 else ""
        return f"{self.count} rows: {self.message}; first at {self.file}:{shown}{tail}"


@dataclass(slots=True)
class ProblemDigest:
    """Problems added one at a time, grouped; bounded however many are added."""

    max_groups: int = MAX_GROUPS
    groups: dict[tuple[str, str | None, str], ProblemGroup] = dataclasses.field(
        default_factory=dict
    )
    total: int = 0
    ungrouped: int = 0  # problems past max_groups distinct messages: only counted

    def add(self, problem: Problem) -> None:
        self.total += 1
        key = (problem.file, problem.field, problem.message)
        group = self.groups.get(key)
        if group is None:
            if len(self.groups) >= self.max_groups:
                self.ungrouped += 1
                return
            group = self.groups[key] = ProblemGroup(problem.file, problem.field, problem.message)
        group.count += 1
        if len(group.lines) < LINES_SHOWN:
            group.lines.append(problem.line)

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.add(problem)

    def lines(self, *, limit: int | None = None, full_list: str = "") -> list[str]:
        """One line per group, in order of first appearance, at most `limit`
        of them; a last line says how many more and where they all are."""
        groups = list(self.groups.values())
        shown = groups if limit is None else groups[:limit]
        lines = [group.line() for group in shown]
        hidden = sum(group.count for group in groups[len(shown) :]) + self.ungrouped
        if hidden:
            where = f"; {full_list}" if full_list else ""
            lines.append(f"... and {hidden} more problem(s){where}")
        return lines
