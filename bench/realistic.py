"""The real service's rhythm (issue 16): B2 at 600 rows, B6b, B6c and B7.

- B2 at 600 rows: the small night, first run cold and the next night warm.
- B6b: a key limited to 5 requests/s and no `--rate-limit`: tasks/s over the
  bound R/2 (one submit and one poll per task at best), and the 429s.
- B6c: three shards of one job at once on one key limited to 6 requests/s:
  combined tasks/s over the bound, and each shard's share of a fair third.
- B7: `--latency-profile realistic --time-scale 0.05` (nano-banana-pro at
  1K/2K/4K, a night played twenty times faster), 1,000 rows, concurrency
  50: makespan over the ideal and polls per task, cold and warm.

Each beside the official CLI's policy: fixed 2 s polling, concurrency 10.
Runs read and write the per-user latency cache in the work folder only
(`XDG_CACHE_HOME`), so the first run is cold and the user's cache untouched.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from harness import (
    KEY,
    PY,
    Bench,
    Line,
    Measured,
    _spent,
    progress,
    run_measured,
    sim_stats,
    simulator,
)

OFFICIAL = ["--poll-interval", "2", "--concurrency", "10"]
PRO = "google/nano-banana-pro-edit"
IMAGE = "https://cdn.example.com/products/p.jpg"
SIZES = ("1K", "2K", "4K")


def cache_env(bench: Bench, name: str | None) -> dict[str, str]:
    """A latency cache of the work folder's (`name`), or none at all."""
    if name is None:
        return {"BATCHEDIT_LATENCY_CACHE": "off"}
    return {"XDG_CACHE_HOME": str(bench.work / f"cache-{name}")}


def argv_for(bench: Bench, manifest: Path, name: str, *options: str) -> list[str]:
    run_dir = str(bench.run_dir(name))
    return ["run", str(manifest), "--out", run_dir, "--no-progress", "--yes", *options]


def makespan_ratio(m: Measured, concurrency: int) -> float:
    ideal_s = float(m.service["task_seconds"]) / concurrency
    return float(m.summary["wall_time_s"]) / ideal_s


def makespan_figure(m: Measured, concurrency: int) -> str:
    return f"{makespan_ratio(m, concurrency):.3f}x ideal, {m.polls_per_task:.2f} polls/task"


def two_nights_and_official(
    bench: Bench,
    name: str,
    manifests: tuple[Path, Path],
    rows: tuple[int, int],
    simulator_options: tuple[str, ...],
    concurrency: int,
) -> tuple[Measured, Measured, Measured]:
    """A cold night and a warm one (sharing a latency cache), then the official
    policy without a cache, all against one simulator: (cold, warm, official)."""
    (manifest, base_manifest), (count, base_count) = manifests, rows
    nights: list[Measured] = []
    with simulator(*simulator_options) as url:
        for night in ("cold", "warm"):
            progress(f"{name.upper()} latency-aware, {night}: {count} rows")
            argv = argv_for(bench, manifest, f"{name}-{night}", "--concurrency", str(concurrency))
            nights.append(run_measured(argv, url, count, env=cache_env(bench, name)))
        progress(f"{name.upper()} official policy: {base_count} rows")
        argv = argv_for(bench, base_manifest, f"{name}-official", *OFFICIAL)
        official = run_measured(argv, url, base_count, env=cache_env(bench, None))
    return nights[0], nights[1], official


# -- B2 at 600 rows --------------------------------------------------------


def bench_small_night(bench: Bench) -> None:
    rows, base_rows = bench.sizes.b2_small_rows, bench.sizes.b7_baseline_rows
    manifests = bench.manifest(rows), bench.manifest(base_rows)
    cold, warm, base = two_nights_and_official(
        bench, "b2s", manifests, (rows, base_rows), ("--latency", "1-3"), 100
    )
    bench.add(
        Line(
            f"B2 small night ({rows} rows, latency 1-3 s, c=100): cold; warm",
            "<= 1.25x warm (the next night)",
            f"{makespan_figure(cold, 100)}; {makespan_figure(warm, 100)}",
            f"{makespan_figure(base, 10)} ({base_rows} rows, c=10)",
            makespan_ratio(warm, 100) <= 1.25,
        )
    )


# -- B6b: the budget learned --------------------------------------------------


def bench_learned_budget(bench: Bench) -> None:
    rows, rate = bench.sizes.b6b_rows, 5.0
    manifest = bench.manifest(rows)
    with simulator("--latency", "1-3", "--rate-limit", f"{rate:g}") as url:
        progress(f"B6b learned budget: {rows} rows, no --rate-limit")
        argv = argv_for(bench, manifest, "b6b", "--concurrency", "100")
        ours = run_measured(argv, url, rows, env=cache_env(bench, None))
        progress(f"B6b official policy: {rows} rows")
        argv = argv_for(bench, manifest, "b6b-official", *OFFICIAL)
        base = run_measured(argv, url, rows, env=cache_env(bench, None))

    def figure(m: Measured) -> str:
        share = m.service["429"] / max(1, m.requests)
        return (
            f"{m.tasks_per_s / (rate / 2):.2f} ({m.tasks_per_s:.2f} tasks/s, "
            f"{m.polls_per_task:.2f} polls/task, {m.service['429']} x 429 = {share:.1%}, "
            f"{m.not_succeeded} not succeeded)"
        )

    share = ours.service["429"] / max(1, ours.requests)
    bench.add(
        Line(
            f"B6b learned budget: tasks/s / {rate / 2:g} ({rows} rows, 5 req/s, no flag)",
            ">= 0.85, 429s < 3%",
            figure(ours),
            figure(base),
            ours.tasks_per_s / (rate / 2) >= 0.85 and share < 0.03 and ours.not_succeeded == 0,
        )
    )


# -- B6c: three shards on one key ----------------------------------------------


def run_shards(
    bench: Bench, url: str, manifest: Path, name: str, options: list[str]
) -> tuple[list[tuple[int, float]], dict[str, Any], float]:
    """Three `--shard K/3` processes at once: per shard (rows, wall s), the
    service's counters spent, and the wall time of the whole."""
    env = {**os.environ, "MODELLIX_API_KEY": KEY, "MODELLIX_BASE_URL": url}
    env.update(cache_env(bench, None))
    before = sim_stats(url)
    started = time.perf_counter()
    processes = []
    for shard in range(3):
        argv = argv_for(bench, manifest, f"{name}-{shard}", "--shard", f"{shard}/3", *options)
        processes.append(
            subprocess.Popen(
                [PY, "-m", "batchedit", *argv],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    ended: dict[int, float] = {}
    while len(ended) < len(processes):
        pid, _ = os.wait()
        ended[pid] = time.perf_counter() - started
    shards = []
    for shard, process in enumerate(processes):
        summary_path = bench.run_dir(f"{name}-{shard}") / "summary.json"
        summary = json.loads(summary_path.read_text())
        shards.append((int(summary["statuses"].get("succeeded", 0)), ended[process.pid]))
    return shards, _spent(before, sim_stats(url)), max(ended.values())


def bench_shards(bench: Bench) -> None:
    rows, rate = bench.sizes.b6c_rows, 6.0
    bound = rate / 2
    manifest = bench.manifest(rows)
    figures = {}
    with simulator("--latency", "1-3", "--rate-limit", f"{rate:g}") as url:
        for name, options in (("b6c", ["--concurrency", "100"]), ("b6c-official", OFFICIAL)):
            progress(f"B6c {name}: three shards of {rows} rows")
            figures[name] = run_shards(bench, url, manifest, name, options)

    def figure(shards: list[tuple[int, float]], spent: dict[str, Any], wall_s: float) -> str:
        combined = sum(done for done, _ in shards) / wall_s / bound
        shares = [done / shard_wall / (bound / 3) for done, shard_wall in shards]
        return (
            f"{combined:.2f} combined; shares {', '.join(f'{s:.2f}' for s in shares)} "
            f"of a fair third; {spent['429']} x 429"
        )

    shards, spent, wall_s = figures["b6c"]
    combined = sum(done for done, _ in shards) / wall_s / bound
    lowest = min(done / shard_wall / (bound / 3) for done, shard_wall in shards)
    bench.add(
        Line(
            f"B6c three shards, one key: tasks/s / {bound:g} ({rows} rows, 6 req/s)",
            ">= 0.8, each >= 0.5",
            figure(shards, spent, wall_s),
            figure(*figures["b6c-official"]),
            combined >= 0.8 and lowest >= 0.5,
        )
    )


# -- B7: minute-long tasks, played fast -----------------------------------------


def realistic_manifest(bench: Bench, rows: int) -> Path:
    """nano-banana-pro edits at 1K, 2K and 4K in turn."""
    path = bench.work / f"realistic-{rows}.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "prompt", "image", "resolution", "model"])
        for n in range(rows):
            writer.writerow([f"sku-{n:07d}", "Put it on white", IMAGE, SIZES[n % 3], PRO])
    return path


def bench_realistic(bench: Bench) -> None:
    rows, base_rows = bench.sizes.b7_rows, bench.sizes.b7_baseline_rows
    manifests = realistic_manifest(bench, rows), realistic_manifest(bench, base_rows)
    options = ("--latency-profile", "realistic", "--time-scale", "0.05")
    cold, warm, base = two_nights_and_official(
        bench, "b7", manifests, (rows, base_rows), options, 50
    )
    bench.add(
        Line(
            f"B7 realistic x0.05 ({rows} rows 1K/2K/4K, c=50): cold; warm",
            "<= 1.15x, <= 3 polls/task warm",
            f"{makespan_figure(cold, 50)}; {makespan_figure(warm, 50)}",
            f"{makespan_figure(base, 10)} ({base_rows} rows, c=10)",
            makespan_ratio(warm, 50) <= 1.15 and warm.polls_per_task <= 3,
        )
    )


REALISTIC_SCENARIOS = {
    "b2s": bench_small_night,
    "b6b": bench_learned_budget,
    "b6c": bench_shards,
    "b7": bench_realistic,
}
