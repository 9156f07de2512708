"""The small records the API client is configured and observed by: its retry
budget, the counts of what it sent, and the feedback it gives the in-flight
limit. Kept apart from the client so the pipeline can name them without the
client's HTTP machinery."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class LoadSignal:
    """What one API answer says about load, read off its status and headers.

    The client builds one per answer; the load governor (`throttle.py`) decides
    what it means: a clean answer, a request budget spent, or too many tasks.
    """

    status: int  # the HTTP status of the answer
    paid: bool  # the answer to a paid submit (only submits meet a concurrency limit)
    limit: float | None = None  # X-RateLimit-Limit, when sent
    remaining: float | None = None  # X-RateLimit-Remaining, when sent
    retry_after_s: float | None = None  # Retry-After / X-RateLimit-Reset, as a delay
    message: str = ""  # the service's error message (empty on a 200)


class LoadFeedback(Protocol):
    """Told about every API answer (the request budget and the in-flight slots
    adapt to them)."""

    def observe(self, signal: LoadSignal) -> None: ...


class RequestMeter(Protocol):
    """What every request waits on before it leaves: the run's request budget."""

    async def wait(self) -> None: ...


class PaidAttempts(Protocol):
    """The caller's part in each attempt of a paid submit: journalling its
    intent and its withdrawal, and knowing when it is on the wire. The retry
    loop is the client's (`ModellixClient.submit_paid`); it calls these, per
    attempt, once the attempt's waits (the shared 429 pause, the request meter)
    are over:

    1. `intend()`: whether the attempt may leave, and if it may, its intent
       made durable (a crash from then on leaves the row `unknown`, never
       repaid on its own). False sends nothing: `submit_paid` returns None
       (an intent written before the answer changed is withdrawn by `intend`).
    2. the POST; cancelled while it is out, `unanswered()` (it may be charged).
    3. `off_wire()`, however the attempt ended, `intend` included.
    4. after a refusal (the service provably created no task), `withdraw()`;
       then the back-off before the next attempt, or the refusal raised.
    """

    async def intend(self) -> bool: ...

    def unanswered(self) -> None: ...

    def off_wire(self) -> None: ...

    async def withdraw(self) -> None: ...


class NoFeedback:
    """For a client whose answers adapt nothing (doctor, tests)."""

    def observe(self, signal: LoadSignal) -> None:
        return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A bounded budget per request, with exponential backoff and full jitter."""

    max_retries: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay_s(self, retry: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2**retry))


@dataclass(slots=True)
class RequestCounts:
    """Requests sent, by kind, for the summary (retries count once each)."""

    submit: int = 0
    poll: int = 0
    upload: int = 0
    delete: int = 0  # uploads deleted (`uploads purge`, `uploads: {delete_after: run}`)
    download: int = 0
    retries: int = 0
    bytes_downloaded: int = 0

    def count(self, kind: str) -> None:
        """One more API request of `kind` (submit, upload, delete; anything else is a read)."""
        if kind == "submit":
            self.submit += 1
        elif kind == "upload":
            self.upload += 1
        elif kind == "delete":
            self.delete += 1
        else:
            self.poll += 1

    def to_json(self) -> dict[str, int]:
        return {
            "submit": self.submit,
            "poll": self.poll,
            "upload": self.upload,
            "delete": self.delete,
            "download": self.download,
            "retries": self.retries,
        }
