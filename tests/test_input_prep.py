"""Real-shaped photos in: each local input prepared to what the service takes
(upright, 8-bit sRGB, PNG/JPEG/WebP, under the upload cap) before it is
uploaded, once per content across runs; `inputs: {prepare: off}` sends files
as they are and refuses what the service would."""

from __future__ import annotations

import io
import json
import os
import struct
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image, ImageCms
from support import ThreadedSimulator, read_report, write_csv

from batchedit.catalogue.spec import UPLOAD_MAX_BYTES, InputLimits
from batchedit.cli import main
from batchedit.manifest import input_prep
from batchedit.manifest.decoding import prepared_problem
from batchedit.manifest.input_prep import PREPARE_COPIES, PREPARED_DIR, prepare_input
from batchedit.pictures import PIXEL_BUDGET, PixelBudget

Simulators = Callable[..., ThreadedSimulator]
FAST = ["--poll-interval", "0.01", "--no-progress"]


def big_jpeg(path: Path) -> Path:
    """An 8192x5504 (45 MP, a studio camera's) JPEG at quality 100, over 16 MiB:
    a small tile of low-amplitude noise repeated (noise, so JPEG cannot make it
    small)."""
    tile = Image.frombytes("L", (256, 256), os.urandom(256 * 256)).point(lambda v: 120 + v // 48)
    flipped = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    tile = Image.merge("RGB", (tile, tile.rotate(90), flipped))
    big = Image.new("RGB", (8192, 5504))
    for x in range(0, 8192, 256):
        for y in range(0, 5504, 256):
            big.paste(tile, (x, y))
    big.save(path, "JPEG", quality=100)
    assert big.width * big.height > 45_000_000 and path.stat().st_size > UPLOAD_MAX_BYTES
    return path


def sideways_jpeg(path: Path) -> Path:
    """A 60x40 JPEG stored sideways: EXIF orientation 6 (turn 90 degrees clockwise to view)."""
    picture = Image.new("RGB", (60, 40), "white")
    picture.paste((255, 0, 0), (0, 0, 10, 40))  # a red band on the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 6
    picture.save(path, "JPEG", quality=95, exif=exif)
    return path


def photos(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("CMYK", (48, 32), (0, 200, 200, 0)).save(folder / "print.jpg", "JPEG")
    Image.new("I;16", (40, 30), 40000).save(folder / "scan.png")
    Image.new("RGB", (50, 30), "navy").save(folder / "studio.tif", "TIFF")
    pillow_heif.from_pillow(Image.new("RGB", (64, 48), "olive")).save(folder / "phone.heic")
    return {
        "big": big_jpeg(folder / "big.jpg"),
        "sideways": sideways_jpeg(folder / "sideways.jpg"),
        "cmyk": folder / "print.jpg",
        "sixteen": folder / "scan.png",
        "tiff": folder / "studio.tif",
        "heic": folder / "phone.heic",
    }


def test_each_kind_of_photo_is_prepared_to_what_the_service_takes(tmp_path: Path) -> None:
    files = photos(tmp_path / "in")
    originals = {name: path.read_bytes() for name, path in files.items() if name != "big"}
    expected = {
        "sideways": ["exif_rotated", "reencoded_jpeg"],
        "cmyk": ["cmyk_to_srgb", "reencoded_jpeg"],
        "sixteen": ["16bit_to_8bit", "reencoded_jpeg"],
        "tiff": ["from_tiff", "reencoded_jpeg"],
        "heic": ["from_heif", "reencoded_jpeg"],
    }
    for name, changes in expected.items():
        sent = prepare_input(files[name], name * 8, InputLimits(), tmp_path / "prepared")
        assert list(sent.changes) == changes, name
        with Image.open(sent.path) as picture:
            assert picture.format == "JPEG" and picture.mode == "RGB", name
            assert picture.size == (sent.width, sent.height)
            assert picture.getexif().get(0x0112) is None
        assert files[name].read_bytes() == originals[name], "the original is never touched"
    upright = prepare_input(files["sideways"], "s" * 8, InputLimits(), tmp_path / "prepared")
    with Image.open(upright.path) as picture:
        assert picture.size == (40, 60)
        red, green, _ = picture.getpixel((20, 3))  # type: ignore[misc]
        assert red > 200 and green < 60, "the stored left edge is now the top"

    small = InputLimits(max_bytes=400_000, max_long_side_px=1000)
    before = PIXEL_BUDGET.peak
    sent = prepare_input(files["big"], "b" * 8, small, tmp_path / "prepared")
    assert "downscaled" in sent.changes and max(sent.width, sent.height) <= 1000
    assert sent.bytes <= 400_000
    # Read at a reduced scale: 1/4 of 8192x5504 is still at least 1000 on its long side.
    assert PIXEL_BUDGET.peak <= max(before, PREPARE_COPIES * 2048 * 1376)


def test_a_preparation_holds_the_budget_for_both_copies_it_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Turning a photo upright makes the upright pixels while the stored ones
    are still there: its share of the budget counts both, so two 24 MP photos
    are not turned at once under a 48 MP budget (they held 400 MB)."""
    budget = PixelBudget()
    monkeypatch.setattr(input_prep, "PIXEL_BUDGET", budget)
    sideways = sideways_jpeg(tmp_path / "sideways.jpg")
    sent = prepare_input(sideways, "s" * 8, InputLimits(), tmp_path / "prepared")
    assert (sent.width, sent.height) == (40, 60)
    assert budget.peak == PREPARE_COPIES * 60 * 40
    assert budget.in_use == 0


def test_an_input_over_250_mp_is_refused_from_its_header(tmp_path: Path) -> None:
    header = struct.pack(">IIBBBBB", 20000, 13000, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\0" * 64)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    path = tmp_path / "poster.png"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    assert "20000x13000 px (260 MP), over the 250 MP allowed" in (prepared_problem(path) or "")


def test_real_shaped_photos_run_and_each_upload_is_what_the_service_takes(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    files = photos(tmp_path / "in")
    rows = [{"id": name, "prompt": "on white", "image": str(path)} for name, path in files.items()]
    manifest = write_csv(tmp_path / "m.csv", rows)
    run_dir = tmp_path / "run"

    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0

    report = {line["id"]: line for line in read_report(run_dir)}
    assert {line["status"] for line in report.values()} == {"succeeded"}
    assert simulator.stats()["uploads"] == len(files)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    for line in (run_dir / ".batchedit" / "uploads.jsonl").read_text().splitlines():
        with urllib.request.urlopen(json.loads(line)["url"], timeout=10) as answer:
            data = answer.read()
        assert len(data) <= UPLOAD_MAX_BYTES
        with Image.open(io.BytesIO(data)) as picture:
            assert picture.format in ("PNG", "JPEG", "WEBP")
            assert picture.mode in ("RGB", "RGBA"), "8 bits a channel, no CMYK, no palette"
            assert picture.getexif().get(0x0112, 1) == 1, "upright, nothing left to rotate"
            icc = picture.info.get("icc_profile")
            assert icc is None or ImageCms.getProfileDescription(
                ImageCms.ImageCmsProfile(io.BytesIO(icc))
            ) == ImageCms.getProfileDescription(srgb)
    sideways = report["sideways"]["inputs"]
    assert sideways == [
        {
            "source": str(files["sideways"]),
            "width": 40,
            "height": 60,
            "bytes": sideways[0]["bytes"],
            "format": "JPEG",
            "changes": ["exif_rotated", "reencoded_jpeg"],
        }
    ]
    assert report["big"]["inputs"][0]["bytes"] <= UPLOAD_MAX_BYTES
    assert report["heic"]["inputs"][0]["changes"] == ["from_heif", "reencoded_jpeg"]

    prepared = sorted((run_dir / ".batchedit" / PREPARED_DIR).iterdir())
    stamps = [path.stat().st_mtime_ns for path in prepared]
    write_csv(tmp_path / "m.csv", [{**row, "prompt": "on black"} for row in rows])
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0
    assert simulator.stats()["uploads"] == len(files), "the next run uploads nothing again"
    assert [path.stat().st_mtime_ns for path in prepared] == stamps, "nor prepares again"
    assert sorted((run_dir / ".batchedit" / PREPARED_DIR).iterdir()) == prepared


def test_prepare_off_sends_files_as_they_are_and_refuses_what_the_service_would(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (50, 30), "navy").save(folder / "studio.tif", "TIFF")
    Image.new("RGB", (50, 30), "navy").save(folder / "plain.png")
    rows = [
        {"id": "tiff", "prompt": "p", "image": "in/studio.tif"},
        {"id": "png", "prompt": "p", "image": "in/plain.png"},
    ]
    write_csv(tmp_path / "m.csv", rows)
    job = tmp_path / "job.yaml"
    job.write_text("manifest: m.csv\ninputs: {prepare: off}\n")

    assert main(["run", str(job), "--out", str(tmp_path / "run"), *FAST]) == 1
    report = {line["id"]: line for line in read_report(tmp_path / "run")}
    assert report["tiff"]["status"] == "invalid"
    assert "is not a PNG, JPEG or WebP image" in report["tiff"]["error"]["message"]
    assert report["png"]["status"] == "succeeded"
    assert report["png"]["inputs"][0]["changes"] == []
    assert simulator.stats()["uploads"] == 1
    assert not (tmp_path / "run" / ".batchedit" / PREPARED_DIR).exists()
