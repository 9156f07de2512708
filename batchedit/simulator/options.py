"""How a simulator run is scripted: latency, failures, limits and the random seed.

Tests and benchmarks describe the service they want to face with one frozen
value, so a scenario is a literal in the test and replays with the same seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from batchedit.simulator.profiles import LATENCY_PROFILES

DEMO_C2PA_RATE = 0.25
RESULT_PROFILES = ("realistic",)


@dataclass(frozen=True, slots=True)
class SimOptions:
    """The behaviour of one simulated Modellix service."""

    #: A task takes uniform(lo, hi) seconds from submit to its terminal status.
    latency_s: tuple[float, float] = (0.0, 0.0)
    #: Fraction of created tasks that end `failed`.
    fail_rate: float = 0.0
    #: Fraction of API requests answered 500 or 503 (downloads and uploads' URLs excluded).
    error_rate: float = 0.0
    #: API requests per second per key before 429; the burst is max(1, rate_limit).
    rate_limit: float | None = None
    #: Non-terminal tasks per key before a submit gets 429.
    max_concurrent: int | None = None
    #: Accept only this key; None accepts any non-empty bearer key.
    api_key: str | None = None
    #: Paid tasks per key before 402; None is unlimited.
    balance: int | None = None
    #: Seconds a succeeded task's results stay downloadable.
    expire_after_s: float = 86400.0
    seed: int | None = None
    #: Serve one pre-rendered image per output shape instead of editing each input,
    #: so benchmarks measure the client rather than Pillow.
    prerendered: bool = False
    #: Fraction of submits whose task is created, then the connection dropped unanswered.
    drop_rate: float = 0.0
    #: Fraction of submits whose task is created and charged, then answered 504 by a gateway.
    gateway_timeout_rate: float = 0.0
    #: Fraction of 200 API answers replaced by a malformed body.
    malformed_rate: float = 0.0
    #: Fraction of result downloads cut short.
    truncate_rate: float = 0.0
    #: Fraction of answers (API and downloads) held back `slow_s` seconds.
    slow_rate: float = 0.0
    slow_s: float = 2.0
    #: Fraction of results that come back defective: half size, another shape, or blank.
    defect_rate: float = 0.0
    #: Fraction of results carrying a C2PA-shaped manifest (chosen by task id, not
    #: drawn); `batchedit simulate` and `run --simulate` default to DEMO_C2PA_RATE.
    c2pa_rate: float = 0.0
    #: Keep every accepted submit's path and body, served in /_sim/stats under
    #: `bodies`, so a test can assert on exactly what a client sent (off by
    #: default: bodies may carry data URIs of whole images).
    record_bodies: bool = False
    #: Fraction of created tasks that end `failed` with a safety refusal.
    refuse_rate: float = 0.0
    #: "realistic": each task's duration drawn per model and size (`profiles.py`)
    #: instead of from `latency_s`.
    latency_profile: str | None = None
    #: "realistic": photo-like results at the model's real output grid, PNG unless
    #: the request asks otherwise (a 4K PNG is 15 MB or more), one file per shape
    #: (`realistic.py`), so memory and CPU are measured at real sizes.
    result_profile: str | None = None
    #: Every duration the service has (task latency, slow answers, result expiry,
    #: the request budget's second and so every Retry-After) times this.
    time_scale: float = 1.0

    @property
    def scaled_expiry_s(self) -> float:
        return self.expire_after_s * self.time_scale

    def effective_rate_limit(self) -> float | None:
        """Requests per wall-clock second: a budget per scaled second."""
        return None if self.rate_limit is None else self.rate_limit / self.time_scale

    def __post_init__(self) -> None:
        # Checked here, not in the CLI, so a bad scenario in a test fails loudly too.
        low, high = self.latency_s
        if not (_finite(low) and _finite(high)) or low < 0 or high < low:
            raise ValueError(f"latency_s must be (lo, hi) with 0 <= lo <= hi, got {self.latency_s}")
        rates = {
            "fail_rate": self.fail_rate,
            "error_rate": self.error_rate,
            "drop_rate": self.drop_rate,
            "gateway_timeout_rate": self.gateway_timeout_rate,
            "malformed_rate": self.malformed_rate,
            "truncate_rate": self.truncate_rate,
            "slow_rate": self.slow_rate,
            "defect_rate": self.defect_rate,
            "c2pa_rate": self.c2pa_rate,
            "refuse_rate": self.refuse_rate,
        }
        for name, rate in rates.items():
            if not _finite(rate) or not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        if not _finite(self.slow_s) or self.slow_s < 0:
            raise ValueError(f"slow_s must be 0 or more seconds, got {self.slow_s}")
        if self.rate_limit is not None and not (_finite(self.rate_limit) and self.rate_limit > 0):
            raise ValueError(f"rate_limit must be a positive number, got {self.rate_limit}")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {self.max_concurrent}")
        if self.balance is not None and self.balance < 0:
            raise ValueError(f"balance must be 0 or more, got {self.balance}")
        if not _finite(self.expire_after_s) or self.expire_after_s <= 0:
            raise ValueError(f"expire_after_s must be positive, got {self.expire_after_s}")
        if not _finite(self.time_scale) or self.time_scale <= 0:
            raise ValueError(f"time_scale must be a positive number, got {self.time_scale}")
        _check_profile("latency_profile", self.latency_profile, LATENCY_PROFILES)
        _check_profile("result_profile", self.result_profile, RESULT_PROFILES)
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key must not be empty (use None to accept any key)")


def _check_profile(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value not in (None, *allowed):
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def parse_latency(text: str) -> tuple[float, float]:
    """`"0.5"` -> (0.5, 0.5); `"1-3"` -> (1.0, 3.0), the form `--latency` takes."""
    low_text, sep, high_text = text.strip().partition("-")
    try:
        low = float(low_text)
        high = float(high_text) if sep else low
    except ValueError:
        raise ValueError(
            f"latency must be seconds like '0.5' or a range like '1-3', got {text!r}"
        ) from None
    if not (_finite(low) and _finite(high)) or low < 0 or high < low:
        raise ValueError(
            f"latency must be non-negative seconds with the low end first, got {text!r}"
        )
    return low, high


def _finite(value: float) -> bool:
    return math.isfinite(value)
