"""What each answer says about load, and who must act on it.

A 429 means one of two different things, and the cures differ:

- the request *rate* of the key is spent: every request (polls as much as
  submits) must come less often, so the learned request budget goes down
  (`ratelimit.RateLearner`), and the tasks in flight are not the problem;
- the key has too many *tasks* running: only new submits are refused, polls
  still pass, so the in-flight limit goes down (`inflight.AimdLimit`), and
  the request rate is not the problem.

Cutting the in-flight limit on every 429 (what this client did before)
starved a run that was merely asking too often: the limit fell to one task
again and again. `classify_429` tells the two apart from the answer itself,
in this order of trust: a 429 on anything but a submit is about the rate
(no task is being created); a message that names running tasks is about
concurrency; `X-RateLimit-Remaining: 0` is about the rate, a budget with
requests left is not; a message that names a request rate is about the
rate; failing all of those, a submit refused while polls still pass is about
concurrency, and otherwise the rate (the cheaper mistake: a slightly slower
budget, soon grown back).
"""

from __future__ import annotations

from enum import StrEnum

from batchedit.api.inflight import InFlightSlots
from batchedit.api.policy import LoadSignal
from batchedit.api.ratelimit import RateLearner
from batchedit.clock import Clock

#: A poll answered clean this recently, and not refused since, means "polls still pass".
READS_PASSING_WITHIN_S = 5.0

# The words services use for each limit in their 429 messages (the simulator's
# "N tasks already running for this key" and "rate limit of R requests per
# second exceeded"; Modellix's docs say "rate or concurrency limit"). Read
# only after the headers fail to decide, and only here.
_CONCURRENCY_WORDS = ("concurren", "tasks already running", "running tasks", "in flight")
_RATE_WORDS = ("requests per", "request rate", "rate limit", "per minute", "per second")


class Throttle(StrEnum):
    RATE = "rate"
    CONCURRENCY = "concurrency"


def classify_429(signal: LoadSignal, *, reads_passing: bool) -> Throttle:
    """Which limit a 429 is about (see the module docstring for the order)."""
    if not signal.paid:
        return Throttle.RATE
    text = signal.message.lower()
    if any(word in text for word in _CONCURRENCY_WORDS):
        return Throttle.CONCURRENCY
    if signal.remaining is not None:
        return Throttle.RATE if signal.remaining < 1 else Throttle.CONCURRENCY
    if any(word in text for word in _RATE_WORDS):
        return Throttle.RATE
    return Throttle.CONCURRENCY if reads_passing else Throttle.RATE


class LoadGovernor:
    """The client's `LoadFeedback`: each answer goes to the limit it concerns."""

    def __init__(self, rate: RateLearner, slots: InFlightSlots, clock: Clock) -> None:
        self.rate = rate
        self.slots = slots
        self._clock = clock
        self._read_clean_at = float("-inf")
        self._read_refused_at = float("-inf")
        self.concurrency_429s = 0
        self.rate_429s = 0

    def observe(self, signal: LoadSignal) -> None:
        now = self._clock.now()
        if signal.status == 429:
            kind = classify_429(signal, reads_passing=self._reads_passing(now))
            if kind is Throttle.CONCURRENCY:
                self.concurrency_429s += 1
                self.rate.answered()
                self.slots.rate_limited()
                return
            self.rate_429s += 1
            if not signal.paid:
                self._read_refused_at = now
            self.rate.rate_limited(signal.limit)
            return
        if signal.status != 200:
            self.rate.answered()
            return
        if not signal.paid:
            self._read_clean_at = now
        self.rate.clean(signal.limit, signal.remaining)
        self.slots.answered()

    def _reads_passing(self, now: float) -> bool:
        return (
            self._read_clean_at > self._read_refused_at
            and now - self._read_clean_at <= READS_PASSING_WITHIN_S
        )
