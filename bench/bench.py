"""`make bench`: batchedit's benchmark table, B1 to B6 of issue 7, from
`realistic.py` B2 at 600 rows, B6b, B6c and B7 of issue 16, and from
`real_sizes.py` B8 of issue 25 (results at real sizes), from `review_pages.py`
the review page and `report` at 300 rows of camera photos (issue 29). `--only
b8` runs one scenario; each figure's line is printed as soon as it is measured.

Every scenario starts the simulator as a separate process (`batchedit simulate
--prerendered`, so results cost the simulator no Pillow work and the figures
measure the client), runs `batchedit run` as its own process (peak RSS from
`os.wait4`), and reads what was asked of the service from `/_sim/stats`. Each
figure is printed beside the same benchmark run's figure for fixed 2-second
polling (`--poll-interval 2`, the official CLI's default).

Run sizes are smaller than the issue's where the full size would not fit the
ten minutes `make bench` has on two cores; the table says the size used, and
`--scale` multiplies every size (`--scale 2` for the issue's B2 size). This
is a measurement, not a test: nothing here fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor import floor_tasks_per_s  # noqa: E402
from harness import (  # noqa: E402
    Bench,
    Line,
    Measured,
    Sizes,
    progress,
    run_measured,
    run_process,
    run_rows,
    simulator,
)
from makespan_model import averaged, tuned_backoff  # noqa: E402
from real_inputs import REAL_INPUTS_SCENARIOS  # noqa: E402
from real_sizes import REAL_SIZES_SCENARIOS  # noqa: E402
from realistic import REALISTIC_SCENARIOS  # noqa: E402
from review_pages import REVIEW_SCENARIOS  # noqa: E402

RERUN_FLOOR = Path(__file__).resolve().parent / "rerun_floor.py"
FINISHED_RUN = Path(__file__).resolve().parent / "finished_run.py"

# -- the scenarios ---------------------------------------------------------


def bench_overhead(bench: Bench) -> None:
    """B1 on asyncio's loop and, when the `[fast]` extra is installed, on uvloop:
    batchedit and the floor on the same loop each time. The floor (floor.py)
    makes the same requests and does what keeping a result needs anyway:
    streams it to disk, decodes it with Pillow, fsyncs it."""
    rows, base_rows = bench.sizes.b1_rows, bench.sizes.b1_baseline_rows
    loops = ["asyncio", *(["uvloop"] if importlib.util.find_spec("uvloop") else [])]
    with simulator("--latency", "0") as url:
        for loop in loops:
            progress(f"B1 floor on {loop}: {rows} rows")
            factory = None if loop == "asyncio" else importlib.import_module(loop).new_event_loop
            with asyncio.Runner(loop_factory=factory) as runner:
                folder = bench.work / f"b1-floor-{loop}"
                floor = runner.run(floor_tasks_per_s(url, rows=rows, concurrency=64, folder=folder))
            progress(f"B1 batchedit on {loop}: {rows} rows")
            ours = run_rows(bench, url, f"b1-{loop}", rows, 64, fixed=False, loop=loop)
            if loop == loops[0]:
                progress(f"B1 fixed 2 s polling: {base_rows} rows")
                base = run_rows(bench, url, "b1-fixed", base_rows, 64, fixed=True, loop=loop)
            bench.add(
                Line(
                    f"B1 overhead on {loop}: tasks/s / floor ({rows} rows, latency 0, c=64)",
                    ">= 0.7",
                    f"{ours.tasks_per_s / floor:.2f} ({ours.tasks_per_s:.0f}/{floor:.0f} tasks/s)",
                    f"{base.tasks_per_s / floor:.2f} ({base.tasks_per_s:.0f} tasks/s,"
                    f" {base_rows} rows)",
                    ours.tasks_per_s / floor >= 0.7,
                )
            )
    if len(loops) == 1:
        bench.add(
            Line(
                "B1 overhead on uvloop",
                ">= 0.7",
                "uvloop not installed: pip install -e '.[fast]'",
                "",
                None,
            )
        )


def bench_scheduling(bench: Bench) -> None:
    """B2 against what poll placement can reach: batchedit's makespan over the
    ideal, divided by the model's `known best` (makespan_model.py: the planner
    given the true distribution before the first task), at the same size and
    concurrency; and, on the model, the plain learned backoff beside the
    planner (issue 28), so that the planner's lines stay measured."""
    rows, concurrency = bench.sizes.b2_rows, 100
    results = {}
    with simulator("--latency", "1-3") as url:
        for fixed in (False, True):
            progress(f"B2 {'fixed 2 s' if fixed else 'latency-aware'}: {rows} rows")
            results[fixed] = run_rows(bench, url, f"b2-{fixed}", rows, concurrency, fixed)
    progress(f"B2 model: known best, the planner and the tuned backoff at {rows} rows")
    best_ratio, best_polls = averaged(rows, concurrency, "known best")

    def figures(m: Measured) -> tuple[float, str]:
        ideal_s = float(m.service["task_seconds"]) / concurrency
        ratio = float(m.summary["wall_time_s"]) / ideal_s
        return ratio, (
            f"{ratio / best_ratio:.3f} of known best ({ratio:.3f} makespan/ideal,"
            f" {m.polls_per_task:.2f} polls/task; known best {best_ratio:.3f}"
            f" at {best_polls:.2f})"
        )

    (ratio, ours), (_, base) = figures(results[False]), figures(results[True])
    bench.add(
        Line(
            f"B2 scheduling ({rows} rows, latency 1-3 s, c={concurrency}) / model's known best",
            "<= 1.02",
            ours,
            base,
            ratio <= best_ratio * 1.02,
        )
    )
    planner_ratio, planner_polls = averaged(rows, concurrency, "batchedit")
    policy, backoff_ratio, backoff_polls = tuned_backoff(rows, concurrency, planner_polls)
    bench.add(
        Line(
            f"B2 model ({rows} rows, c={concurrency}): the planner, cold; beside it the plain"
            " learned backoff, tuned",
            "planner below backoff",
            f"{planner_ratio:.3f} makespan/ideal, {planner_polls:.2f} polls/task",
            f"{backoff_ratio:.3f}, {backoff_polls:.2f} polls/task ({policy})",
            planner_ratio < backoff_ratio,
        )
    )


def bench_scale_memory_rerun(bench: Bench) -> None:
    sizes = bench.sizes
    small, large = sizes.b3_small_rows, sizes.b3_large_rows
    base_small, base_large = sizes.b3_baseline_rows
    with simulator("--latency", "0") as url:
        progress(f"B3 latency-aware: {small} then {large} rows")
        ours_small = run_rows(bench, url, "b3-small", small, 64, fixed=False)
        ours_large = run_rows(bench, url, "b3-large", large, 64, fixed=False)
        progress(f"B3 fixed 2 s: {base_small} then {base_large} rows")
        base_small_m = run_rows(bench, url, "b3-fixed-small", base_small, 64, fixed=True)
        base_large_m = run_rows(bench, url, "b3-fixed-large", base_large, 64, fixed=True)
        progress(f"B5 re-runs of the {large}-row and {base_large}-row runs")
        rerun = run_rows(bench, url, "b3-large", large, 64, fixed=False)
        base_rerun = run_rows(bench, url, "b3-fixed-large", base_large, 64, fixed=True)
    growth = ours_large.tasks_per_s / ours_small.tasks_per_s
    base_growth = base_large_m.tasks_per_s / base_small_m.tasks_per_s
    bench.add(
        Line(
            f"B3 scale: tasks/s at {large} / at {small} rows",
            ">= 0.9",
            f"{growth:.2f} ({ours_large.tasks_per_s:.0f}/{ours_small.tasks_per_s:.0f} tasks/s)",
            f"{base_growth:.2f} ({base_large_m.tasks_per_s:.0f}/{base_small_m.tasks_per_s:.0f}"
            f" tasks/s at {base_large}/{base_small} rows)",
            growth >= 0.9,
        )
    )
    rows = sizes.b4_validate_rows
    path = bench.manifest(rows)
    progress(f"B4 validate: {rows} rows")
    validate = run_measured(["validate", str(path)], None, rows)
    bench.add(
        Line(
            f"B4 memory: validate {rows} rows, peak RSS",
            "< 150 MB",
            f"{validate.peak_rss_mb:.0f} MB ({validate.wall_s:.0f} s)",
            "(no polling)",
            validate.peak_rss_mb < 150,
        )
    )
    bench.add(
        Line(
            f"B4 memory: run of {large} rows, peak RSS",
            "< 300 MB (100,000 rows)",
            f"{ours_large.peak_rss_mb:.0f} MB",
            f"{base_large_m.peak_rss_mb:.0f} MB ({base_large} rows)",
            ours_large.peak_rss_mb < 300,
        )
    )
    bench.add(
        Line(
            f"B5 re-run of the finished {large}-row run",
            "< 15 s, 0 requests",
            f"{rerun.wall_s:.1f} s, {rerun.requests} requests",
            f"{base_rerun.wall_s:.1f} s, {base_rerun.requests} requests ({base_large} rows)",
            rerun.wall_s < 15 and rerun.requests == 0,
        )
    )


def bench_rerun_large(bench: Bench) -> None:
    """B5 at 100,000 rows: a first run that large takes longer than the bench may
    on two shared cores, so its run directory is written directly (journal and
    output files, bench/finished_run.py); the re-run is a real `batchedit run`,
    measured against a floor in the same bench (rerun_floor.py: the same
    manifest and journal read and each output stat'ed, in plain Python), since
    an absolute time holds on one machine only."""
    rows = bench.sizes.b5_rows
    manifest, run_dir = bench.manifest(rows), bench.run_dir("b5")
    progress(f"B5 writing a finished {rows}-row run directory")
    # In a process of its own: a child reports its parent's peak RSS as its own
    # (Linux keeps the high-water mark across exec), so the bench stays small.
    run_process([str(FINISHED_RUN), str(manifest), str(run_dir)])
    progress(f"B5 floor: reading the finished {rows} rows in plain Python")
    floor = run_process([str(RERUN_FLOOR), str(manifest), str(run_dir)])
    if int(floor.stdout.split()[0]) != rows:
        raise RuntimeError(f"the B5 floor found {floor.stdout.strip()} of {rows} rows done")
    with simulator("--latency", "0") as url:
        progress(f"B5 batchedit: re-run of {rows} rows")
        argv = ["run", str(manifest), "--out", str(run_dir), "--no-progress"]
        ours = run_measured(argv, url, rows)
    ratio = ours.wall_s / floor.wall_s
    bench.add(
        Line(
            f"B5 re-run of {rows} finished rows (run dir written directly) / floor",
            "<= 3x, 0 requests",
            f"{ratio:.1f}x ({ours.wall_s:.1f} s, {ours.cpu_s:.1f} s CPU, {ours.requests} requests,"
            f" {ours.peak_rss_mb:.0f} MB)",
            f"floor {floor.wall_s:.1f} s, {floor.cpu_s:.1f} s CPU, {floor.peak_rss_mb:.0f} MB",
            ratio <= 3 and ours.requests == 0,
        )
    )


def bench_request_budget(bench: Bench) -> None:
    rows = bench.sizes.b6_rows
    results = {}
    with simulator("--latency", "1-3", "--rate-limit", "20") as url:
        for fixed in (False, True):
            progress(f"B6 {'fixed 2 s' if fixed else 'latency-aware'}: {rows} rows")
            argv = ["run", str(bench.manifest(rows)), "--out", str(bench.run_dir(f"b6-{fixed}"))]
            argv += ["--concurrency", "100", "--no-progress", "--yes"]  # a simulator: free
            # The baseline is the official CLI's way: polls every 2 s and no notion of
            # a budget, so it learns of the limit from 429s; batchedit is told it.
            argv += ["--poll-interval", "2"] if fixed else ["--rate-limit", "20"]
            results[fixed] = run_measured(argv, url, rows)

    def figure(m: Measured) -> str:
        return (
            f"{m.tasks_per_s / 10:.2f} ({m.tasks_per_s:.1f} tasks/s, "
            f"{m.polls_per_task:.2f} polls/task, {m.service['429']} x 429, "
            f"{m.not_succeeded} not succeeded)"
        )

    ours = results[False]
    bench.add(
        Line(
            f"B6 request budget: tasks/s / 10 ({rows} rows, 20 req/s, c=100)",
            ">= 0.6, none failed",
            figure(ours),
            figure(results[True]),
            ours.tasks_per_s / 10 >= 0.6 and ours.not_succeeded == 0,
        )
    )


SCENARIOS = {
    "b1": bench_overhead,
    "b2": bench_scheduling,
    "b3": bench_scale_memory_rerun,
    "b5": bench_rerun_large,
    "b6": bench_request_budget,
    **REALISTIC_SCENARIOS,
    **REAL_SIZES_SCENARIOS,
    **REVIEW_SCENARIOS,
    **REAL_INPUTS_SCENARIOS,
}


def print_table(lines: list[Line], elapsed_s: float) -> None:
    headers = ("figure", "goal", "batchedit", "baseline: 2 s polling or floor", "goal met")
    rows = [
        (
            line.figure,
            line.goal,
            line.ours,
            line.baseline,
            "-" if line.met is None else ("yes" if line.met else "NO"),
        )
        for line in lines
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    rule = "  ".join("-" * width for width in widths)
    print(rule)
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print(rule)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    print(rule)
    print(f"{len(lines)} figures in {elapsed_s:.0f} s on {os.cpu_count()} CPU(s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every run size")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma-separated: {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="batchedit-bench-"))
    bench = Bench(work, Sizes().scaled(args.scale))
    started = time.perf_counter()
    try:
        for name in args.only.split(","):
            SCENARIOS[name.strip()](bench)
    finally:
        if args.keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_table(bench.lines, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
