"""Fixtures: the simulator on a loopback port, in the test's own loop or in a
thread for tests that drive the synchronous CLI. Fast defaults throughout:
millisecond latencies, so no test waits on real seconds of polling."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from support import (
    FAST_LATENCY_S,
    TEST_KEY,
    StartSimulator,
    ThreadedSimulator,
)

from batchedit.simulator import RunningSimulator, SimOptions, running_simulator


@pytest.fixture(autouse=True)
def private_schema_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads the developer's own `models refresh` cache: validation
    would follow whatever schemas happen to be cached there."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture
async def start_simulator() -> AsyncIterator[StartSimulator]:
    """Factory: `await start_simulator(fail_rate=0.5)` serves one in this test's loop."""
    async with AsyncExitStack() as stack:

        async def start(**options: Any) -> RunningSimulator:
            options.setdefault("latency_s", FAST_LATENCY_S)
            options.setdefault("seed", 7)
            return await stack.enter_async_context(running_simulator(SimOptions(**options)))

        yield start


@pytest.fixture
def threaded_simulator(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., ThreadedSimulator]]:
    """Factory: a simulator in a thread, with MODELLIX_BASE_URL and the key pointed at it."""
    started: list[ThreadedSimulator] = []

    def start(**options: Any) -> ThreadedSimulator:
        options.setdefault("latency_s", FAST_LATENCY_S)
        options.setdefault("seed", 7)
        simulator = ThreadedSimulator(SimOptions(**options)).start()
        started.append(simulator)
        monkeypatch.setenv("MODELLIX_BASE_URL", simulator.base_url)
        monkeypatch.setenv("MODELLIX_API_KEY", TEST_KEY)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()
