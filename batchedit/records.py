"""Records that cross module boundaries: rows, requests, outcomes, report lines.

Frozen and slotted; dicts exist only at the JSON edge, through the one
`to_json`/`from_json` pair each record type has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from batchedit.origins import SIMULATED_LABEL, Origin
from batchedit.output_files import OriginalFile as OriginalFile
from batchedit.output_files import OutputFile as OutputFile
from batchedit.output_files import outputs_from_json as outputs_from_json
from batchedit.redact import scrub

#: A value of a manifest column: CSV gives strings, YAML any scalar.
FieldValue = str | int | float | bool | None
#: A model parameter's value in the request body (catalogue.ParamValue).
ParamValue = str | int | float | bool


class Status(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"
    INVALID = "invalid"
    PENDING = "pending"


class Verdict(StrEnum):
    """A reviewer's decision on a row's result (`decisions.jsonl`, report `decision`)."""

    APPROVED = "approved"
    REJECTED = "rejected"


class ErrorCategory(StrEnum):
    INVALID_INPUT = "invalid_input"
    INVALID_REQUEST = "invalid_request"
    AUTH = "auth"
    PAYMENT = "payment"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    SERVER = "server"
    NETWORK = "network"
    TASK_FAILED = "task_failed"
    CONTENT_POLICY = "content_policy"  # the model refused on safety grounds: not retried
    TIMEOUT = "timeout"
    DOWNLOAD = "download"
    EXPIRED = "expired"
    UNKNOWN_OUTCOME = "unknown_outcome"


class Check(StrEnum):
    """A check a stored result failed (pipeline/write/checks.py, and a channel
    profile's rules, pipeline/write/profiles.py, as `profile:<rule>`); the output is kept."""

    SIZE_MISMATCH = "size_mismatch"
    RATIO_MISMATCH = "ratio_mismatch"
    BLANK = "blank"
    PROFILE_WHITE_BACKGROUND = "profile:white_background"
    PROFILE_PRODUCT_FILL = "profile:product_fill"
    PROFILE_LONG_SIDE = "profile:long_side"
    PROFILE_MIN_SIZE = "profile:min_size"
    PROFILE_MAX_SIDE = "profile:max_side"
    PROFILE_MEGAPIXELS = "profile:megapixels"
    PROFILE_FILE_SIZE = "profile:file_size"


#: Failures after which the task may still hold a result: a plain re-run polls
#: it (free) rather than paying again.
POLLABLE_FAILURES = frozenset(
    {
        ErrorCategory.TIMEOUT,
        ErrorCategory.DOWNLOAD,
        ErrorCategory.NETWORK,
        ErrorCategory.SERVER,
        ErrorCategory.RATE_LIMITED,
    }
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation problem, printed as `FILE:LINE: message`.

    `kind` is the message with its varying part left out (`image file not
    found`) and `detail` that part (the file's name as written): fifty
    thousand rows of one mistake, each naming its own file, are one kind,
    printed once with a few examples. Without a kind the message is its own."""

    file: str
    line: int
    message: str
    field: str | None = None
    kind: str | None = None
    detail: str | None = None

    @property
    def group(self) -> str:
        """What problems are grouped by: the kind, or the message itself."""
        return self.kind if self.kind is not None else self.message

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One input image: as the manifest gave it, and the local file it names, if any."""

    given: str
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class EditRequest:
    """What one row asks the service for, before local images are uploaded."""

    model: str
    prompt: str
    images: tuple[ImageRef, ...]
    aspect_ratio: str | None = None  # the friendly values, as the row gave them
    image_size: str | None = None
    #: Every body parameter under the API's own names, sorted by name: the
    #: friendly aspect_ratio and resolution under the names the row's model
    #: takes them by, and the row's `param.*` values, typed by the catalogue.
    body_params: tuple[tuple[str, ParamValue], ...] = ()

    def params(self) -> dict[str, ParamValue]:
        """The optional body fields, under the API's own names. A request built
        without `body_params` (only in tests) maps the friendly values to the
        Google models' names."""
        if self.body_params:
            return dict(self.body_params)
        params: dict[str, ParamValue] = {}
        if self.aspect_ratio is not None:
            params["aspectRatio"] = self.aspect_ratio
        if self.image_size is not None:
            params["imageSize"] = self.image_size
        return params


@dataclass(frozen=True, slots=True)
class Row:
    """A valid manifest row, rendered and ready to send."""

    index: int  # 1-based data row in the manifest
    line: int  # line of the file where the row starts, for messages
    id: str
    request: EditRequest
    fields: Mapping[str, FieldValue] = field(default_factory=dict)
    output_stem: str = ""  # path under outputs/ without extension; "" = from the id


@dataclass(frozen=True, slots=True)
class InvalidRow:
    """A row that failed validation; it is reported and never sent."""

    index: int
    line: int
    id: str
    problems: tuple[Problem, ...]
    model: str | None = None
    prompt: str | None = None
    images: tuple[str, ...] = ()
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    fields: Mapping[str, FieldValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RowError:
    category: ErrorCategory
    message: str
    http_status: int | None = None

    def __post_init__(self) -> None:
        # The last guard of invariant 8 for what the journal, the report and the
        # summary store: a message quoting the service is redacted here too.
        object.__setattr__(self, "message", scrub(self.message))

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category.value,
            "message": self.message,
            "http_status": self.http_status,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RowError:
        return cls(ErrorCategory(data["category"]), str(data["message"]), data.get("http_status"))


@dataclass(frozen=True, slots=True)
class ResumeKey:
    """What a re-run needs of a row the journal knew, should the journal be
    lost: kept in its report line (`resume`), read back by `run
    --rebuild-state`. The fingerprint of the request the row's outcome
    answers and the API origin that made it (key and whether a simulator:
    the report's own `origin` says only `simulated` for the latter); for a
    succeeded row, its result URLs with their expiry and the output layout
    its files were written under (see state/entries.py)."""

    fingerprint: str
    origin: Origin | None = None  # None: the journal recorded none
    result_urls: tuple[str, ...] = ()
    expires_at: str | None = None
    layout: str | None = None
    #: The result was refused by the picture policy: a re-run does not fetch
    #: it again (state/rerun.py); written only when true.
    refused: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "fingerprint": self.fingerprint,
            "results": list(self.result_urls),
            "expires_at": self.expires_at,
            "layout": self.layout,
        }
        if self.refused:
            data["refused"] = True
        if self.origin is not None:
            data.update(self.origin.to_json())  # "origin": key, "simulated": bool
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResumeKey:
        expires_at, layout = data.get("expires_at"), data.get("layout")
        return cls(
            fingerprint=str(data["fingerprint"]),
            origin=Origin.from_json(data),
            result_urls=tuple(str(url) for url in data.get("results") or ()),
            expires_at=None if expires_at is None else str(expires_at),
            layout=None if layout is None else str(layout),
            refused=data.get("refused") is True,
        )


@dataclass(frozen=True, slots=True)
class InputSent:
    """What was sent for one input image (the report's `inputs`): a local file
    as uploaded, with what preparation changed (`exif_rotated`, `downscaled`,
    `reencoded_jpeg`...); a URL as given (nothing else of it is known)."""

    source: str
    width: int | None = None
    height: int | None = None
    bytes: int | None = None
    format: str | None = None
    changes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "width": self.width,
            "height": self.height,
            "bytes": self.bytes,
            "format": self.format,
            "changes": list(self.changes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InputSent:
        def number(name: str) -> int | None:
            value = data.get(name)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        return cls(
            source=str(data.get("source", "")),
            width=number("width"),
            height=number("height"),
            bytes=number("bytes"),
            format=_optional_text(data.get("format")),
            changes=tuple(str(change) for change in data.get("changes") or ()),
        )


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """One line of report.jsonl: the contract's fields, and `resume`, what a
    lost journal is rebuilt from (docs/runs.md)."""

    id: str
    row: int
    status: Status
    model: str | None
    prompt: str | None
    images: tuple[str, ...]
    params: Mapping[str, ParamValue]
    fields: Mapping[str, FieldValue]
    task_id: str | None = None
    outputs: tuple[OutputFile, ...] = ()
    error: RowError | None = None
    attempts: int = 0
    submitted_at: str | None = None
    finished_at: str | None = None
    latency_s: float | None = None
    decision: Verdict | None = None  # from decisions.jsonl; None: undecided or stale
    line: int | None = None  # the manifest file line the row starts on, as validation says
    checks: tuple[Check, ...] = ()  # failed output checks; the outputs are kept
    #: The API origin of the outcome (`scheme://host:port`), `simulated` for a
    #: simulator's, None when no task was made or the journal did not record it.
    origin: str | None = None
    cost: float | None = None  # attempts at the price table's price; None: no table or price
    resume: ResumeKey | None = None  # None: the journal holds nothing for this request
    inputs: tuple[InputSent, ...] = ()  # what was sent for each input, once known

    @property
    def simulated(self) -> bool:
        """A simulator's outcome: marked in review, refused by export unless allowed."""
        return self.origin == SIMULATED_LABEL

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "row": self.row,
            "line": self.line,
            "checks": [check.value for check in self.checks],
            "status": self.status.value,
            "task_id": self.task_id,
            "outputs": [output.to_json() for output in self.outputs],
            "inputs": [sent.to_json() for sent in self.inputs],
            "origin": self.origin,
            "error": None if self.error is None else self.error.to_json(),
            "attempts": self.attempts,
            "cost": self.cost,
            "model": self.model,
            "prompt": self.prompt,
            "images": list(self.images),
            "params": dict(self.params),
            "submitted_at": self.submitted_at,
            "finished_at": self.finished_at,
            "latency_s": self.latency_s,
            "fields": dict(self.fields),
            "decision": None if self.decision is None else self.decision.value,
            "resume": None if self.resume is None else self.resume.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportRecord:
        error = data.get("error")
        return cls(
            id=str(data["id"]),
            row=int(data["row"]),
            line=data.get("line"),
            status=Status(data["status"]),
            model=data.get("model"),
            prompt=data.get("prompt"),
            images=tuple(data.get("images") or ()),
            params=dict(data.get("params") or {}),
            fields=dict(data.get("fields") or {}),
            task_id=data.get("task_id"),
            outputs=outputs_from_json(data.get("outputs") or ()),
            error=None if error is None else RowError.from_json(error),
            attempts=int(data.get("attempts") or 0),
            submitted_at=data.get("submitted_at"),
            finished_at=data.get("finished_at"),
            latency_s=data.get("latency_s"),
            decision=Verdict(data["decision"]) if data.get("decision") else None,
            checks=tuple(Check(name) for name in data.get("checks") or ()),
            origin=_optional_text(data.get("origin")),
            cost=_number_or_none(data.get("cost")),
            resume=ResumeKey.from_json(data["resume"]) if data.get("resume") else None,
            inputs=tuple(InputSent.from_json(i) for i in data.get("inputs") or ()),
        )


def _optional_text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number_or_none(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
