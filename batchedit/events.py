"""The event log: what a run did, one event per line, for people and for machines.

The pipeline and the client call `emit("row_submitted", id=..., task_id=...)`
and nothing else; how an event is written is decided once, by `setup_logging`:

- `--log-format text` (the default): events are INFO lines of the
  `batchedit.events` logger, shown with `-v` beside the other log lines;
- `--log-format json`: every log record, events and warnings alike, is one
  JSON object on stderr, so a nightly log can be read with `jq` line by line.

Events: `run_started`, `row_submitted`, `row_finished`, `retried`, `paused`
(a 429 held every request of a kind back), `progress` (every 30 s: done,
total, rate, ETA, spend), `run_stopped` (a fatal API answer or an
interruption), `run_finished` and `notified`. Whatever the format, a line never
holds the API key: the key is registered with `add_secret` (redact.py) and
blotted out of every formatted line, as a last guard behind the client's own
care; a text line's message is stripped of control characters, so no field
from the service can forge a line of its own.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from batchedit.redact import REDACTED, add_secret, redact, strip_controls

__all__ = [
    "REDACTED",
    "add_secret",
    "emit",
    "events_enabled",
    "notice",
    "redact",
    "setup_logging",
]

EVENTS_LOGGER = "batchedit.events"
LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

_log = logging.getLogger(EVENTS_LOGGER)
_json_mode = False


def emit(event: str, /, **fields: object) -> None:
    """Log one event with its fields (JSON-able values: str, numbers, None, dicts)."""
    if not _log.isEnabledFor(logging.INFO):
        return
    text = " ".join(f"{name}={value}" for name, value in fields.items() if value is not None)
    _log.info("%s %s", event, text, extra={"event": event, "fields": fields})


def events_enabled() -> bool:
    """Whether `emit` writes anything (`--log-format json`, or `-v`): a periodic
    event need not even be gathered otherwise."""
    return _log.isEnabledFor(logging.INFO)


def notice(
    event: str,
    message: str,
    *,
    file: TextIO | None = None,
    fields: Mapping[str, object] | None = None,
) -> None:
    """A line the CLI would print on stderr: as an event when the log is JSON (so
    every stderr line parses, with `fields` beside the message), as the plain
    line otherwise."""
    if _json_mode:
        data = {"message": message, **(fields or {})}
        _log.warning("%s", message, extra={"event": event, "fields": data})
    else:
        say(redact(strip_controls(message)), file=file or sys.stderr)


def say(text: str, *, file: TextIO | None = None) -> bool:
    """Print one line, flushed; False if the stream no longer takes it.

    A reader that went away (`| tee` ended by the same Ctrl-C, a closed
    terminal) makes a write fail with EPIPE or EIO. That must never end a run
    nor change its exit code: the stream is pointed at the null device, so
    later lines and the interpreter's last flush fail no more."""
    stream = file or sys.stderr
    try:
        print(text, file=stream, flush=True)
    except (OSError, ValueError):  # EPIPE, EIO; ValueError: the file was closed
        silence(stream)
        return False
    return True


def silence(stream: TextIO) -> None:
    """Send what is still written to `stream` to the null device, if it has a descriptor."""
    try:
        descriptor = stream.fileno()
    except (OSError, ValueError):  # a StringIO, a closed file: nothing to redirect
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, descriptor)
        finally:
            os.close(null)
    except OSError:
        return


class TextFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        # The message alone: a traceback after it (debug level) keeps its lines.
        return strip_controls(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: `ts`, `level`, `event`, then the event's fields
    (or `logger` and `message` for an ordinary log line)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        line: dict[str, Any] = {"ts": stamp.replace("+00:00", "Z"), "level": record.levelname}
        event = getattr(record, "event", None)
        fields = getattr(record, "fields", None)
        if isinstance(event, str) and isinstance(fields, Mapping):
            line["event"] = event
            line.update((k, v) for k, v in fields.items() if k not in line)
        else:
            line["event"] = "log"
            line["logger"] = record.name
            line["message"] = record.getMessage()
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, ensure_ascii=False, default=str))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time, so a replaced stderr
    (a test's capture, a redirect) is followed rather than kept open."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


_handler: logging.Handler | None = None


def setup_logging(log_format: LogFormat, *, verbose: bool) -> None:
    """One stderr handler on the root logger (the progress bars route around it),
    replacing the one an earlier call installed.

    JSON logs are for machines, so they carry every event even without `-v`;
    other records keep the usual threshold (warnings, or everything with -v,
    batchedit's debug lines included)."""
    global _handler, _json_mode
    _json_mode = log_format == "json"
    handler = _StderrHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    _handler = handler
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    # -v: batchedit's own debug lines too (retries, and the traceback of an
    # internal error, which is never shown without it).
    logging.getLogger("batchedit").setLevel(logging.DEBUG if verbose else logging.NOTSET)
    _log.setLevel(logging.INFO if verbose or log_format == "json" else logging.WARNING)
