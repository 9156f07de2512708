"""`--latency-profile realistic`: how long a task takes, per model and output size.

The service publishes no timings; these are the third-party figures in
modellix-api.md ("Edit models"): nano-banana-pro takes 15-20 s on average
at 1K (p95 25 s), 30-40 s at 2K (p95 50 s), 50-70 s at 4K (p95 90 s);
nano-banana-2 4-15 s at 1K and 10-56 s at 4K. Each (model, size) is a
log-normal distribution fitted to its mean and 95th percentile: skewed to
the right, with the long tail real tasks show (a few take twice the mean),
and never negative. Models with no published timing get a middling profile
by size. docs/simulator.md prints the table.
"""

from __future__ import annotations

import math
import random

#: (model, size) -> (mean seconds, 95th percentile seconds).
PROFILES: dict[tuple[str, str], tuple[float, float]] = {
    ("google/nano-banana-pro-edit", "1K"): (17.5, 25.0),
    ("google/nano-banana-pro-edit", "2K"): (35.0, 50.0),
    ("google/nano-banana-pro-edit", "4K"): (60.0, 90.0),
    ("google/nano-banana-2-edit", "512"): (6.0, 10.0),
    ("google/nano-banana-2-edit", "1K"): (9.0, 15.0),
    ("google/nano-banana-2-edit", "2K"): (18.0, 32.0),
    ("google/nano-banana-2-edit", "4K"): (30.0, 56.0),
}
#: Any other model, by size; the size is "" when the model has none.
BY_SIZE: dict[str, tuple[float, float]] = {
    "512": (8.0, 14.0),
    "1K": (15.0, 25.0),
    "2K": (30.0, 50.0),
    "4K": (50.0, 90.0),
    "": (20.0, 35.0),
}
#: The z-score of the 95th percentile of a standard normal.
_Z95 = 1.6448536269514722
REALISTIC = "realistic"
LATENCY_PROFILES = (REALISTIC,)


def profile_for(model: str, size: str) -> tuple[float, float]:
    """(mean, p95) seconds for a task of `model` at output size `size`."""
    return PROFILES.get((model, size)) or BY_SIZE.get(size) or BY_SIZE[""]


def lognormal_params(mean_s: float, p95_s: float) -> tuple[float, float]:
    """(mu, sigma) of the log-normal with this mean and 95th percentile.

    mean = exp(mu + sigma^2 / 2) and p95 = exp(mu + z * sigma), so
    sigma^2 / 2 - z * sigma + ln(p95 / mean) = 0; the smaller root is the one
    whose p95 lies above the mean.
    """
    gap = math.log(p95_s / mean_s)
    sigma = _Z95 - math.sqrt(max(0.0, _Z95 * _Z95 - 2.0 * gap))
    return math.log(mean_s) - sigma * sigma / 2.0, sigma


def draw_duration_s(model: str, size: str, rng: random.Random) -> float:
    """One task's duration, in unscaled seconds."""
    mu, sigma = lognormal_params(*profile_for(model, size))
    return rng.lognormvariate(mu, sigma)
