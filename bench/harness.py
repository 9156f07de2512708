"""The benchmark harness: run sizes, a simulator process, a measured `batchedit`
process and what it asked of the service, and one line of the table.
Shared by the scenarios of `bench.py` (B1-B6) and `realistic.py` (B2 at
600 rows, B6b, B6c, B7)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor import MODEL  # noqa: E402

PY = sys.executable
KEY = "bench-key"
IMAGE = "https://cdn.example.com/products/p.jpg"


@dataclass(frozen=True, slots=True)
class Sizes:
    # Sizes cut to keep the whole `make bench` under 20 minutes on two cores
    # where a smaller size measures the same thing (docs/benchmarks.md says which).
    b1_rows: int = 5000
    b1_baseline_rows: int = 320  # fixed 2 s polling is rate-bound: fewer rows, same rate
    b2_rows: int = 1500
    b3_small_rows: int = 1000
    b3_large_rows: int = 20000  # also B4's run and B5's re-run
    b3_baseline_rows: tuple[int, int] = (128, 512)
    b4_validate_rows: int = 1_000_000
    b6_rows: int = 200
    b5_rows: int = 100_000  # B5 at the size: the finished run is written directly

    b2_small_rows: int = 600  # B2 again: the small-night case
    b6b_rows: int = 150  # rate-bound: the rate, not the count, is the figure
    b6c_rows: int = 150  # over three shards
    b7_rows: int = 1000
    b7_baseline_rows: int = 100  # concurrency 10 and 2 s polls: slow, and rate-bound alike
    b8_rows: int = 128  # realistic 4K PNG results, about 17 MB each: two waves at c=64
    b9_rows: int = 200  # distinct 24 MP JPEG inputs, made once and cached

    def scaled(self, factor: float) -> Sizes:
        def s(n: int) -> int:
            return max(16, round(n * factor))

        changes: dict[str, Any] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            scaled = tuple(s(v) for v in value) if isinstance(value, tuple) else s(value)
            changes[spec.name] = scaled
        return replace(self, **changes)


@dataclass(slots=True)
class Measured:
    rows: int
    wall_s: float
    peak_rss_mb: float
    exit_code: int
    summary: dict[str, Any]
    service: dict[str, Any]  # /_sim/stats counters spent by this run
    cpu_s: float = 0.0  # user and system seconds of the batchedit process

    @property
    def tasks_per_s(self) -> float:
        return self.rows / self.wall_s

    @property
    def polls_per_task(self) -> float:
        return float(self.service["polls"]) / max(1, int(self.service["submits"]))

    @property
    def requests(self) -> int:
        return int(self.service["submit_requests"]) + int(self.service["polls"])

    @property
    def not_succeeded(self) -> int:
        statuses = self.summary.get("statuses", {})
        return int(self.summary.get("rows", 0)) - int(statuses.get("succeeded", 0))


@dataclass(slots=True)
class Line:
    figure: str
    goal: str
    ours: str
    baseline: str
    met: bool | None
    note: str = ""


@dataclass(slots=True)
class Bench:
    work: Path
    sizes: Sizes
    lines: list[Line] = field(default_factory=list)

    def add(self, line: Line) -> None:
        """A measured figure: printed at once (a bench stopped later still
        tells what it measured), and kept for the table at the end."""
        met = "" if line.met is None else ("  goal met" if line.met else "  goal NOT met")
        baseline = f"  |  baseline: {line.baseline}" if line.baseline else ""
        print(f"{line.figure}: {line.ours} (goal {line.goal}){baseline}{met}", flush=True)
        self.lines.append(line)

    def manifest(self, rows: int) -> Path:
        path = self.work / f"manifest-{rows}.csv"
        if not path.exists():
            write_manifest(path, rows)
        return path

    def run_dir(self, name: str) -> Path:
        return self.work / "runs" / name


def write_manifest(path: Path, rows: int) -> None:
    """A catalog of hosted images: the simulator stands them in, nothing is fetched."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "prompt", "image", "resolution", "model"])
        for n in range(rows):
            writer.writerow(
                [f"sku-{n:07d}", f"Product {n}", "Put the {title} on white", IMAGE, "512", MODEL]
            )


@contextmanager
def simulator(*options: str) -> Iterator[str]:
    """A simulator process on a free port; its base URL."""
    command = [PY, "-m", "batchedit", "simulate", "--port", "0", "--prerendered", "--seed", "7"]
    process = subprocess.Popen(
        [*command, *options], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"the simulator did not start: {line!r}")
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(timeout=30)


def sim_stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/_sim/stats", timeout=30) as answer:
        data: dict[str, Any] = json.load(answer)
        return data


def _spent(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    spent = {k: after[k] - before[k] for k in after if isinstance(after[k], int | float)}
    responses = after.get("responses", {})
    spent["429"] = responses.get("429", 0) - before.get("responses", {}).get("429", 0)
    return spent


def run_measured(
    argv: list[str],
    base_url: str | None,
    rows: int,
    *,
    loop: str | None = None,
    env: dict[str, str] | None = None,
) -> Measured:
    """Run `batchedit ARGV` as its own process: wall time, peak RSS, summary, service
    use; `loop` "asyncio" keeps asyncio's event loop where uvloop is installed.
    Without `env`, the per-user latency cache is off: each run starts cold, as
    the figures of issue 7 were measured, and the user's cache stays untouched."""
    env = {
        **os.environ,
        "MODELLIX_API_KEY": KEY,
        **(env or {"BATCHEDIT_LATENCY_CACHE": "off"}),
    }
    if loop is not None:
        env["BATCHEDIT_LOOP"] = loop
    if base_url is not None:
        env["MODELLIX_BASE_URL"] = base_url
    before = sim_stats(base_url) if base_url else {}
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            [PY, "-m", "batchedit", *argv], env=env, stdout=subprocess.DEVNULL, stderr=errors
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode not in (0, 1):
            errors.seek(0)
            message = errors.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"batchedit {' '.join(argv)} exited {process.returncode}: {message}")
    summary: dict[str, Any] = {}
    if "--out" in argv:
        summary_path = Path(argv[argv.index("--out") + 1]) / "summary.json"
        if summary_path.exists():
            summary = json.loads(summary_path.read_text())
    service = _spent(before, sim_stats(base_url)) if base_url else {}
    cpu_s = usage.ru_utime + usage.ru_stime
    peak_rss_mb = usage.ru_maxrss / 1024
    return Measured(rows, wall_s, peak_rss_mb, process.returncode, summary, service, cpu_s)


@dataclass(frozen=True, slots=True)
class ProcessCost:
    """What a floor or baseline process took: wall seconds, peak RSS, CPU, its output."""

    wall_s: float
    peak_rss_mb: float
    cpu_s: float
    stdout: str


def run_process(argv: list[str]) -> ProcessCost:
    """Run a Python script (a floor or a baseline) as its own process, measured
    as `run_measured` measures batchedit; RuntimeError unless it exits 0."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen([PY, *argv], stdout=out)
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {code}")
        out.seek(0)
        text = out.read().decode(errors="replace")
    cpu_s = usage.ru_utime + usage.ru_stime
    return ProcessCost(wall_s, usage.ru_maxrss / 1024, cpu_s, text)


def run_rows(
    bench: Bench,
    base_url: str,
    name: str,
    rows: int,
    concurrency: int,
    fixed: bool,
    *,
    loop: str | None = None,
) -> Measured:
    argv = ["run", str(bench.manifest(rows)), "--out", str(bench.run_dir(name))]
    argv += ["--concurrency", str(concurrency), "--no-progress", "--yes"]  # a simulator: free
    if fixed:
        argv += ["--poll-interval", "2"]
    return run_measured(argv, base_url, rows, loop=loop)


def progress(message: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)
