"""Everything the simulator remembers: tasks, uploads, balances, budgets, counters.

Task status is never stored: it is derived from the injected clock on every
read, so a test that moves the clock moves the tasks, and nothing has to
tick in the background. All randomness comes from one seeded generator so a
run with the same seed and the same requests replays exactly.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from batchedit.simulator.options import SimOptions
from batchedit.simulator.profiles import REALISTIC, draw_duration_s
from batchedit.simulator.ratelimit import TokenBucket

#: Share of its latency a task spends `pending` before it turns `processing`.
_PENDING_SHARE = 0.2
#: A refused task's error, worded as nano-banana's safety block reaches Modellix users
#: (the finish reason first, then a sentence).
REFUSAL_MESSAGE = (
    "IMAGE_PROHIBITED_CONTENT: the model declined to edit this image on safety grounds "
    "(simulated refusal)"
)
#: What the balance endpoint reports when no balance was set.
UNLIMITED_BALANCE = 1_000_000_000


class TaskStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ResultFile:
    """A rendered result, kept on disk so a task costs memory only for its metadata."""

    path: Path
    width: int
    height: int
    format: str
    extension: str


@dataclass(slots=True)
class SimTask:
    task_id: str
    key: str
    model_id: str
    created_at: float  # clock seconds
    created_wall: float  # epoch seconds at created_at
    latency_s: float
    error: str | None = None  # set for a task drawn to fail, or whose render broke
    results: tuple[ResultFile, ...] = ()  # one per output (`n` of them)
    rendered_at: float | None = None  # clock seconds the render (or failure) was settled

    @property
    def due_at(self) -> float:
        return self.created_at + self.latency_s

    def finished_at(self) -> float | None:
        """Clock time of the terminal status: due, and its render done."""
        if self.rendered_at is None:
            return None
        return max(self.due_at, self.rendered_at)

    def status(self, now: float) -> TaskStatus:
        if now < self.created_at + _PENDING_SHARE * self.latency_s:
            return TaskStatus.PENDING
        finished = self.finished_at()
        if finished is None or now < finished:
            return TaskStatus.PROCESSING
        return TaskStatus.FAILED if self.error is not None else TaskStatus.SUCCESS

    def expires_at(self, expire_after_s: float) -> float | None:
        finished = self.finished_at()
        if finished is None or not self.results:
            return None
        return finished + expire_after_s

    def to_wall(self, clock_time: float) -> float:
        return self.created_wall + (clock_time - self.created_at)


@dataclass(frozen=True, slots=True)
class MediaFile:
    file_id: str
    data: bytes
    content_type: str
    filename: str
    created_wall: float


@dataclass(slots=True)
class Stats:
    submits: int = 0
    submit_requests: int = 0
    polls: int = 0
    downloads: int = 0
    uploads: int = 0
    deleted_uploads: int = 0
    task_seconds: float = 0.0  # sum of the drawn task latencies: the benchmarks' ideal
    refusals: int = 0  # tasks that ended in a safety refusal
    responses: Counter[int] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)  # see faults.py
    #: With SimOptions.record_bodies: every accepted submit's path and JSON body.
    bodies: list[dict[str, object]] | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "submits": self.submits,
            "submit_requests": self.submit_requests,
            "polls": self.polls,
            "downloads": self.downloads,
            "uploads": self.uploads,
            "deleted_uploads": self.deleted_uploads,
            "task_seconds": round(self.task_seconds, 6),
            "refusals": self.refusals,
            "responses": {str(status): n for status, n in sorted(self.responses.items())},
            "faults": dict(sorted(self.faults.items())),
            **({} if self.bodies is None else {"bodies": self.bodies}),
        }


class SimState:
    """The simulator's memory; every method is synchronous and cheap."""

    def __init__(
        self, options: SimOptions, clock: Callable[[], float], wall_clock: Callable[[], float]
    ) -> None:
        self.options = options
        self.clock = clock
        self.wall_clock = wall_clock
        self.rng = random.Random(options.seed)
        self.stats = Stats(bodies=[] if options.record_bodies else None)
        self.tasks: dict[str, SimTask] = {}
        self.media: dict[str, MediaFile] = {}
        #: Uploads deleted through DELETE /api/v1/media/files/{id}: a submit naming one is refused.
        self.deleted_media: set[str] = set()
        self.spent: Counter[str] = Counter()
        self._active: dict[str, set[str]] = {}
        self._buckets: dict[str, TokenBucket] = {}

    def new_id(self, prefix: str) -> str:
        # Drawn from the seeded generator, so ids replay with the seed too.
        while True:
            candidate = f"{prefix}-{self.rng.getrandbits(64):016x}"
            taken = (self.tasks, self.media, self.deleted_media)
            if not any(candidate in ids for ids in taken):
                return candidate

    def take_token(self, key: str) -> tuple[float, int]:
        """(seconds to wait, 0.0 if the request may pass; tokens left) for one API request."""
        rate = self.options.effective_rate_limit()
        if rate is None:
            return 0.0, 0
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket.full(rate, now)
        wait_s = bucket.try_take(now)
        return wait_s, bucket.remaining

    def active_for(self, key: str) -> set[str]:
        """The ids of `key`'s tasks not known to be finished (for the concurrency limit)."""
        return self._active.setdefault(key, set())

    def running_count(self, key: str) -> int:
        active = self._active.get(key, set())
        now = self.clock()
        finished = {
            task_id
            for task_id in active
            if self.tasks[task_id].status(now) in (TaskStatus.SUCCESS, TaskStatus.FAILED)
        }
        active -= finished
        return len(active)

    def seconds_until_slot(self, key: str) -> float:
        """A hint for Retry-After: when the earliest running task of `key` is due."""
        now = self.clock()
        due = [self.tasks[task_id].due_at for task_id in self._active.get(key, set())]
        return max(0.0, min(due, default=now) - now)

    def remaining_balance(self, key: str) -> int | None:
        if self.options.balance is None:
            return None
        return max(0, self.options.balance - self.spent[key])

    def create_task(self, key: str, model_id: str, image_size: str = "") -> SimTask:
        """A new paid task, its latency and outcome drawn now, its balance charged."""
        options = self.options
        if options.latency_profile == REALISTIC:
            latency_s = draw_duration_s(model_id, image_size, self.rng)
        else:
            latency_s = self.rng.uniform(*options.latency_s)
        latency_s *= options.time_scale
        fails = self.rng.random() < options.fail_rate
        refused = not fails and draws(self.rng, options.refuse_rate)
        now = self.clock()
        task = SimTask(
            task_id=self.new_id("task"),
            key=key,
            model_id=model_id,
            created_at=now,
            created_wall=self.wall_clock(),
            latency_s=latency_s,
        )
        if fails:
            task.error = "Task Failed: the simulated model could not complete this edit"
            task.rendered_at = now
        elif refused:
            task.error = REFUSAL_MESSAGE
            task.rendered_at = now
            self.stats.refusals += 1
        self.tasks[task.task_id] = task
        self._active.setdefault(key, set()).add(task.task_id)
        self.spent[key] += 1
        self.stats.submits += 1
        self.stats.task_seconds += latency_s
        return task


def draws(rng: random.Random, rate: float) -> bool:
    """True for `rate` of the calls; never touches the generator when `rate` is 0,
    so scenarios recorded before a fault existed replay unchanged."""
    return rate > 0 and rng.random() < rate


def iso_utc(epoch_s: float) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z`, as the payloads carry times."""
    moment = datetime.fromtimestamp(epoch_s, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
