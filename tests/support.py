"""Helpers shared by the tests: a simulator served from a thread for the
synchronous CLI, small images and catalogs on disk, and the report reader."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import heapq
import itertools
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from batchedit.api.client import RetryPolicy
from batchedit.catalogue import output_pixel_size, packaged_catalogue
from batchedit.cli import main
from batchedit.errors import InputError
from batchedit.pipeline.runner import RunOutcome
from batchedit.pipeline.submit.breaker import BreakerSettings
from batchedit.records import InvalidRow, Row, Status
from batchedit.report.counts import ReportCounts
from batchedit.report.draft import ReportDraft, finish_report
from batchedit.report.report_file import invalid_record, request_record
from batchedit.simulator import RunningSimulator, SimOptions, running_simulator
from batchedit.state.fingerprint import FileDigests, request_fingerprint
from batchedit.state.history import JournalIndex
from batchedit.state.rundir import RunPaths

FAST_LATENCY_S = (0.0, 0.02)
#: What every `batchedit run` in a test adds: the simulator answers in
#: milliseconds, so look often; no progress bar in the captured output.
FAST_CLI = ("--poll-interval", "0.01", "--no-progress")
TEST_KEY = "test-key-7f3a9c"

#: Retries and breaker pauses of milliseconds: a run against a faulty service
#: spends its time on the faults, not on waiting them out.
FAST_RETRY = RetryPolicy(max_retries=8, base_delay_s=0.001, max_delay_s=0.01)
FAST_BREAKER = BreakerSettings(cool_down_s=0.005, max_cool_down_s=0.02)

StartSimulator = Callable[..., Awaitable[RunningSimulator]]


@dataclass
class PipelineRun:
    """What a run made by the `run_rows` fixture left: how it ended, its report
    lines, the simulator's counters after it, and its run directory."""

    outcome: RunOutcome
    report: list[dict[str, Any]]
    stats: dict[str, Any]
    paths: RunPaths

    def statuses(self) -> list[str]:
        return [line["status"] for line in self.report]

    def count(self, status: str) -> int:
        return self.statuses().count(status)


RunRows = Callable[..., Awaitable[PipelineRun]]


def output_size(aspect_ratio: str, image_size: str) -> tuple[int, int]:
    """A Google model's result size for a ratio and an imageSize, from the catalogue."""
    spec = packaged_catalogue().find("google/nano-banana-2-edit")
    assert spec is not None
    size = output_pixel_size(spec, {"aspectRatio": aspect_ratio, "imageSize": image_size})
    assert size is not None
    return size


class VirtualClock:
    """Virtual time for the injected Clock: a `sleep` wakes only when a test
    moves time past its deadline, by `advance` (a step) or `jump` (to the
    earliest sleeper, when every coroutine waits)."""

    def __init__(self) -> None:
        self.time = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.time + max(0.0, seconds), next(self._seq), future))
        await future

    async def advance(self, seconds: float) -> None:
        self.time += seconds
        while self._sleepers and self._sleepers[0][0] <= self.time:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
        for _ in range(5):  # let woken coroutines run
            await asyncio.sleep(0)

    def jump(self) -> bool:
        """Advance to the earliest live sleeper and wake it; False when none is left."""
        while self._sleepers:
            deadline, _, future = heapq.heappop(self._sleepers)
            if future.done():
                continue
            self.time = max(self.time, deadline)
            future.set_result(None)
            return True
        return False


class JumpingClock:
    """Virtual time for a client and an in-loop simulator that share it: a
    `sleep` moves time on by what it asks, at once, so a wait the service
    dictated (a 429's reset) is honoured on the simulator's clock without any
    real time passing."""

    def __init__(self) -> None:
        self.time = 0.0

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.time += max(0.0, seconds)
        await asyncio.sleep(0)


async def drive(clock: VirtualClock, *, until: float) -> None:
    """Run every coroutine waiting on `clock` until virtual time passes `until`
    or nothing is left asleep: no real time passes."""
    while True:
        for _ in range(8):  # let woken coroutines run to their next sleep
            await asyncio.sleep(0)
        if not clock._sleepers or min(clock._sleepers)[0] > until:
            clock.time = max(clock.time, until)
            return
        clock.jump()


class SteppedClock:
    """Real monotonic time plus an offset a test moves forward: a simulator on it
    keeps its millisecond latencies, and `advance(s)` makes `s` seconds pass at
    once for it (results expire, tasks finish) with no real waiting. Whatever
    happened before the step happened at least `s` seconds ago, however long a
    busy machine took to get there: a margin measured from the right moment."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def now(self) -> float:
        return time.monotonic() + self.offset_s

    def advance(self, seconds: float) -> None:
        self.offset_s += seconds


@dataclass
class ThreadedSimulator:
    """A simulator serving from its own thread and loop, for synchronous callers."""

    options: SimOptions
    clock: Callable[[], float] = time.monotonic
    base_url: str = ""
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None

    def start(self) -> ThreadedSimulator:
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("the simulator did not start")
        return self

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with running_simulator(self.options, clock=self.clock) as simulator:
            self.base_url = simulator.base_url
            self._ready.set()
            await self._stop.wait()

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base_url}/_sim/stats", timeout=10) as answer:
            data: dict[str, Any] = json.load(answer)
            return data

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)


def run_cli(manifest: Path, run_dir: Path, *extra: str) -> int:
    """`batchedit run MANIFEST --out RUN_DIR`, fast (FAST_CLI), then `extra`; its
    exit code. The simulator is the one `threaded_simulator` pointed the
    environment at."""
    return main(["run", str(manifest), "--out", str(run_dir), *FAST_CLI, *extra])


def write_image(path: Path, size: tuple[int, int] = (64, 48), colour: str = "teal") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    columns: list[str] = []
    for row in rows:
        columns.extend(name for name in row if name not in columns)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def two_image_manifest(folder: Path, rows: int) -> Path:
    """`rows` rows `row-00`, `row-01`, ... alternating between two local images."""
    write_image(folder / "a.png", colour="red")
    write_image(folder / "b.png", colour="blue")
    records = [
        {"id": f"row-{n:02d}", "prompt": "edit", "image": "a.png" if n % 2 else "b.png"}
        for n in range(rows)
    ]
    return write_csv(folder / "rows.csv", records)


def candidates_manifest(folder: Path, *, handles: bool = False) -> Path:
    """Row `duo` asking qwen for two candidates (`param.n` 2), row `solo` for
    one, both over one local image; with `handles`, a Shopify `Handle` each."""
    write_image(folder / "a.png")
    duo = {
        "id": "duo",
        "prompt": "two takes",
        "image": "a.png",
        "model": "alibaba/qwen-image-edit-plus",
        "param.size": "512*512",
        "param.n": "2",
    }
    solo = {"id": "solo", "prompt": "one take", "image": "a.png"}
    if handles:
        duo["Handle"], solo["Handle"] = "duo-bag", "solo-bag"
    return write_csv(folder / "m.csv", [duo, solo])


def read_report(run_dir: Path) -> list[dict[str, Any]]:
    with open(run_dir / "report.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def join_report(
    paths: RunPaths, rows: Iterable[Row | InvalidRow], index: JournalIndex, digests: FileDigests
) -> ReportCounts:
    """`paths.report` as a run writes it, for every one of `rows`: each drafted
    as the survey drafts a row with work (an invalid one as settled), then the
    draft finished from the journal `index` (report/draft.py)."""
    with ReportDraft(paths.report_draft) as draft:
        for row in rows:
            if isinstance(row, InvalidRow):
                draft.settled(invalid_record(row))
                continue
            try:
                fingerprint: str | None = request_fingerprint(row.request, digests)
            except InputError:
                fingerprint = None  # the file went away: the journal's outcome says so
            draft.to_finish(request_record(row, Status.PENDING), fingerprint)
    return finish_report(paths.report_draft, paths, index)


def make_mixed_catalog(folder: Path, rows: int = 8) -> Path:
    """A catalog of `rows` good rows over three local photos (one row with two
    inputs, one with a transparent cut-out), and two invalid rows after them."""
    write_image(folder / "photos" / "mug.png", size=(96, 120), colour="crimson")
    write_image(folder / "photos" / "cap.png", size=(120, 96), colour="navy")
    cutout = Image.new("RGBA", (80, 80), (0, 0, 0, 0))
    cutout.paste((200, 160, 20, 255), (20, 20, 60, 60))
    cutout.save(folder / "photos" / "cutout.png")
    names = ["mug", "cap", "cutout"]
    records = [
        {
            "id": f"sku-{n:03d}",
            "title": f"Product {n}",
            "prompt": "Put the {title} on white",
            "image": f"photos/{names[n % 3]}.png" + ("|photos/cap.png" if n == 1 else ""),
            "aspect_ratio": "4:5",
        }
        for n in range(rows)
    ]
    records.append(
        {
            "id": "bad-ratio",
            "title": "Odd",
            "prompt": "Put the {title} on white",
            "image": "photos/mug.png",
            "aspect_ratio": "7:3",
        }
    )
    records.append(
        {
            "id": "no-photo",
            "title": "Gone",
            "prompt": "Put the {title} on white",
            "image": "photos/gone.png",
            "aspect_ratio": "4:5",
        }
    )
    return write_csv(folder / "catalog.csv", records)


@dataclass
class ReviewProcess:
    """`batchedit review` in a child process: the URL it printed, and (once it
    stopped) what it wrote to stderr."""

    url: str
    stderr: str = ""


@contextlib.contextmanager
def review_server(
    run: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[ReviewProcess]:
    """`batchedit review RUN --no-open ARGS` in a child process, as a user gets it;
    stopped with SIGINT at the end, which must exit 0."""
    with subprocess.Popen(
        [sys.executable, "-m", "batchedit", "review", str(run), "--no-open", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("review page: http://127.0.0.1:"), line
            served = ReviewProcess(line.split()[2])
            yield served
        finally:
            process.send_signal(signal.SIGINT)
            try:
                _, errors = process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
            served.stderr = errors
            assert process.returncode == 0, errors


# A real `batchedit run` in a subprocess against the hostile server
# (hostile_server.py), measured: test_hostile.py, test_hostile_answers.py and
# test_hostile_redaction.py.

#: A realistic key: 32 characters, as the console issues them.
HOSTILE_KEY = "mk_9fQ2xLr7Tz4Wc8Hv1Nb6Ys3Pd5Ke0J"
MEMORY_CAP_BYTES = 1536 * 1024 * 1024
PEAK_RSS_LIMIT_MB = 300
DEADLINE_S = 60.0
HOSTILE_ROWS = 5


@dataclass
class HostileRun:
    """How a measured `batchedit run` against the hostile server ended."""

    code: int
    stdout: str
    stderr: str
    peak_rss_mb: float
    elapsed_s: float
    run_dir: Path

    def report(self) -> list[dict[str, Any]]:
        return read_report(self.run_dir)


#: The child reports its own peak, VmHWM of its own address space (new at
#: exec): the kernel's ru_maxrss of a child keeps the peak of the process it
#: was forked from, so a test process grown by earlier tests would be
#: measured instead of the client.
PEAK_PREFIX = "batchedit-test-peak-rss-kb "
LAUNCHER = (
    "import atexit, runpy, sys\n"
    "def peak():\n"
    "    with open('/proc/self/status') as status:\n"
    "        kb = next(line.split()[1] for line in status if line.startswith('VmHWM:'))\n"
    f"    sys.stderr.write('{PEAK_PREFIX}' + kb + '\\n')\n"
    "atexit.register(peak)\n"
    "sys.argv = ['batchedit', *sys.argv[1:]]\n"
    "runpy.run_module('batchedit', run_name='__main__', alter_sys=True)\n"
)


def _own_peak_mb(stderr: str, usage: Any) -> float:
    """The child's own peak RSS in MB, as it reported it; where it could not
    (killed), the kernel's figure, which may only be larger."""
    for line in reversed(stderr.splitlines()):
        if line.startswith(PEAK_PREFIX):
            return int(line.removeprefix(PEAK_PREFIX)) / 1024
    return float(usage.ru_maxrss) / 1024  # kilobytes on Linux


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))


def run_client(tmp_path: Path, base_url: str, *extra: str, key: str = HOSTILE_KEY) -> HostileRun:
    """`batchedit run` of 5 rows against `base_url`, measured."""
    rows = [
        {"id": f"row-{n}", "prompt": "edit", "image": "https://images.example.com/a.png"}
        for n in range(1, HOSTILE_ROWS + 1)
    ]
    manifest = write_csv(tmp_path / "rows.csv", rows)
    run_dir = tmp_path / "run"
    env = {
        **os.environ,
        "MODELLIX_BASE_URL": base_url,
        "MODELLIX_API_KEY": key,
        "PYTHONFAULTHANDLER": "",
    }
    command = [
        sys.executable,
        "-c",
        LAUNCHER,
        "-v",
        "run",
        str(manifest),
        "--out",
        str(run_dir),
        "--request-timeout",
        "5",
        "--poll-interval",
        "0.05",
        "--no-progress",
        *extra,
    ]
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    started = time.monotonic()
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = subprocess.Popen(
            command, stdout=stdout, stderr=stderr, env=env, preexec_fn=_cap_memory
        )
        try:
            _, status, usage = _wait4(process, timeout_s=DEADLINE_S + 30)
        finally:
            if process.poll() is None and process.returncode is None:
                process.kill()
    elapsed = time.monotonic() - started
    errors = err.read_text(encoding="utf-8", errors="replace")
    return HostileRun(
        code=os.waitstatus_to_exitcode(status),
        stdout=out.read_text(encoding="utf-8", errors="replace"),
        stderr=errors,
        peak_rss_mb=_own_peak_mb(errors, usage),
        elapsed_s=elapsed,
        run_dir=run_dir,
    )


def _wait4(process: subprocess.Popen[bytes], *, timeout_s: float) -> tuple[int, int, Any]:
    """Wait for the child and take its own resource usage (not that of every child):
    blocked in the kernel until it ends, the child killed by a timer if it
    outlives `timeout_s`."""
    overdue = threading.Event()

    def kill() -> None:
        overdue.set()
        process.kill()

    timer = threading.Timer(timeout_s, kill)
    timer.start()
    try:
        pid, status, usage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    if overdue.is_set():
        raise AssertionError(f"the run did not end within {timeout_s:.0f}s")
    return pid, status, usage


def assert_bounded(run: HostileRun) -> list[dict[str, Any]]:
    """What every hostile answer must leave: bounded time and memory, one report
    line per row, no traceback, and the key nowhere."""
    assert run.elapsed_s < DEADLINE_S, f"took {run.elapsed_s:.1f}s"
    assert run.peak_rss_mb < PEAK_RSS_LIMIT_MB, f"peak RSS {run.peak_rss_mb:.0f} MB"
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    report = run.report()
    assert [record["id"] for record in report] == [f"row-{n}" for n in range(1, HOSTILE_ROWS + 1)]
    assert_key_nowhere(run)
    return report


def assert_key_nowhere(run: HostileRun) -> None:
    """`grep -r HOSTILE_KEY` over the run directory and what was printed finds nothing."""
    found = subprocess.run(
        ["grep", "-r", "-l", "-a", "-F", HOSTILE_KEY, str(run.run_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 1, f"the key is in {found.stdout}"
    assert HOSTILE_KEY not in run.stdout and HOSTILE_KEY not in run.stderr


def errors(report: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (record["status"], record["error"]["category"], record["error"]["message"])
        for record in report
    ]
