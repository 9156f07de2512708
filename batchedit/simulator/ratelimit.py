"""The per-key request budget behind the simulator's 429s.

A token bucket rather than a fixed window: it gives a client a precise time
at which the next request will pass, which is what `X-RateLimit-Reset` and
`Retry-After` promise and what a well-behaved client is tested on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """`rate` tokens per second, holding at most `capacity`; one token per request."""

    rate: float
    capacity: float
    tokens: float
    updated_at: float

    @classmethod
    def full(cls, rate: float, now: float) -> TokenBucket:
        capacity = max(1.0, rate)
        return cls(rate=rate, capacity=capacity, tokens=capacity, updated_at=now)

    def try_take(self, now: float) -> float:
        """Spend a token and answer 0.0, or spend nothing and answer the seconds to wait."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.tokens))

    def _refill(self, now: float) -> None:
        # A clock that steps backwards (an injected test clock) must not mint tokens.
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated_at = max(self.updated_at, now)
