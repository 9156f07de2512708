"""Thumbnails open pictures under the one picture policy (pictures.py): an EPS
input that validation refused, a PNG whose header declares a decompression
bomb, and a result replaced by an EPS file each get a placeholder tile naming
why, from `report` and from the review page alike, and Ghostscript is never
started.

Ghostscript need not be installed here, so a fake `gs` goes first on PATH and
records every call: without the policy Pillow's EPS plugin calls it (`gs
--version`, then the render), and its failure was exit 4 from `report` and a
500 from the review page.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from support import ThreadedSimulator, read_report, review_server, write_csv, write_image

from batchedit.cli import main

FAST = ["--poll-interval", "0.01", "--no-progress"]
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
BOMB_SIDE_PX = 30_000


def bomb_png(path: Path) -> Path:
    """A few hundred bytes whose header declares 30000x30000 px (900 MP)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", BOMB_SIDE_PX, BOMB_SIDE_PX, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1024)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
    return path


def fake_ghostscript(folder: Path) -> tuple[dict[str, str], Path]:
    """An environment whose PATH starts with a `gs` that records its calls and fails."""
    called = folder / "gs-called"
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    gs = bin_dir / "gs"
    gs.write_text(f'#!/bin/sh\necho "$@" >> {called}\nexit 1\n')
    gs.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}, called


def hostile_run(folder: Path) -> Path:
    """A run of a good PNG, a TIFF, an EPS and a bomb-headed PNG; the first row's
    result then replaced by an EPS file."""
    job = folder / "job"
    write_image(job / "good.png", size=(96, 120), colour="crimson")
    Image.new("RGB", (80, 60), "navy").save(job / "scan.tif")
    (job / "drawing.eps").write_bytes(EPS)
    bomb_png(job / "bomb.png")
    rows = [
        {"id": "good", "prompt": "on white", "image": "good.png"},
        {"id": "tiff", "prompt": "on white", "image": "scan.tif"},
        {"id": "eps", "prompt": "on white", "image": "drawing.eps"},
        {"id": "bomb", "prompt": "on white", "image": "bomb.png"},
        {"id": "swapped", "prompt": "on white", "image": "good.png"},
    ]
    manifest = write_csv(job / "rows.csv", rows)
    run = job / "run"
    assert main(["run", str(manifest), "--out", str(run), *FAST]) == 1
    report = {line["id"]: line for line in read_report(run)}
    assert {i: line["status"] for i, line in report.items()} == {
        "good": "succeeded",
        "tiff": "succeeded",
        "eps": "invalid",
        "bomb": "invalid",
        "swapped": "succeeded",
    }
    (run / report["swapped"]["outputs"][0]["path"]).write_bytes(EPS)
    return run


def page_rows(html: str) -> dict[str, dict[str, Any]]:
    found = re.search(r'id="data">(.*?)</script>', html, re.S)
    assert found is not None
    return {row["id"]: row for row in json.loads(found.group(1))}


def assert_placeholders(rows: dict[str, dict[str, Any]]) -> None:
    assert rows["good"]["in"][0]["t"] and rows["good"]["out"][0]["t"]
    assert rows["tiff"]["in"][0]["t"], rows["tiff"]["in"]  # an input format: shown
    eps, bomb, swapped = rows["eps"]["in"][0], rows["bomb"]["in"][0], rows["swapped"]["out"][0]
    assert eps["t"] is None and eps["f"] is None
    assert eps["n"].startswith("not shown: it is EPS (PostScript); only PNG, JPEG"), eps
    assert bomb["t"] is None
    assert f"is {BOMB_SIDE_PX}x{BOMB_SIDE_PX} px (900 MP), over the 250 MP" in bomb["n"], bomb
    assert swapped["t"] is None
    assert swapped["n"] == "not shown: it is EPS (PostScript); only PNG, JPEG and WebP are accepted"


def test_report_never_starts_ghostscript_and_shows_why_a_picture_is_not_shown(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> None:
    threaded_simulator()
    run = hostile_run(tmp_path)
    env, called = fake_ghostscript(tmp_path)
    html = tmp_path / "review.html"
    done = subprocess.run(
        [sys.executable, "-m", "batchedit", "report", str(run), "--html", str(html)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert not called.exists(), called.read_text()
    assert "(5 rows, 4 thumbnails)" in done.stdout  # good in and out, the TIFF in and out
    text = html.read_text("utf-8")
    assert_placeholders(page_rows(text))
    assert "not shown: it is EPS (PostScript)" in text  # the list's tile says it too


def test_the_review_page_never_starts_ghostscript_and_shows_placeholders(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> None:
    threaded_simulator()
    run = hostile_run(tmp_path)
    env, called = fake_ghostscript(tmp_path)
    with review_server(run, env=env) as served:
        base, _, token = served.url.partition("?token=")
        request = urllib.request.Request(base, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
            html = answer.read().decode("utf-8")
    assert not called.exists(), called.read_text()
    assert_placeholders(page_rows(html))
