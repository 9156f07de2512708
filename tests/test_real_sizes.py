"""Results at real sizes in bounded memory (issue 25).

The simulator's realistic profile makes photo-like results at the model's
real output grid (a 4K PNG of 15 MB or more, as a real one is), and a run of
40 of them at concurrency 20 stays under 800 MB of peak RSS: downloads stream
to disk, and decoding holds the process's pixel budget rather than one
picture per writer.

The client is a real `python -m batchedit run` in a subprocess under an
address-space cap, its peak RSS read from the kernel's accounting of that
one child (os.wait4); the simulator serves from a thread of the test process.
What is measured is memory, not speed: the tasks take no time at the
simulator, and nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support import ThreadedSimulator, read_report, write_csv

ROWS = 40
CONCURRENCY = 20
PEAK_RSS_LIMIT_MB = 800
#: A runaway fails against this rather than swapping the machine.
ADDRESS_SPACE_CAP_BYTES = 4 * 1024**3
FOUR_K_PNG_MIN_BYTES = 15_000_000


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP_BYTES, ADDRESS_SPACE_CAP_BYTES))


@pytest.mark.timeout(900)
def test_forty_realistic_4k_results_at_concurrency_20_stay_under_800_mb(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> None:
    simulator = threaded_simulator(result_profile="realistic", latency_s=(0.0, 0.0))
    rows = [
        {
            "id": f"photo-{n:02d}",
            "prompt": "Put the product on a seamless white background",
            "image": "https://cdn.example.com/products/p.jpg",
            "aspect_ratio": "1:1",
            "resolution": "4K",
        }
        for n in range(ROWS)
    ]
    manifest = write_csv(tmp_path / "catalog.csv", rows)
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "batchedit", "run", str(manifest), "--out", str(run_dir)]
    command += ["--concurrency", str(CONCURRENCY), "--poll-interval", "0.05"]
    command += ["--no-progress", "--yes"]
    with open(tmp_path / "stderr.txt", "wb") as stderr:
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=_cap_memory
        )
        _, status, usage = os.wait4(process.pid, 0)
    code = process.returncode = os.waitstatus_to_exitcode(status)
    peak_rss_mb = usage.ru_maxrss / 1024  # kilobytes on Linux

    assert code == 0, (tmp_path / "stderr.txt").read_text()[-3000:]
    report = read_report(run_dir)
    assert [line["status"] for line in report] == ["succeeded"] * ROWS
    for line in report:
        (output,) = line["outputs"]
        assert (output["width"], output["height"], output["format"]) == (4096, 4096, "png")
        assert output["bytes"] >= FOUR_K_PNG_MIN_BYTES, "a real 4K PNG's size"
    assert simulator.stats()["downloads"] == ROWS
    assert peak_rss_mb < PEAK_RSS_LIMIT_MB, f"peak RSS {peak_rss_mb:.0f} MB"
