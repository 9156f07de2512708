"""B9 of issue 25: a catalog's real photos prepared before upload.

200 distinct 24 MP JPEGs (6000x4000, noise-textured so they weigh what a
camera's do, about 6 MB each, each different), stored sideways with EXIF
orientation 6 as a camera stores a portrait shot, so each must be prepared:
the service need not honour the tag, so batchedit decodes it, turns it
upright and encodes it again (input_prep.py) before uploading it. A real
`batchedit run` of 200 rows, one input each, against the simulator
(nano-banana-pro, which takes them at full size: no long-side limit is
published): images per second over the whole process (goal at least 6 on
two cores) and its peak RSS (goal at most 400 MB), beside a baseline
measured in the same bench, `input_baseline.py`: a plain Pillow loop, one
thread, doing the same work to the same files (open, EXIF orientation,
encode at quality 95).

The inputs are made once and kept in `.bench-cache/` at the repository's
root (gitignored; `BATCHEDIT_BENCH_CACHE` moves it): making them takes
about a minute, and a bench run after that only reads them.
"""

from __future__ import annotations

import csv
import os
import random
import sys
from pathlib import Path

from harness import Bench, Line, progress, run_measured, run_process, simulator
from PIL import Image, ImageChops

WIDTH, HEIGHT = 6000, 4000
INPUTS = 200
ORIENTATION_TAG, PORTRAIT = 0x0112, 6  # stored landscape, shown rotated 90 degrees clockwise
QUALITY = 92
IMAGES_PER_S_GOAL = 6.0
RSS_GOAL_MB = 400.0
CONCURRENCY = 16
MODEL = "google/nano-banana-pro-edit"
ROOT = Path(__file__).resolve().parent.parent
BASELINE = Path(__file__).resolve().parent / "input_baseline.py"


def cache_folder() -> Path:
    default = ROOT / ".bench-cache"
    return Path(os.environ.get("BATCHEDIT_BENCH_CACHE", default)) / "b9-24mp-v1"


def make_inputs(count: int) -> list[Path]:
    """`count` distinct 24 MP JPEGs in the cache folder, made the first time only,
    in a process of their own: a child forked from a process that once held
    hundreds of MB reports that as its own peak RSS (Linux keeps the parent's
    high-water mark across exec), so the bench process stays small."""
    folder = cache_folder()
    paths = [folder / f"photo-{n:03d}.jpg" for n in range(count)]
    missing = [path for path in paths if not path.exists()]
    if missing:
        progress(f"B9 making {len(missing)} 24 MP inputs in {folder} (once)")
        run_process([__file__, *map(str, missing)])
    return paths


def _make(missing: list[Path]) -> None:
    """The pictures at `missing`: one field of grain (Gaussian noise upscaled to
    a few pixels, as a photo's texture), shifted, its channels shuffled and
    tinted differently for each picture, so no two are alike and each
    compresses as a photo does."""
    missing[0].parent.mkdir(parents=True, exist_ok=True)
    grain = Image.merge(
        "RGB",
        [
            Image.effect_noise((WIDTH // 4, HEIGHT // 4), 40).resize(
                (WIDTH, HEIGHT), Image.Resampling.BILINEAR
            )
            for _ in range(3)
        ],
    )
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = PORTRAIT
    for path in missing:
        number = int(path.stem.split("-")[1])
        rng = random.Random(number)
        shifted = ImageChops.offset(grain, rng.randrange(WIDTH), rng.randrange(HEIGHT))
        bands = list(shifted.split())
        rng.shuffle(bands)
        tint = Image.new("RGB", (WIDTH, HEIGHT), tuple(rng.randrange(40, 216) for _ in range(3)))
        picture = Image.blend(tint, Image.merge("RGB", bands), 0.5)
        part = path.with_suffix(".part")
        picture.save(part, "JPEG", quality=QUALITY, exif=exif)
        part.replace(path)


def write_inputs_manifest(path: Path, inputs: list[Path]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "prompt", "image", "resolution", "model"])
        for number, image in enumerate(inputs):
            writer.writerow([f"photo-{number:03d}", "Put it on white", str(image), "1K", MODEL])


def bench_real_inputs(bench: Bench) -> None:
    rows = min(INPUTS, bench.sizes.b9_rows)
    inputs = make_inputs(rows)
    manifest = bench.work / f"manifest-inputs-{rows}.csv"
    write_inputs_manifest(manifest, inputs)
    progress(f"B9 baseline: {rows} inputs made upright by a plain Pillow loop, one thread")
    folder = bench.work / "b9-baseline"
    base = run_process([str(BASELINE), str(WIDTH), str(folder), *map(str, inputs)])
    with simulator("--latency", "0") as url:
        progress(f"B9 batchedit: {rows} rows, a 24 MP input each, c={CONCURRENCY}")
        argv = ["run", str(manifest), "--out", str(bench.run_dir("b9"))]
        argv += ["--concurrency", str(CONCURRENCY), "--no-progress", "--yes"]
        ours = run_measured(argv, url, rows)
    uploads = int(ours.service.get("uploads", 0))
    succeeded = rows - ours.not_succeeded
    bench.add(
        Line(
            f"B9 inputs: {rows} distinct 24 MP JPEGs made upright and uploaded, images/s, peak RSS",
            f">= {IMAGES_PER_S_GOAL:g}/s, <= {RSS_GOAL_MB:.0f} MB",
            f"{ours.tasks_per_s:.2f}/s, {ours.peak_rss_mb:.0f} MB, {ours.cpu_s / rows:.2f} s"
            f" CPU/image ({succeeded}/{rows} succeeded, {uploads} uploads, {ours.wall_s:.0f} s)",
            f"plain Pillow, one thread: {rows / base.wall_s:.2f}/s, {base.peak_rss_mb:.0f} MB,"
            f" {base.cpu_s / rows:.2f} s CPU/image",
            ours.tasks_per_s >= IMAGES_PER_S_GOAL
            and ours.peak_rss_mb <= RSS_GOAL_MB
            and succeeded == rows,
        )
    )


REAL_INPUTS_SCENARIOS = {"b9": bench_real_inputs}

if __name__ == "__main__":
    _make([Path(arg) for arg in sys.argv[1:]])
