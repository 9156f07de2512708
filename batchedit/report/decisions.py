"""Review decisions: `decisions.jsonl` in the run directory, and what they mean now.

One JSON line per change (`id`, `sha256`, `decision`, `note`, `at`, and
`choice`: which of a row's candidates to publish, 1-based), appended
and fsynced as each is made, so a reviewer's work survives a crash or a
closed tab; the latest line per row wins. A decision names the output it was
made on by its sha256: once a retry replaces that output, the decision is
stale and the row is undecided again, without anything rewriting the file.
A torn last line (a crash mid-append) is ignored, never fatal (jsonlines.py);
any other line that is not a decision is an error naming FILE:LINE.

A row that returned several outputs (`param.n`) has candidates; `choice` names
the one `export` publishes. Without a choice, the first. A choice the row's
outputs no longer reach (a re-run returned fewer) is stale: the first is
published and the export says so (`chosen_output`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from batchedit.errors import SourceError
from batchedit.jsonlines import append_lines, loads, read_lines
from batchedit.records import ReportRecord, Verdict

MAX_NOTE_CHARS = 2000


class ReviewState(StrEnum):
    """Where a row stands in review, for the page and its filters."""

    UNDECIDED = "undecided"
    APPROVED = "approved"
    REJECTED = "rejected"
    STALE = "stale"  # decided on an output that has since been replaced


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    sha256: str  # the output decided on (the row's first output)
    decision: Verdict
    note: str = ""
    at: str = ""  # ISO 8601, UTC
    task_id: str | None = None  # the task that made it: a resubmit that happens to
    # return identical bytes still makes the decision stale
    choice: int | None = None  # the candidate to publish, 1-based; None: the first

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "sha256": self.sha256,
            "decision": self.decision.value,
            "note": self.note,
            "at": self.at,
            "task_id": self.task_id,
        }
        if self.choice is not None:
            data["choice"] = self.choice
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Decision:
        if not isinstance(data.get("id"), str) or not isinstance(data.get("sha256"), str):
            raise ValueError("needs string fields id and sha256")
        return cls(
            id=data["id"],
            sha256=data["sha256"],
            decision=Verdict(data["decision"]),
            note=str(data.get("note") or ""),
            at=str(data.get("at") or ""),
            task_id=data["task_id"] if isinstance(data.get("task_id"), str) else None,
            choice=parse_choice(data.get("choice")),
        )


def parse_choice(value: object) -> int | None:
    """A stored or posted choice: a whole number from 1, or None for no choice.
    Anything else is a ValueError (a bool is not a number here)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"choice must be a whole number from 1 (got {value!r})")
    return value


def chosen_output(record: ReportRecord, decision: Decision | None) -> tuple[int, str | None]:
    """Which of the row's outputs is chosen (0-based), and, when a recorded choice
    was set aside for the first, why (for a warning): it was made on an earlier
    result, or it names a candidate the row no longer has."""
    if decision is None or decision.choice is None or decision.choice == 1:
        return 0, None
    count = len(record.outputs)
    if review_state(record, decision) is ReviewState.STALE:
        return 0, (
            f"row {record.id!r}: choice {decision.choice} was made on an earlier result; "
            "the first candidate is taken"
        )
    if decision.choice > count:
        return 0, (
            f"row {record.id!r}: choice {decision.choice} is stale, the row now has "
            f"{count} output(s) (re-run since?); the first candidate is taken"
        )
    return decision.choice - 1, None


def decided_sha256(record: ReportRecord) -> str | None:
    """What a decision on this row is about: its (first) output, or None without one."""
    return record.outputs[0].sha256 if record.outputs else None


def append_decisions(path: Path, decisions: Iterable[Decision]) -> int:
    """Append decisions as lines and fsync before returning: once this returns,
    they survive a crash (`jsonlines.append_lines`, which also cuts off a torn
    last line left by an earlier crash, so it cannot swallow the new line)."""
    text = "".join(json.dumps(d.to_json(), ensure_ascii=False) + "\n" for d in decisions)
    append_lines(path, text)
    return text.count("\n")


def read_decisions(path: Path) -> dict[str, Decision]:
    """The latest decision per row id; {} when no decision was ever made."""
    latest: dict[str, Decision] = {}
    for line in read_lines(path):
        try:
            decision = Decision.from_json(loads(line.text))
        except (ValueError, KeyError, TypeError) as exc:
            allowed = ", ".join(v.value for v in Verdict)
            raise SourceError(
                str(path), line.number, f"is not a decision (decision one of {allowed}): {exc}"
            ) from exc
        latest[decision.id] = decision
    return latest


def review_state(record: ReportRecord, decision: Decision | None) -> ReviewState:
    if decision is None:
        return ReviewState.UNDECIDED
    if decision.sha256 != decided_sha256(record) or (
        decision.task_id is not None and decision.task_id != record.task_id
    ):
        return ReviewState.STALE
    return ReviewState(decision.decision.value)


def current_verdict(record: ReportRecord, decision: Decision | None) -> Verdict | None:
    """The decision that still holds for the row's output, else None (undecided)."""
    if decision is None or review_state(record, decision) is ReviewState.STALE:
        return None
    return decision.decision


def with_decisions(
    records: Iterable[ReportRecord], decisions: Mapping[str, Decision]
) -> Iterator[ReportRecord]:
    """The records with their `decision` field filled from decisions.jsonl."""
    for record in records:
        verdict = current_verdict(record, decisions.get(record.id))
        yield record if verdict is record.decision else replace(record, decision=verdict)


def clean_note(note: str) -> str:
    """A note as stored: trimmed, control characters but newlines and tabs dropped."""
    kept = "".join(ch for ch in note if ch in "\n\t" or ch.isprintable())
    return kept.strip()[:MAX_NOTE_CHARS]
