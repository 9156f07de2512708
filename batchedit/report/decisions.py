"""Review decisions: `decisions.jsonl` in the run directory, and what they mean now.

One JSON line per change (`id`, `sha256`, `decision`, `note`, `at`), appended
and fsynced as each is made, so a reviewer's work survives a crash or a
closed tab; the latest line per row wins. A decision names the output it was
made on by its sha256: once a retry replaces that output, the decision is
stale and the row is undecided again, without anything rewriting the file.
A torn last line (a crash mid-append) is ignored, never fatal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from batchedit.errors import SourceError
from batchedit.fsutil import append_durably
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

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sha256": self.sha256,
            "decision": self.decision.value,
            "note": self.note,
            "at": self.at,
            "task_id": self.task_id,
        }

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
        )


def decided_sha256(record: ReportRecord) -> str | None:
    """What a decision on this row is about: its (first) output, or None without one."""
    return record.outputs[0].sha256 if record.outputs else None


def append_decisions(path: Path, decisions: Iterable[Decision]) -> int:
    """Append decisions as lines and fsync before returning: once this returns,
    they survive a crash (`fsutil.append_durably`, which also cuts off a torn
    last line left by an earlier crash, so it cannot swallow the new line)."""
    text = "".join(json.dumps(d.to_json(), ensure_ascii=False) + "\n" for d in decisions)
    append_durably(path, text)
    return text.count("\n")


def read_decisions(path: Path) -> dict[str, Decision]:
    """The latest decision per row id; {} when no decision was ever made."""
    latest: dict[str, Decision] = {}
    try:
        handle = open(path, encoding="utf-8")
    except FileNotFoundError:
        return latest
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                decision = Decision.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                if not line.endswith("\n"):
                    continue  # the torn last line of a crashed append
                allowed = ", ".join(v.value for v in Verdict)
                raise SourceError(
                    str(path), number, f"is not a decision (decision one of {allowed}): {exc}"
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
