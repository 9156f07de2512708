"""The breaker on unknown outcomes: a burst of submits whose answer never came
(a gateway timing out, a network path dropping answers) pauses submitting,
rather than paying into the fault or stopping a night's run at the first
hiccup.

Closed, it counts unknown outcomes among the last `window` submits; at
`burst` it opens for a cool-down (doubling each time it opens again, up to
`max_cool_down_s`). After the cool-down one submit goes alone as a probe: an
answered probe closes the breaker, an unknown one opens it again, longer.
A long clean spell (twice the window of answered submits) forgets the
repeats. Pure bookkeeping on a given time: the gate does the waiting.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    burst: int = 5  # unknown outcomes among the last `window` submits that open it
    window: int = 20
    cool_down_s: float = 10.0  # the first pause; doubles on each repeat
    max_cool_down_s: float = 300.0


class Breaker:
    def __init__(self, settings: BreakerSettings) -> None:
        self.settings = settings
        self._recent: deque[bool] = deque(maxlen=settings.window)  # True: unknown
        self._open_until: float | None = None
        self._probing = False  # the probe is on its way
        self._half_open = False  # the cool-down is over: the next submit is the probe
        self.trips = 0
        self._clean_streak = 0
        self.last_burst = 0  # unknown outcomes among the recent submits when it last opened

    @property
    def recent_unknown(self) -> int:
        return sum(self._recent)

    def wait_s(self, now: float) -> float | None:
        """None: a submit may go now; else seconds to wait (0: wait for the probe)."""
        if self._open_until is not None:
            if now < self._open_until:
                return self._open_until - now
            self._open_until = None
            self._half_open = True
        if self._half_open and self._probing:
            return 0.0
        return None

    def take_probe(self) -> bool:
        """Called as a submit is let through: whether it is the probe."""
        if self._half_open and not self._probing:
            self._probing = True
            return True
        return False

    def probe_abandoned(self) -> None:
        self._probing = False

    def clean(self, *, probe: bool) -> bool:
        """An answered submit; True if it was the probe that closed the breaker."""
        self._recent.append(False)
        self._clean_streak += 1
        if self._clean_streak >= 2 * self.settings.window:
            self.trips = 0
        if probe:
            self._probing = self._half_open = False
            self._recent.clear()
            return True
        return False

    def unknown(self, now: float, *, probe: bool) -> float | None:
        """An unknown outcome; the cool-down it starts, if it opens the breaker."""
        self._recent.append(True)
        self._clean_streak = 0
        if probe:
            self._probing = False
        opens = probe or (
            self._open_until is None
            and not self._half_open
            and self.recent_unknown >= self.settings.burst
        )
        if not opens:
            return None
        pause_s = min(self.settings.max_cool_down_s, self.settings.cool_down_s * 2.0**self.trips)
        self.trips += 1
        self.last_burst = self.recent_unknown
        self._half_open = False
        self._open_until = now + pause_s
        self._recent.clear()
        return pause_s
