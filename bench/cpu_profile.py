"""`make profile`: where a batchedit run spends its CPU, as a sorted table.

Runs a B1-shaped job (hosted images, latency 0, concurrency 64) in this
process under cProfile against a simulator process (`--prerendered`, so the
simulator's own work stays out of the figures), then prints the frames with
the most self time, overall and batchedit's own, and the CPU per task. The
raw profile is kept (`--out`) for `python -m pstats` or snakeviz.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import KEY, simulator, write_manifest  # noqa: E402

from batchedit.cli import main as batchedit_main  # noqa: E402
from batchedit.eventloop import loop_name  # noqa: E402


def profile_run(rows: int, concurrency: int, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="batchedit-profile-") as work:
        manifest = Path(work) / "manifest.csv"
        write_manifest(manifest, rows)
        with simulator("--latency", "0") as base_url:
            os.environ["MODELLIX_BASE_URL"] = base_url
            os.environ["MODELLIX_API_KEY"] = KEY
            argv = ["run", str(manifest), "--out", str(Path(work) / "run")]
            argv += ["--concurrency", str(concurrency), "--no-progress", "--yes"]
            profiler = cProfile.Profile()
            cpu_started, wall_started = time.process_time(), time.perf_counter()
            profiler.enable()
            code = batchedit_main(argv)
            profiler.disable()
            cpu_s, wall_s = time.process_time() - cpu_started, time.perf_counter() - wall_started
    profiler.dump_stats(out)
    print(f"\n{rows} rows, concurrency {concurrency}, {loop_name()} loop, exit {code}")
    print(f"CPU {cpu_s:.2f} s ({1000 * cpu_s / rows:.2f} ms a task), wall {wall_s:.2f} s")
    for title, restriction in (("every frame", ()), ("batchedit's own frames", ("batchedit",))):
        text = io.StringIO()
        stats = pstats.Stats(str(out), stream=text).sort_stats("tottime")
        stats.print_stats(*restriction, 15)
        table = text.getvalue()
        print(f"\nTop 15 by self time, {title}:")
        print(table[table.find("   ncalls") :].rstrip())
    print(f"\nraw profile: {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path("profile.out"))
    args = parser.parse_args()
    profile_run(args.rows, args.concurrency, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
