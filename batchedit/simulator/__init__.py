"""A Modellix-compatible service on loopback, for tests, benchmarks and offline demos.

It speaks the protocol of modellix-api.md (submit, poll, download, upload,
errors and limits) and really edits, so the client can be proven against it
without a key or a network; its options script the failures and limits a
scenario needs, and `/_sim/stats` tells what was paid for.
"""

from __future__ import annotations

from batchedit.simulator.app import SCRATCH_PREFIX, create_app
from batchedit.simulator.options import (
    DEMO_C2PA_RATE,
    RESULT_PROFILES,
    SimOptions,
    parse_latency,
)
from batchedit.simulator.profiles import LATENCY_PROFILES
from batchedit.simulator.server import RunningSimulator, running_simulator, serve
from batchedit.simulator.store import STORE_DIR

__all__ = [
    "DEMO_C2PA_RATE",
    "LATENCY_PROFILES",
    "RESULT_PROFILES",
    "SCRATCH_PREFIX",
    "STORE_DIR",
    "SimOptions",
    "parse_latency",
    "create_app",
    "running_simulator",
    "RunningSimulator",
    "serve",
]
