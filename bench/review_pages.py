"""The review page and `report` at 300 rows of camera photos (issue 29.6).

A run directory is written directly: 300 rows, each input a 24 MP camera-like
JPEG (6000x4000, photo-like grain, about 5 MB) and each result a 1K PNG as the
realistic simulator makes them. The files are hard links of one photo and one
result under 300 names each: every path is a picture of its own to batchedit
(a thumbnail per path, size and time), the CPU is that of 600 real pictures,
and the disk holds two.

Measured, each in its own process:
- `batchedit report RUN --html FILE`, thumbnails made from cold (goal < 10 s),
  its wall and CPU seconds (on a machine shared with other work the CPU
  seconds over the cores say more than the wall time);
- `batchedit review RUN`: the time until it prints the URL (it makes every
  thumbnail first), then the first page of 300 rows over HTTP (goal < 3 s),
  and a second start, which finds the thumbnails made;
beside the floor, in the same run: the same 600 files only decoded at
thumbnail scale (JPEG draft), in as many threads, nothing written.

    .venv/bin/python bench/bench.py --only review
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import PY, Bench, Line, progress
from PIL import Image

from batchedit.records import InputSent, OutputFile, ReportRecord, Status
from batchedit.report.thumbnails import MAX_SIDE_PX, MAX_THREADS
from batchedit.simulator.realistic import paint_photo

ROWS = 300
PHOTO_PX = (6000, 4000)  # 24 MP, as a camera's
RESULT_PX = (896, 1152)  # 1K at 4:5 on the nano-banana grid
PAGE_GOAL_S = 3.0
REPORT_GOAL_S = 10.0


def write_photo_run(folder: Path, rows: int = ROWS) -> Path:
    """A finished run of `rows` camera photos, its report and summary written directly."""
    photos, run = folder / "photos", folder / "run"
    outputs = run / "outputs"
    photos.mkdir(parents=True, exist_ok=True)
    outputs.mkdir(parents=True, exist_ok=True)
    photo, result = folder / "photo.jpg", folder / "result.png"
    paint_photo(PHOTO_PX).save(photo, "JPEG", quality=90)
    paint_photo(RESULT_PX).save(result, "PNG")
    with open(run / "report.jsonl", "w", encoding="utf-8") as report:
        for n in range(rows):
            name = f"IMG_{n:04d}"
            os.link(photo, photos / f"{name}.jpg")
            os.link(result, outputs / f"{name}.png")
            output = OutputFile(
                f"outputs/{name}.png", "0" * 64, result.stat().st_size, *RESULT_PX, "png"
            )
            sent = InputSent(f"photos/{name}.jpg", *PHOTO_PX, photo.stat().st_size, "JPEG", ())
            record = ReportRecord(
                id=name,
                row=n + 1,
                status=Status.SUCCEEDED,
                model="google/nano-banana-pro-edit",
                prompt="Put the product on a seamless white background",
                images=(f"photos/{name}.jpg",),
                params={"aspectRatio": "4:5", "imageSize": "1K"},
                fields={},
                task_id=f"task-{n:08d}",
                outputs=(output,),
                inputs=(sent,),
            )
            report.write(json.dumps(record.to_json()) + "\n")
    summary = {"manifest": str(folder / "rows.csv"), "finished_at": "2026-12-07T00:00:00.000Z"}
    (run / "summary.json").write_text(json.dumps(summary), "utf-8")
    return run


def pictures_of(run: Path) -> list[Path]:
    photos = sorted((run.parent / "photos").iterdir())
    return photos + sorted((run / "outputs").iterdir())


def decode_floor_s(paths: list[Path]) -> tuple[float, float]:
    """Wall and CPU seconds to decode every file at thumbnail scale, in the
    thumbnailer's threads."""

    def decode(path: Path) -> None:
        with Image.open(path) as image:
            image.draft("RGB", (MAX_SIDE_PX, MAX_SIDE_PX))
            image.load()

    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=min(MAX_THREADS, os.cpu_count() or 1)) as pool:
        list(pool.map(decode, paths))
    return time.perf_counter() - started, time.process_time() - cpu


def timed_report(run: Path, page: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user and system, the kernel's account) of `report`."""
    started = time.perf_counter()
    process = subprocess.Popen([PY, "-m", "batchedit", "report", str(run), "--html", str(page)])
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"batchedit report exited {process.returncode}")
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def timed_review(run: Path) -> tuple[float, float, int]:
    """(seconds until the URL is printed, seconds for the first page, its bytes)."""
    started = time.perf_counter()
    with subprocess.Popen(
        [PY, "-m", "batchedit", "review", str(run), "--no-open"],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            printed_s = time.perf_counter() - started
            base, _, token = line.split()[2].partition("?token=")
            request = urllib.request.Request(base, headers={"Authorization": f"Bearer {token}"})
            asked = time.perf_counter()
            with urllib.request.urlopen(request, timeout=120) as answer:
                size = len(answer.read())
            return printed_s, time.perf_counter() - asked, size
        finally:
            process.send_signal(signal.SIGINT)  # as Ctrl-C (ignored if the bench's is)
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


def bench_review_pages(bench: Bench) -> None:
    folder = bench.work / "review-300"
    progress(f"review: writing a run of {ROWS} rows of 24 MP photos")
    run = write_photo_run(folder)
    floor_s, floor_cpu_s = decode_floor_s(pictures_of(run))
    progress("review: batchedit report, thumbnails from cold")
    report_s, report_cpu_s = timed_report(run, folder / "review.html")
    bench.add(
        Line(
            f"report --html, {ROWS} rows of 24 MP JPEGs + 1K PNG results",
            f"< {REPORT_GOAL_S:.0f} s",
            f"{report_s:.1f} s ({report_cpu_s:.1f} s CPU)",
            f"decode only at thumbnail scale: {floor_s:.1f} s ({floor_cpu_s:.1f} s CPU, "
            f"{2 * ROWS} pictures)",
            report_s < REPORT_GOAL_S,
        )
    )
    shutil.rmtree(run / ".batchedit" / "review", ignore_errors=True)
    progress("review: batchedit review, thumbnails from cold, then again")
    cold_url_s, first_page_s, size = timed_review(run)
    warm_url_s, warm_page_s, _ = timed_review(run)
    bench.add(
        Line(
            f"review first page, {ROWS} rows",
            f"< {PAGE_GOAL_S:.0f} s",
            f"{first_page_s:.2f} s ({size // 1024} KB; URL after {cold_url_s:.1f} s cold, "
            f"{warm_url_s:.1f} s warm, page {warm_page_s:.2f} s)",
            f"decode only at thumbnail scale: {floor_s:.1f} s",
            first_page_s < PAGE_GOAL_S,
        )
    )


REVIEW_SCENARIOS = {"review": bench_review_pages}
