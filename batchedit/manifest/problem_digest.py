"""Validation problems grouped for people: one line per kind of problem.

Three hundred rows failing for the same reason are one fact, not three
hundred lines; nor are fifty thousand rows whose image files are missing,
each under its own name. A digest groups problems by file, field and kind
(`Problem.kind`: the message with its varying part left out; without one,
the message itself), keeps the first few lines of each group with their
varying part (one per value, where values repeat), and counts the rest with
the span of lines they are on, so
what is printed grows with the kinds of problem, not with the rows. A group
of one reads `FILE:LINE: message`, as before; a repeated message

    313 rows: aspect_ratio '4x5' is not allowed ...; first at catalog.csv:2, 3, 4
    and 310 more rows: lines 5-314

and a kind whose rows differ

    50000 rows: image file not found; e.g. catalog.csv:2 (img/0.png),
    3 (img/1.png), 4 (img/2.png) and 49997 more rows: lines 5-50001

(each one line, cut here to fit)
Memory is bounded: a group keeps a few examples and three numbers; past
`max_groups` kinds, problems are only counted, and the lines say so (the
full list is `validate --json`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from batchedit.records import Problem

LINES_SHOWN = 3
MAX_GROUPS = 10_000
#: A varying part longer than this is cut in an example (a data: URI, say).
MAX_DETAIL_CHARS = 80


@dataclass(slots=True)
class ProblemGroup:
    """Problems with the same file, field and kind."""

    file: str
    field: str | None
    message: str  # the first problem's; the group's words while every message is the same
    kind: str
    same: bool = True  # every message of the group is `message`
    lines: list[int] = dataclasses.field(default_factory=list)  # the first LINES_SHOWN
    details: list[str | None] = dataclasses.field(default_factory=list)  # theirs
    count: int = 0
    rest_first: int = 0  # the first and last line of the problems not shown
    rest_last: int = 0

    def add(self, problem: Problem) -> None:
        self.count += 1
        if self.same and problem.message != self.message:
            self.same = False
            self._one_example_per_value()
        # Examples differ where the rows do: the first row of each of the first
        # few values (300 rows of '3K' and one of '0Q' show both).
        if len(self.lines) < LINES_SHOWN and (self.same or problem.detail not in self.details):
            self.lines.append(problem.line)
            self.details.append(problem.detail)
        else:
            self._to_rest(problem.line)

    def _one_example_per_value(self) -> None:
        """Once the messages differ, a repeated value is no example: its rows join the rest."""
        lines, details = self.lines, self.details
        self.lines, self.details = [], []
        for line, detail in zip(lines, details, strict=True):
            if detail in self.details:
                self._to_rest(line)
            else:
                self.lines.append(line)
                self.details.append(detail)

    def _to_rest(self, line: int) -> None:
        if not self.rest_first or line < self.rest_first:
            self.rest_first = line
        self.rest_last = max(self.rest_last, line)

    def line(self) -> str:
        if self.count == 1:
            return f"{self.file}:{self.lines[0]}: {self.message}"
        if self.same:
            shown = ", ".join(str(n) for n in self.lines)
            return f"{self.count} rows: {self.message}; first at {self.file}:{shown}{self._rest()}"
        examples = ", ".join(
            str(line) if detail is None else f"{line} ({_cut(detail)})"
            for line, detail in zip(self.lines, self.details, strict=True)
        )
        return f"{self.count} rows: {self.kind}; e.g. {self.file}:{examples}{self._rest()}"

    def _rest(self) -> str:
        """Where the problems not shown are: `and 310 more rows: lines 5-314`."""
        more = self.count - len(self.lines)
        if more <= 0:
            return ""
        first, last = self.rest_first, self.rest_last
        if more == 1:
            where = f"line {first}"
        elif last - first + 1 == more:
            where = f"lines {first}-{last}"
        else:
            where = f"between lines {first} and {last}"
        return f" and {more} more {'row' if more == 1 else 'rows'}: {where}"

    def to_json(self) -> dict[str, object]:
        """The group as the `problem` event's fields (`--log-format json`)."""
        return {
            "file": self.file,
            "line": self.lines[0],
            "field": self.field,
            "kind": self.kind,
            "rows": self.count,
            "lines": self.lines,
            "examples": [detail for detail in self.details if detail is not None],
            "rest_lines": [self.rest_first, self.rest_last] if self.rest_first else None,
        }


def _cut(detail: str) -> str:
    return detail if len(detail) <= MAX_DETAIL_CHARS else detail[: MAX_DETAIL_CHARS - 3] + "..."


@dataclass(slots=True)
class ProblemDigest:
    """Problems added one at a time, grouped; bounded however many are added."""

    max_groups: int = MAX_GROUPS
    groups: dict[tuple[str, str | None, str], ProblemGroup] = dataclasses.field(
        default_factory=dict
    )
    total: int = 0
    ungrouped: int = 0  # problems past max_groups kinds: only counted

    def add(self, problem: Problem) -> None:
        self.total += 1
        key = (problem.file, problem.field, problem.group)
        group = self.groups.get(key)
        if group is None:
            if len(self.groups) >= self.max_groups:
                self.ungrouped += 1
                return
            group = self.groups[key] = ProblemGroup(
                problem.file, problem.field, problem.message, problem.group
            )
        group.add(problem)

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
