"""A task as the API reports it, read tolerantly: other spellings of the
statuses seen in the wild are accepted, and an unknown status is not terminal.
Its list of results is not taken on trust: more than the request makes is
refused whole (AnswerRefused: asking again would list the same), so 2,000
URLs for a one-output model never become 2,000 downloads."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from batchedit.errors import AnswerRefused, ProtocolError
from batchedit.redact import scrub

log = logging.getLogger(__name__)

# The service's refusal markers, matched here and nowhere else. A safety refusal
# must not look like an ordinary failure: retrying it pays again for the same
# refusal, so `retry` leaves such rows alone unless asked. The service has no
# error code for it; the text it passes on from the model is the only sign. These
# are the finish and block reasons the upstream models document (Gemini's
# IMAGE_PROHIBITED_CONTENT, PROHIBITED_CONTENT, IMAGE_SAFETY and SAFETY block
# reasons behind nano-banana; OpenAI's moderation_blocked and
# content_policy_violation behind gpt-image), matched as whole, case-sensitive
# tokens so that an English sentence merely mentioning "safety" is not one.
_REFUSAL_MARKERS = re.compile(
    r"\b(IMAGE_PROHIBITED_CONTENT|PROHIBITED_CONTENT|IMAGE_SAFETY|BLOCKED_REASON_SAFETY"
    r"|FINISH_REASON_SAFETY|moderation_blocked|content_policy_violation)\b"
)

_SUCCEEDED = frozenset({"success", "succeeded", "completed", "complete", "done"})
_FAILED = frozenset({"failed", "failure", "error", "canceled", "cancelled"})


class TaskPhase(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ResultResource:
    url: str
    width: int | None = None
    height: int | None = None
    format: str | None = None


@dataclass(frozen=True, slots=True)
class TaskState:
    task_id: str
    phase: TaskPhase
    raw_status: str
    resources: tuple[ResultResource, ...] = ()
    error_message: str | None = None
    expires_at: str | None = None
    refused: bool = False  # failed because the model refused on safety grounds

    @property
    def is_terminal(self) -> bool:
        return self.phase is not TaskPhase.RUNNING


def parse_task(
    task_id: str, data: Mapping[str, Any], *, max_results: int | None = None
) -> TaskState:
    """Classify one `GET /tasks/{id}` payload; a payload about another task is
    refused, and so is a success listing more than `max_results` results (the
    request's output count): none of them is fetched."""
    reported = data.get("task_id")
    if reported is not None and reported != task_id:
        raise ProtocolError(f"asked for task {task_id} but the answer is about task {reported}")
    raw_status = scrub(str(data.get("status", "")), max_chars=40).strip().lower()
    if raw_status in _FAILED:
        message = _error_text(data)
        refused = _REFUSAL_MARKERS.search(message) is not None
        return TaskState(
            task_id, TaskPhase.FAILED, raw_status, error_message=message, refused=refused
        )
    if raw_status in _SUCCEEDED:
        resources = _resources(data)
        if not resources:
            raise ProtocolError(f"task {task_id} succeeded but lists no result resources")
        if max_results is not None and len(resources) > max_results:
            raise AnswerRefused(
                f"task {task_id} succeeded listing {len(resources)} results, more than the "
                f"{max_results} its request makes (a protocol error); none was fetched"
            )
        return TaskState(
            task_id,
            TaskPhase.SUCCEEDED,
            raw_status,
            resources=resources,
            expires_at=read_expiry(data.get("result_expires_at")),
        )
    if raw_status not in {"pending", "processing", "queued", "running", "in_progress"}:
        log.warning("task %s has an unknown status %r; polling on", task_id, raw_status)
    return TaskState(task_id, TaskPhase.RUNNING, raw_status)


#: An epoch number above this counts milliseconds: 1e11 seconds is the year 5138,
#: 1e11 milliseconds is 1973.
_EPOCH_MS_ABOVE = 1e11


def read_expiry(value: object) -> str | None:
    """`result_expires_at` as the service gave it (epoch seconds, epoch
    milliseconds, as a number or text, or ISO 8601), as ISO 8601 in UTC; None
    when absent or unreadable (then the result is tried, and a 410 says it
    is gone). A time without a zone is taken as UTC, the API's."""
    epoch_s = expiry_epoch_s(value)
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(epoch_s, UTC).isoformat()


def expiry_epoch_s(value: object) -> float | None:
    """The epoch seconds of an expiry in any form `read_expiry` takes."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            return _iso_epoch_s(text)
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        return None
    seconds = value / 1000 if value > _EPOCH_MS_ABOVE else float(value)
    return seconds if seconds < _LATEST_EPOCH_S else None


def _iso_epoch_s(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text[:64])
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


#: datetime's last year: an expiry past it is no expiry anyone can act on.
_LATEST_EPOCH_S = datetime(9999, 12, 31, tzinfo=UTC).timestamp()


def _resources(data: Mapping[str, Any]) -> tuple[ResultResource, ...]:
    result = data.get("result")
    items = result.get("resources") if isinstance(result, Mapping) else None
    if not isinstance(items, list):
        return ()
    resources = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("url"), str):
            continue
        if item.get("type", "image") != "image":
            continue
        resources.append(
            ResultResource(
                url=item["url"],
                width=_int_or_none(item.get("width")),
                height=_int_or_none(item.get("height")),
                format=scrub(str(item["format"]), max_chars=16) if item.get("format") else None,
            )
        )
    return tuple(resources)


def _error_text(data: Mapping[str, Any]) -> str:
    error = data.get("error")
    if isinstance(error, Mapping):
        error = error.get("message") or error.get("detail")
    text = error or data.get("message") or "the task failed without a message"
    return scrub(str(text), max_chars=300)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
