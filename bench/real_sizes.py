"""B8 of issue 25: results at real sizes, in bounded memory.

200 rows of realistic 4K results (`batchedit simulate --result-profile
realistic`: photo-like PNGs of about 17 MB at the model's real grid, a
quarter of them carrying a C2PA-shaped manifest, as the simulator's default
share) at concurrency 64: batchedit's peak RSS (goal at most 800 MB) and CPU
seconds per result (user and system, from the kernel's accounting of the
process), beside the floor measured in the same run against the same
simulator (`result_floor.py`: the same requests, each result streamed to a
file, decoded by Pillow two at a time and fsynced, nothing else). Memory is
the goal; the CPU is there to see what the checks, the label, the kept
originals and the journal cost over the floor.
"""

from __future__ import annotations

import csv
from pathlib import Path

from harness import Bench, Line, progress, run_measured, run_process, simulator

CONCURRENCY = 64
RSS_GOAL_MB = 800.0
IMAGE = "https://cdn.example.com/products/p.jpg"
FLOOR = Path(__file__).resolve().parent / "result_floor.py"


def write_4k_manifest(path: Path, rows: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "prompt", "image", "aspect_ratio", "resolution"])
        for n in range(rows):
            writer.writerow([f"photo-{n:05d}", "Put it on white", IMAGE, "1:1", "4K"])


def bench_real_sizes(bench: Bench) -> None:
    rows = bench.sizes.b8_rows
    manifest = bench.work / f"manifest-4k-{rows}.csv"
    write_4k_manifest(manifest, rows)
    with simulator("--latency", "0", "--result-profile", "realistic") as url:
        progress(f"B8 floor: {rows} realistic 4K results, c={CONCURRENCY}")
        folder = bench.work / "b8-floor"
        floor = run_process([str(FLOOR), url, str(rows), str(CONCURRENCY), str(folder)])
        progress(f"B8 batchedit: {rows} realistic 4K results, c={CONCURRENCY}")
        argv = ["run", str(manifest), "--out", str(bench.run_dir("b8"))]
        argv += ["--concurrency", str(CONCURRENCY), "--no-progress", "--yes"]
        ours = run_measured(argv, url, rows)
    succeeded = rows - ours.not_succeeded
    cpu_s = ours.cpu_s
    bench.add(
        Line(
            f"B8 real sizes: peak RSS, CPU per result ({rows} realistic 4K PNG, c={CONCURRENCY})",
            f"<= {RSS_GOAL_MB:.0f} MB",
            f"{ours.peak_rss_mb:.0f} MB, {cpu_s / rows:.2f} s CPU/result "
            f"({succeeded}/{rows} succeeded, {ours.wall_s:.0f} s)",
            f"floor {floor.peak_rss_mb:.0f} MB, {floor.cpu_s / rows:.2f} s CPU/result"
            f" ({floor.wall_s:.0f} s)",
            ours.peak_rss_mb <= RSS_GOAL_MB and succeeded == rows,
        )
    )


REAL_SIZES_SCENARIOS = {"b8": bench_real_sizes}
