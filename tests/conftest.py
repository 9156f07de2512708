"""Fixtures: the simulator on a loopback port, in the test's own loop or in a
thread for tests that drive the synchronous CLI, and a whole run against one.
Fast defaults throughout: millisecond latencies, so no test waits on real
seconds of polling, and pre-rendered results (one honest image per output
shape, `prerendered=True`), so no test pays for the simulator drawing a
picture per task; a test about what the service drew asks for
`prerendered=False`.

An autouse check holds the suite to that: a `time.sleep` or `asyncio.sleep`
in the test process that spends more than 50 ms of real time, or a thread or
task whose sleeps spend more than half a second in all, fails its test at teardown
(`@pytest.mark.real_time("why")` opts out)."""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from hostile_server import HostileServer
from hypothesis import HealthCheck, settings
from s3_server import S3Server, s3_server
from support import (
    FAST_BREAKER,
    FAST_LATENCY_S,
    FAST_RETRY,
    HOSTILE_KEY,
    TEST_KEY,
    JumpingClock,
    PipelineRun,
    RunRows,
    StartSimulator,
    ThreadedSimulator,
    read_report,
    two_image_manifest,
)

from batchedit.api.endpoint import Endpoint
from batchedit.manifest.job import apply_overrides, load_job
from batchedit.pipeline.runner import RunConfig, run_pipeline
from batchedit.simulator import RunningSimulator, SimOptions, running_simulator
from batchedit.state.rundir import RunPaths

pytest_plugins = ["pytester"]

# Hypothesis times each example against the wall clock (a 200 ms deadline, and
# a health check on slow data generation): on a machine whose cores are busy
# with other work that fails tests for nothing they did. A hang is still
# caught by the per-test timeout (pyproject.toml).
settings.register_profile("batchedit", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("batchedit")


@pytest.fixture(autouse=True)
def private_schema_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads the developer's own `models refresh` cache: validation
    would follow whatever schemas happen to be cached there."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture
async def start_simulator() -> AsyncIterator[StartSimulator]:
    """Factory: `await start_simulator(fail_rate=0.5)` serves one in this test's loop;
    `clock=` gives it a test's monotonic clock (a JumpingClock's `now`)."""
    async with AsyncExitStack() as stack:

        async def start(
            *, clock: Callable[[], float] = time.monotonic, **options: Any
        ) -> RunningSimulator:
            options.setdefault("latency_s", FAST_LATENCY_S)
            options.setdefault("seed", 7)
            options.setdefault("prerendered", True)
            simulator = running_simulator(SimOptions(**options), clock=clock)
            return await stack.enter_async_context(simulator)

        yield start


@pytest.fixture
def run_rows(tmp_path: Path, start_simulator: StartSimulator) -> RunRows:
    """Factory: `await run_rows(rows=16, sim={...}, settings={...})` runs `rows` rows
    of two local images through the whole pipeline in this test's loop, against
    a simulator of its own scripted by `sim`, and returns what the run left.

    Fast defaults: concurrency 4, polls every 5 ms, retries and breaker pauses
    of milliseconds. `settings` are job settings over those; any other keyword
    is a RunConfig field (`read_timeout_s`, `stop_grace_s`, `retry`). With
    `clock` (a JumpingClock) the simulator and the pipeline share that virtual
    time. A second call in the same test runs into the same run directory (a
    re-run)."""

    async def run(
        *,
        rows: int = 16,
        sim: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        clock: JumpingClock | None = None,
        **config: Any,
    ) -> PipelineRun:
        sim_options = dict(sim or {})
        if clock is not None:
            sim_options["clock"] = clock.now
        simulator = await start_simulator(**sim_options)
        overrides: dict[str, Any] = {"concurrency": 4, "poll_interval_s": 0.005, **(settings or {})}
        job = apply_overrides(load_job(two_image_manifest(tmp_path, rows)), **overrides)
        paths = RunPaths(tmp_path / "run")
        config.setdefault("retry", FAST_RETRY)
        config.setdefault("breaker", FAST_BREAKER)
        endpoint = Endpoint(simulator.base_url, TEST_KEY)
        outcome = await run_pipeline(
            RunConfig(job, paths, endpoint, **config), total_rows=rows, clock=clock
        )
        return PipelineRun(outcome, read_report(paths.root), simulator.stats(), paths)

    return run


@pytest.fixture
def threaded_simulator(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., ThreadedSimulator]]:
    """Factory: a simulator in a thread, with MODELLIX_BASE_URL and the key pointed at it;
    `clock=` gives it a clock the test moves (a SteppedClock's `now`)."""
    started: list[ThreadedSimulator] = []

    def start(*, clock: Callable[[], float] = time.monotonic, **options: Any) -> ThreadedSimulator:
        options.setdefault("latency_s", FAST_LATENCY_S)
        options.setdefault("seed", 7)
        options.setdefault("prerendered", True)
        simulator = ThreadedSimulator(SimOptions(**options), clock).start()
        started.append(simulator)
        monkeypatch.setenv("MODELLIX_BASE_URL", simulator.base_url)
        monkeypatch.setenv("MODELLIX_API_KEY", TEST_KEY)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


#: The longest single real sleep a test may take; more is a test waiting on the wall clock.
MAX_REAL_SLEEP_S = 0.05
#: The most real sleeping one flow of control (a thread, or an asyncio task) may
#: do in a test, in all: a loop sleeping in short steps waits as long as one
#: long sleep does. Per flow, because concurrent sleeps overlap in time (forty
#: pollers each sleeping 10 ms cost 10 ms, not 400). Half a second, not less:
#: a test polling in 5 ms steps while the simulator draws a picture takes more
#: steps when both cores are busy with other work (240 ms seen at a load of
#: 16), and half a second still fails a test that waits real seconds.
MAX_FLOW_SLEEP_S = 0.5


class SleepLedger:
    """Each flow's real sleeping in one test: a sleep that ran to its end counts
    for the time it really waited and was asked to wait, the smaller of the two
    (a short sleep stretched by a busy machine is not the test's doing); one
    cancelled before its end (a poll wait cut short by a wake-up, a grace
    period ended by the answer) is not counted at all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flows: weakref.WeakKeyDictionary[object, float] = weakref.WeakKeyDictionary()
        self.long_sleeps_s: list[float] = []
        self.long_flows: dict[str, float] = {}

    def note(self, flow: object, name: str, asked_s: float, started: float) -> None:
        spent_s = min(max(0.0, asked_s), time.monotonic() - started)
        with self._lock:
            if spent_s > MAX_REAL_SLEEP_S:
                self.long_sleeps_s.append(spent_s)
            total_s = self._flows.get(flow, 0.0) + spent_s
            self._flows[flow] = total_s
            if total_s > MAX_FLOW_SLEEP_S:
                self.long_flows[name] = total_s

    def complaint(self) -> str | None:
        parts = []
        if self.long_sleeps_s:
            worst = ", ".join(f"{s * 1000:.0f} ms" for s in sorted(self.long_sleeps_s)[::-1][:5])
            parts.append(
                f"{len(self.long_sleeps_s)} real sleep(s) over {MAX_REAL_SLEEP_S * 1000:.0f} ms "
                f"(longest: {worst})"
            )
        if self.long_flows:
            worst = ", ".join(
                f"{name} {s * 1000:.0f} ms"
                for name, s in sorted(self.long_flows.items(), key=lambda item: -item[1])[:3]
            )
            parts.append(
                f"real sleeping over {MAX_FLOW_SLEEP_S * 1000:.0f} ms in all in one flow ({worst})"
            )
        return "; ".join(parts) or None


def _current_flow() -> tuple[object, str]:
    """The asyncio task running this code, or else its thread."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop in this thread
        task = None
    if task is not None:
        return task, f"task {task.get_name()}"
    thread = threading.current_thread()
    return thread, f"thread {thread.name}"


@pytest.fixture(autouse=True)
def no_long_real_sleeps(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that waits on the wall clock: one of whose sleeps (its own,
    the pipeline's real clock, the in-process simulator's, in any thread) spent
    more than MAX_REAL_SLEEP_S, or one flow of whose sleeps spent more than
    MAX_FLOW_SLEEP_S in all (a wait in short steps is still a wait).

    `asyncio.sleep` is replaced on the module, where the real clock
    (`clock.LoopClock`) and the simulator look it up at each call; sleeps in
    a subprocess are out of reach and are kept short by their options instead."""
    exempt = request.node.get_closest_marker("real_time")
    if exempt is not None:
        if not exempt.args or not str(exempt.args[0]).strip():
            pytest.fail("@pytest.mark.real_time needs a reason: why real seconds", pytrace=False)
        yield
        return
    ledger = SleepLedger()
    real_async_sleep = asyncio.sleep
    real_sleep = time.sleep

    async def watched_async_sleep(delay: float, result: Any = None) -> Any:
        started = time.monotonic()
        # A sleep cancelled before its end counts nothing: it was the upper bound
        # of a wait for something else (an answer, a wake-up), which came first.
        woken = await real_async_sleep(delay, result)
        ledger.note(*_current_flow(), delay, started)
        return woken

    def watched_sleep(seconds: float) -> None:
        started = time.monotonic()
        try:
            real_sleep(seconds)
        finally:
            thread = threading.current_thread()
            ledger.note(thread, f"thread {thread.name}", seconds, started)

    patches: list[tuple[object, str, object]] = [
        (asyncio, "sleep", watched_async_sleep),
        (asyncio.tasks, "sleep", watched_async_sleep),
        (time, "sleep", watched_sleep),
    ]
    originals = [getattr(module, name) for module, name, _ in patches]
    for module, name, watched in patches:
        setattr(module, name, watched)
    try:
        yield
    finally:
        for (module, name, _), original in zip(patches, originals, strict=True):
            setattr(module, name, original)
    complaint = ledger.complaint()
    if complaint is not None:
        pytest.fail(
            f"{complaint}; use the virtual clock or millisecond latencies, "
            "or mark the test @pytest.mark.real_time(reason)",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def latency_cache_outside_the_test(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Runs write a per-user cache of task durations: never the real user's, and
    never inside the test's own tmp_path (tests check nothing lands outside a run)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture
def hostile() -> Iterator[Callable[[str], HostileServer]]:
    """Factory: `hostile(mode)` starts the hostile server (hostile_server.py)
    in that mode, with the key `run_client` sends; each is stopped after the test."""
    started: list[HostileServer] = []

    def start(mode: str) -> HostileServer:
        server = HostileServer(mode, HOSTILE_KEY).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    """A real S3-compatible server (moto) on loopback, one per test module."""
    with s3_server() as server:
        yield server


@pytest.fixture
def bucket(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new empty bucket of `s3`, its credentials and endpoint in the environment."""
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    return s3.new_bucket()
