"""Where a result came from: the API origin that made it, and whether that
origin is a simulator.

A run directory records the origin of every task (DESIGN invariant 12), so a
result made by one origin never settles a row for another: the simulator's
pictures are not the service's, and a staging service's are not
production's. The rule is one comparison (`Origin.settles_for`), read by the
plan, the run and the report alike.

An origin is named by its key: `scheme://host:port` of the base URL (the path
left out, the port always written), or `run --simulate` for the simulator a
run starts inside itself (its tasks live in the run directory's state, so
every `--simulate` run of a directory is one origin, whatever port it got).
Whether an origin is a simulator is known offline for `--simulate`; for a
base URL it is learned from the answers: the simulator marks each of its
responses with the header `X-Modellix-Simulator`, which the real service
never sends.

Journals written before origins were recorded have none: their results are
`UNRECORDED_SIMULATED` when the run directory shows a simulated run
(`run --simulate`'s store in the state folder, or a recorded `--simulate`
invocation), else `UNRECORDED`, taken as real and settling for any run but a
simulated one. So a directory from an earlier release is neither published
as real when the simulator was there, nor paid for again when it was not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

#: The response header by which the simulator says what it is.
SIMULATOR_HEADER = "X-Modellix-Simulator"
#: The key of `run --simulate`'s in-process simulator.
SIMULATE_KEY = "run --simulate"
#: What the report says of a simulator's results.
SIMULATED_LABEL = "simulated"
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Origin:
    """An API origin: its key and whether it is a simulator."""

    key: str
    simulated: bool = False

    @property
    def recorded(self) -> bool:
        """False for the stand-ins of journals written before origins were."""
        return self.key != ""

    @property
    def label(self) -> str | None:
        """The report's `origin`: `simulated`, the API origin, or None (not recorded)."""
        if self.simulated:
            return SIMULATED_LABEL
        return self.key or None

    def settles_for(self, current: Origin) -> bool:
        """Whether a result of this origin settles a row for a run against `current`."""
        if self == UNRECORDED:
            return current.key != SIMULATE_KEY
        if self == UNRECORDED_SIMULATED:
            return current.key == SIMULATE_KEY
        return self.key == current.key

    def to_json(self) -> dict[str, object]:
        return {"origin": self.key, "simulated": self.simulated}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Origin | None:
        """An entry's origin (its `origin` and `simulated` keys), None if it has none."""
        key = data.get("origin")
        if not isinstance(key, str):
            return None
        return cls(key, data.get("simulated") is True)


#: `run --simulate`'s simulator.
SIMULATE = Origin(SIMULATE_KEY, simulated=True)
#: Results journalled before origins were recorded, in a directory with no sign
#: of a simulated run: taken as real.
UNRECORDED = Origin("", simulated=False)
#: The same in a directory where the simulator ran: taken as simulated.
UNRECORDED_SIMULATED = Origin("", simulated=True)


def origin_of(base_url: str) -> Origin:
    """The origin of an API base URL: `scheme://host:port`, path left out.
    Whether it is a simulator is learned from its answers, not from here."""
    parts = urlsplit(base_url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address, bracketed as in a URL
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return Origin(f"{scheme}://{host}:{port}")
