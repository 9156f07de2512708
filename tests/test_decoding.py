"""Preflight that decodes: an image a decoder would refuse is `invalid`, with
the file named, before anything is paid; each distinct file is decoded once,
and a run directory keeps the verdicts by content for the next run."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from support import ThreadedSimulator, read_report, write_csv, write_image

from batchedit.cli import main
from batchedit.manifest.decoding import (
    DECODED_FILE,
    MAX_PIXELS,
    Verdicts,
    decode_problem,
    predecode,
)
from batchedit.state.rundir import RunPaths

Simulators = Callable[..., ThreadedSimulator]


def jpeg_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "orange").save(buffer, "JPEG")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims `width` x `height` (a decompression bomb's shape)."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = bytearray(data[12:29])  # type + 13 bytes of IHDR data
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def broken_images(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    good = write_image(folder / "good.png")
    truncated = folder / "truncated.jpg"
    truncated.write_bytes(jpeg_bytes()[: len(jpeg_bytes()) // 2])
    garbage = folder / "garbage.png"
    garbage.write_bytes(good.read_bytes()[:40] + b"\x00garbage" * 64)  # a good header, then junk
    bomb = folder / "bomb.png"
    bomb.write_bytes(png_claiming(30000, 30000))
    return {"good": good, "truncated": truncated, "garbage": garbage, "bomb": bomb}


def test_a_decoder_refuses_what_the_first_bytes_let_through(tmp_path: Path) -> None:
    files = broken_images(tmp_path)
    assert decode_problem(files["good"]) is None
    for name in ("truncated", "garbage"):
        assert "cannot be decoded" in (decode_problem(files[name]) or ""), name
    assert f"at most {MAX_PIXELS // 1_000_000} MP" in (decode_problem(files["bomb"]) or "")


def test_validate_names_each_broken_file_and_passes_the_good_one(
    tmp_path: Path, capsys: object
) -> None:
    files = broken_images(tmp_path / "photos")
    rows = [
        {"id": name, "prompt": "edit", "image": f"photos/{path.name}"}
        for name, path in files.items()
    ]
    manifest = write_csv(tmp_path / "rows.csv", rows)
    assert main(["validate", str(manifest)]) == 2
    err = capsys.readouterr()  # type: ignore[attr-defined]
    text = err.out + err.err
    for name in ("truncated.jpg", "garbage.png", "bomb.png"):
        assert f"image file 'photos/{name}'" in text, text
    assert "good.png" not in text


def test_a_run_pays_only_for_decodable_images_and_keeps_the_verdicts(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    files = broken_images(tmp_path / "photos")
    rows = [
        {"id": f"{name}-{n}", "prompt": "edit", "image": f"photos/{path.name}"}
        for n in range(2)
        for name, path in files.items()
    ]
    manifest = write_csv(tmp_path / "rows.csv", rows)
    run_dir = tmp_path / "run"
    command = ["run", str(manifest), "--out", str(run_dir), "--no-progress"]
    assert main([*command, "--poll-interval", "0.01"]) == 1

    statuses = {line["id"]: line["status"] for line in read_report(run_dir)}
    assert statuses == {
        f"{name}-{n}": "succeeded" if name == "good" else "invalid"
        for n in range(2)
        for name in files
    }
    assert simulator.stats()["submits"] == 2 and simulator.stats()["uploads"] == 1
    saved = (RunPaths(run_dir).state_dir / DECODED_FILE).read_text().splitlines()
    assert len(saved) == 4, "one verdict per distinct file"
    # A fresh process (no verdicts in memory) decodes nothing already judged
    # (the run prepares its inputs: the verdicts are on files to be prepared).
    fresh = Verdicts()
    paths = list(files.values())
    assert predecode(paths, RunPaths(run_dir).state_dir, verdicts=fresh, prepare=True) == 0
    assert fresh.problem(files["bomb"], prepare=True) is not None
    assert fresh.problem(files["good"], prepare=True) is None
    assert predecode(paths, RunPaths(run_dir).state_dir, verdicts=fresh) == 4, (
        "a verdict on a file to be prepared says nothing of it sent as it is"
    )
