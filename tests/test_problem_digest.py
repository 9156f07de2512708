"""The digest groups problems by kind: a repeated message once with its first
lines, a kind whose rows differ with an example per value, and the rest
counted with the span of lines they are on; memory bounded by kinds."""

from __future__ import annotations

from batchedit.manifest.problem_digest import ProblemDigest
from batchedit.records import Problem

KIND = "resolution not allowed for m/x; allowed: one of 1K, 2K, 4K"


def value_problem(line: int, value: str) -> Problem:
    message = f"resolution '{value}' is not allowed for m/x; allowed: 1K, 2K, 4K"
    return Problem("m.csv", line, message, "resolution", KIND, value)


def test_one_value_on_many_rows_reads_as_the_message_with_its_first_lines() -> None:
    digest = ProblemDigest()
    digest.extend(value_problem(line, "3K") for line in range(2, 302))
    assert digest.lines() == [
        f"300 rows: {value_problem(2, '3K').message}; first at m.csv:2, 3, 4 "
        "and 297 more rows: lines 5-301"
    ]


def test_values_that_differ_show_an_example_of_each_and_where_the_rest_are() -> None:
    digest = ProblemDigest()
    digest.extend(value_problem(line, "3K") for line in range(2, 302))
    digest.extend(value_problem(302 + n, f"{n}Q") for n in range(20))
    assert digest.lines() == [
        f"320 rows: {KIND}; e.g. m.csv:2 (3K), 302 (0Q), 303 (1Q) "
        "and 317 more rows: between lines 3 and 321"
    ]
    assert len(digest.groups) == 1


def test_a_problem_without_a_kind_groups_by_its_message() -> None:
    digest = ProblemDigest()
    digest.add(Problem("m.csv", 2, "missing prompt", "prompt"))
    digest.add(Problem("m.csv", 3, "missing id", "id"))
    digest.add(Problem("m.csv", 9, "missing prompt", "prompt"))
    assert digest.lines() == [
        "2 rows: missing prompt; first at m.csv:2, 9",
        "m.csv:3: missing id",
    ]


def test_past_the_kinds_it_keeps_problems_are_counted_and_said_where() -> None:
    digest = ProblemDigest(max_groups=2)
    digest.extend(Problem("m.csv", n, f"message {n}") for n in range(2, 7))
    assert digest.lines(full_list="every one: batchedit validate --json m.csv") == [
        "m.csv:2: message 2",
        "m.csv:3: message 3",
        "... and 3 more problem(s); every one: batchedit validate --json m.csv",
    ]
