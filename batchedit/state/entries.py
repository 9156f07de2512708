"""The journal's entries and their one encode/decode pair each: the state format.

Every line carries the format version (`"v"`) and the kind of entry
(`"event"`). A line is decoded by the class of its kind, and only here; the
rest of batchedit sees typed entries. A line that cannot be decoded (a newer
version's, or damaged) becomes `Undecodable`, naming its row id when the line
has one, so the index can hold that row instead of forgetting what earlier
lines proved about it.

Version 0 is the format before versions were written: its `finished` line
embedded a whole report record, from which the outcome is read here, so run
directories made by earlier releases resume as they are.

    v1 lines:
    {"v":1,"event":"submitting","row":3,"id":"sku-3","fingerprint":"…","at":"…",
     "origin":"https://api.modellix.ai:443","simulated":false}
    {"v":1,"event":"submitted","row":3,"id":"sku-3","task_id":"…","fingerprint":"…","at":"…",
     "origin":"https://api.modellix.ai:443","simulated":false}
    {"v":1,"event":"withdrawn","row":3,"id":"sku-3"}
    {"v":1,"event":"finished","row":3,"id":"sku-3","fingerprint":"…","status":"succeeded",
     "task_id":"…","error":null,"outputs":[…],"submitted_at":"…","finished_at":"…",
     "latency_s":12.5,"results":[…],"expires_at":"…","mtimes_ns":[…],"layout":"…",
     "origin":"run --simulate","simulated":true}

`origin` and `simulated` (origins.py) name the API origin the entry is about;
lines written before they were have neither, and read as `origin` None: the
journal index decides what such results count as (history.py).

A journal rebuilt from report.jsonl (`run --rebuild-state`) writes one
`submitted`, `finished` or `withdrawn` line per row the report knew, each with
`"restored_attempts": N`: the row's paid submissions over every run before the
rebuild, as the report counted them (the lines that counted them are lost).
Lines without it are counted one by one (history.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from batchedit.origins import Origin
from batchedit.records import (
    Check,
    InputSent,
    OutputFile,
    ReportRecord,
    RowError,
    Status,
    outputs_from_json,
)

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Submitting:
    """A paid submit is about to be sent: durable before the request leaves.

    If nothing follows it for the row, the process died while the answer was
    on its way: the task may or may not exist, so the row is `unknown` and is
    never resubmitted on its own (invariant 1).
    """

    kind: ClassVar[str] = "submitting"
    row: int
    id: str
    fingerprint: str
    at: str
    origin: Origin | None = None  # None: written before origins were recorded

    def to_json(self) -> dict[str, Any]:
        return _with_origin(
            _line(self.kind, row=self.row, id=self.id, fingerprint=self.fingerprint, at=self.at),
            self.origin,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Submitting:
        return cls(
            int(data["row"]),
            str(data["id"]),
            str(data["fingerprint"]),
            str(data["at"]),
            Origin.from_json(data),
        )


@dataclass(frozen=True, slots=True)
class Submitted:
    """A paid submit was accepted: the row's task id."""

    kind: ClassVar[str] = "submitted"
    row: int
    id: str
    task_id: str
    fingerprint: str
    at: str
    origin: Origin | None = None  # None: written before origins were recorded
    restored_attempts: int | None = None  # written by a rebuild only (see above)

    def to_json(self) -> dict[str, Any]:
        line = _line(
            self.kind,
            row=self.row,
            id=self.id,
            task_id=self.task_id,
            fingerprint=self.fingerprint,
            at=self.at,
        )
        return _restored(_with_origin(line, self.origin), self.restored_attempts)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Submitted:
        return cls(
            int(data["row"]),
            str(data["id"]),
            str(data["task_id"]),
            str(data["fingerprint"]),
            str(data["at"]),
            Origin.from_json(data),
            _restored_attempts(data),
        )


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """A submit was answered without creating a task (a 429, a refusal, a 401
    or 402): the intent before it paid nothing, and the row is `pending`."""

    kind: ClassVar[str] = "withdrawn"
    row: int
    id: str
    restored_attempts: int | None = None  # written by a rebuild only (see above)

    fingerprint: ClassVar[None] = None

    def to_json(self) -> dict[str, Any]:
        return _restored(_line(self.kind, row=self.row, id=self.id), self.restored_attempts)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Withdrawn:
        return cls(int(data["row"]), str(data["id"]), _restored_attempts(data))


@dataclass(frozen=True, slots=True)
class Finished:
    """A row's outcome in one run: what the journal must remember of it.

    Not a report line: the report is rebuilt from the manifest row and this
    outcome, so the report's schema can change without a journal migration.
    For a succeeded row it also keeps what a later run needs to check and
    repair the outputs without paying again: the result URLs with their
    expiry, each output file's modification time (a cheap first test of
    "unchanged" before a hash is needed) and the output layout.
    """

    kind: ClassVar[str] = "finished"
    row: int
    id: str
    fingerprint: str | None
    status: Status
    task_id: str | None = None
    error: RowError | None = None
    outputs: tuple[OutputFile, ...] = ()
    submitted_at: str | None = None
    finished_at: str | None = None
    latency_s: float | None = None
    result_urls: tuple[str, ...] = ()
    expires_at: str | None = None
    output_mtimes_ns: tuple[int, ...] = ()
    layout: str | None = None  # naming.output_layout of the files written
    checks: tuple[Check, ...] = ()  # output checks the stored results failed
    origin: Origin | None = None  # None: written before origins were recorded
    restored_attempts: int | None = None  # written by a rebuild only (see above)
    inputs: tuple[InputSent, ...] = ()  # what was sent for each input (the report's)
    #: The result itself was refused by the picture policy (too large, past the
    #: metadata bound, not an image): no download, now or later, brings another.
    refused: bool = False

    @classmethod
    def of_record(
        cls, record: ReportRecord, fingerprint: str | None, origin: Origin | None
    ) -> Finished:
        """The journal's memory of a report record: its outcome and the origin
        that made it, not its request (the report takes that from the manifest
        row again). What a record does not hold (result URLs, expiry, file
        times, layout, restored attempts) the caller adds with `replace`."""
        return cls(
            row=record.row,
            id=record.id,
            fingerprint=fingerprint,
            status=record.status,
            task_id=record.task_id,
            error=record.error,
            outputs=record.outputs,
            submitted_at=record.submitted_at,
            finished_at=record.finished_at,
            latency_s=record.latency_s,
            checks=record.checks,
            origin=origin,
            inputs=record.inputs,
        )

    def to_json(self) -> dict[str, Any]:
        data = _line(
            self.kind,
            row=self.row,
            id=self.id,
            fingerprint=self.fingerprint,
            status=self.status.value,
            task_id=self.task_id,
            error=None if self.error is None else self.error.to_json(),
            outputs=[output.to_json() for output in self.outputs],
            submitted_at=self.submitted_at,
            finished_at=self.finished_at,
            latency_s=self.latency_s,
        )
        if self.inputs:  # absent when none, so older lines read as before
            data["inputs"] = [sent.to_json() for sent in self.inputs]
        if self.checks:  # absent when none, so lines without checks read as before
            data["checks"] = [check.value for check in self.checks]
        if self.refused:  # likewise absent unless set
            data["refused"] = True
        if self.result_urls:
            data["results"] = list(self.result_urls)
            data["expires_at"] = self.expires_at
            data["mtimes_ns"] = list(self.output_mtimes_ns)
            data["layout"] = self.layout
        return _restored(_with_origin(data, self.origin), self.restored_attempts)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finished:
        error = data.get("error")
        fingerprint = data.get("fingerprint")
        return cls(
            row=int(data["row"]),
            id=str(data["id"]),
            fingerprint=None if fingerprint is None else str(fingerprint),
            status=Status(data["status"]),
            task_id=_optional_str(data.get("task_id")),
            error=None if error is None else RowError.from_json(error),
            outputs=outputs_from_json(data.get("outputs") or ()),
            submitted_at=_optional_str(data.get("submitted_at")),
            finished_at=_optional_str(data.get("finished_at")),
            latency_s=None if data.get("latency_s") is None else float(data["latency_s"]),
            result_urls=tuple(str(url) for url in data.get("results") or ()),
            expires_at=_optional_str(data.get("expires_at")),
            output_mtimes_ns=tuple(int(ns) for ns in data.get("mtimes_ns") or ()),
            layout=_optional_str(data.get("layout")),
            inputs=tuple(InputSent.from_json(i) for i in data.get("inputs") or ()),
            checks=tuple(Check(name) for name in data.get("checks") or ()),
            origin=Origin.from_json(data),
            restored_attempts=_restored_attempts(data),
            refused=data.get("refused") is True,
        )

    @classmethod
    def from_version_0(cls, data: Mapping[str, Any]) -> Finished:
        """A `finished` line written before versions, with a whole report record."""
        record = data["record"]
        return cls.from_json({**record, **data, "row": record["row"], "id": record["id"]})


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A line this version cannot read: from a newer version, or damaged.

    Never a reason to forget a row: the index holds the row (`unknown`, or
    polled when an earlier line gave its task id) rather than planning it as
    never sent."""

    id: str | None
    offset: int
    reason: str


JournalEntry = Submitting | Submitted | Finished | Withdrawn

_DECODERS: dict[str, Callable[[Mapping[str, Any]], JournalEntry]] = {
    Submitting.kind: Submitting.from_json,
    Submitted.kind: Submitted.from_json,
    Withdrawn.kind: Withdrawn.from_json,
    Finished.kind: Finished.from_json,
}


def decode_entry(data: Mapping[str, Any], offset: int = 0) -> JournalEntry | Undecodable:
    """The typed entry of one journal line, or Undecodable with the reason."""
    version = data.get("v", 0)
    event = data.get("event")
    try:
        if version == 0 and event == Finished.kind and "record" in data:
            return Finished.from_version_0(data)
        if version not in (0, FORMAT_VERSION):
            raise ValueError(f"format version {version!r}; this batchedit reads up to 1")
        decoder = _DECODERS.get(event) if isinstance(event, str) else None
        if decoder is None:
            raise ValueError(f"unknown entry kind {event!r}")
        return decoder(data)
    except (KeyError, TypeError, ValueError) as exc:
        return Undecodable(_entry_id(data), offset, f"{type(exc).__name__}: {exc}")


def _entry_id(data: Mapping[str, Any]) -> str | None:
    """The row id a line is about, read as leniently as possible."""
    row_id = data.get("id")
    if row_id is None and isinstance(data.get("record"), Mapping):
        row_id = data["record"].get("id")
    return row_id if isinstance(row_id, str) else None


def _line(kind: str, **fields: Any) -> dict[str, Any]:
    return {"v": FORMAT_VERSION, "event": kind, **fields}


def _with_origin(line: dict[str, Any], origin: Origin | None) -> dict[str, Any]:
    """`line` with the origin's keys, when it has one (absent: read as before)."""
    return line if origin is None else {**line, **origin.to_json()}


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _restored(data: dict[str, Any], attempts: int | None) -> dict[str, Any]:
    """`data` with a rebuild's count of paid submissions, when it is one's:
    absent otherwise, so ordinary lines read as before."""
    if attempts is not None:
        data["restored_attempts"] = attempts
    return data


def _restored_attempts(data: Mapping[str, Any]) -> int | None:
    value = data.get("restored_attempts")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"restored_attempts {value!r} is not a count")
    return value
