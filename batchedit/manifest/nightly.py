"""The settings of a run nobody watches: the spend cap (`max_spend`), the
deadline (`deadline`, `deadline_grace`), the metrics file (`metrics_file`)
and the notifications (`notify`). Each check raises ValueError with the
setting's name and what it accepts, which job.py turns into a FILE:LINE
message or a usage error, as for every other setting (declared in
settings.py).

A deadline is a duration from the run's start (`90m`, `2h`, `1h30m`, `45s`,
or bare seconds) or a moment: a time of day (`06:00`, local time, its next
occurrence) or an ISO 8601 date and time (`2025-06-01T06:00:00+02:00`; local
time without an offset). A moment is turned into seconds when the run starts,
so `retry` and the next night read `06:00` afresh.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from batchedit.manifest.setting_checks import as_number

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_TIME_OF_DAY = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
#: How long tasks in flight are polled past the deadline, unless told.
DEFAULT_DEADLINE_GRACE_S = 600.0


def parse_duration_s(text: str) -> float | None:
    """Seconds in `90m`, `2h`, `1h30m`, `45s`, `250ms` or a bare number; None
    for anything else."""
    text = text.strip().lower()
    bare = as_number(text)
    if bare is not None:
        return bare
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text.replace(" ", ""):
        return None
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)


@dataclass(frozen=True, slots=True)
class Deadline:
    """When submitting stops: `after_s` from the run's start, a local time of
    day (`at_time`, its next occurrence), or a moment (`at`, aware)."""

    text: str  # as given, for messages and for `retry` to read again
    after_s: float | None = None
    at_time: time | None = None
    at: datetime | None = None

    def seconds_left(self, now: datetime | None = None) -> float:
        """Seconds from `now` (aware; default: the wall clock) to the deadline;
        0 or less when it has passed."""
        now = now or datetime.now().astimezone()
        if self.after_s is not None:
            return self.after_s
        if self.at is not None:
            return (self.at - now).total_seconds()
        assert self.at_time is not None  # one of the three is always set
        target = datetime.combine(now.date(), self.at_time, now.tzinfo)
        if target <= now:
            target += timedelta(days=1)
        return (target - now).total_seconds()

    def __str__(self) -> str:
        return self.text


def parse_deadline(value: object) -> Deadline:
    """A Deadline, or its text (see the module)."""
    if isinstance(value, Deadline):
        return value
    text = str(value).strip() if isinstance(value, str | int | float) else ""
    if isinstance(value, bool) or not text:
        raise ValueError(_DEADLINE_WANTED.format(value=value))
    seconds = parse_duration_s(text)
    if seconds is not None:
        if seconds <= 0:
            raise ValueError(_DEADLINE_WANTED.format(value=value))
        return Deadline(text, after_s=seconds)
    if match := _TIME_OF_DAY.fullmatch(text):
        hour, minute, second = (int(part or 0) for part in match.groups())
        if hour < 24 and minute < 60 and second < 60:
            return Deadline(text, at_time=time(hour, minute, second))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(_DEADLINE_WANTED.format(value=value)) from None
    return Deadline(text, at=moment if moment.tzinfo else moment.astimezone())


_DEADLINE_WANTED = (
    "deadline must be a duration (90m, 2h, 1h30m, 45s), a time of day (06:00) or an "
    "ISO 8601 date and time (2025-06-01T06:00:00+02:00) (got {value!r})"
)


def check_deadline_grace(value: object) -> float:
    """Seconds, from a number or a duration's text; 0 leaves tasks in flight at once."""
    seconds = as_number(value)
    if seconds is None and isinstance(value, str):
        seconds = parse_duration_s(value)
    if seconds is None or seconds < 0:
        raise ValueError(
            f"deadline_grace must be a duration (10m, 90s) or seconds, 0 or more (got {value!r})"
        )
    return seconds


def check_max_spend(value: object) -> float:
    number = as_number(value)
    if number is None or number < 0:
        raise ValueError(
            f"max_spend must be an amount in the price table's currency, 0 or more (got {value!r})"
        )
    return number


def check_notify(value: object) -> tuple[str, ...]:
    """Apprise URLs (`json://host/path`, `slack://...`, `mailto://...`): one, or
    a list. Each is checked with Apprise itself, so a URL it cannot send to is
    said now, not at the end of the night."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise ValueError(f"notify must be an Apprise URL or a list of them (got {value!r})")
    urls = tuple(str(item).strip() for item in items if str(item).strip())
    if not urls:
        return urls
    import apprise  # here: a second's import, paid only by runs that notify

    for url in urls:
        if "://" not in url or apprise.Apprise.instantiate(url) is None:
            scheme = url.split("://", 1)[0] if "://" in url else url[:20]
            raise ValueError(
                f"notify: {scheme!r}... is not a URL Apprise can send to (json://host/path, "
                "slack://..., mailto://..., ntfy://...; see https://github.com/caronc/apprise/wiki)"
            )
    return urls
