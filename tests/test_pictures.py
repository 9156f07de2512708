"""The picture policy (pictures.py) and the container walk under it
(containers.py): only the formats named, caps read from the header before
anything is decoded, metadata and fill bytes bounded in bytes and time, and
one budget of pixels in flight shared by every worker thread."""

from __future__ import annotations

import asyncio
import io
import struct
import threading
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from batchedit.containers import (
    Layout,
    Malformed,
    copy_without_c2pa,
    pixel_digest,
    read_layout,
)
from batchedit.pictures import (
    MAX_METADATA_BYTES,
    MAX_RESULT_PIXELS,
    RESULT_FORMATS,
    PictureRefused,
    PixelBudget,
    decoded_pixels,
    inspect_picture,
    open_picture,
    result_pixel_cap,
)
from batchedit.simulator.provenance import ServiceMetadata, encode_result, manifest_store

MIB = 1024 * 1024


def layout_of(data: bytes, *, max_metadata_bytes: int = 64 * MIB) -> Layout:
    return read_layout(io.BytesIO(data), max_metadata_bytes=max_metadata_bytes)


def encoded(fmt: str, size: tuple[int, int] = (96, 64), **options: object) -> bytes:
    picture = Image.linear_gradient("L").resize(size).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` and holds one tiny IDAT: what a
    header-first policy must refuse without ever decoding."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def with_png_text(data: bytes, text_bytes: int) -> bytes:
    chunk = png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + b"x" * text_bytes)
    return data[:33] + chunk + data[33:]


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("PNG", {}),
        ("JPEG", {"quality": 80}),
        ("WEBP", {"lossless": True}),
        ("WEBP", {"quality": 80}),
        ("WEBP", {"quality": 80, "icc_profile": b"\0" * 200}),  # VP8X canvas
    ],
)
def test_the_walk_reads_each_formats_size_from_its_header(
    fmt: str, options: dict[str, object]
) -> None:
    layout = layout_of(encoded(fmt, (301, 157), **options))
    assert (layout.format, layout.width, layout.height) == (fmt, 301, 157)
    assert not layout.c2pa


def with_webp_c2pa(data: bytes) -> bytes:
    box = manifest_store("t")
    chunk = b"C2PA" + struct.pack("<I", len(box)) + box + b"\0" * (len(box) & 1)
    body = data[12:] + chunk
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_a_manifest_is_set_aside_without_touching_a_pixel_byte(fmt: str) -> None:
    picture = Image.linear_gradient("L").resize((120, 80)).convert("RGB")
    if fmt == "webp":
        signed = with_webp_c2pa(encoded("WEBP", (120, 80), quality=80))
    else:
        signed = encode_result(picture, fmt, ServiceMetadata("t", "sRGB", c2pa=True))
    assert layout_of(signed).c2pa
    out = io.BytesIO()
    copy_without_c2pa(io.BytesIO(signed), out, max_metadata_bytes=MIB)
    stripped = out.getvalue()
    assert not layout_of(stripped).c2pa and len(stripped) < len(signed)
    digests = [pixel_digest(io.BytesIO(d), max_metadata_bytes=MIB) for d in (signed, stripped)]
    assert digests[0] is not None and digests[0] == digests[1]
    with Image.open(io.BytesIO(signed)) as before, Image.open(io.BytesIO(stripped)) as after:
        assert after.tobytes() == before.tobytes() and after.size == (120, 80)


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_the_walk_finds_the_simulators_c2pa_manifests(fmt: str) -> None:
    picture = Image.linear_gradient("L").convert("RGB")
    signed = encode_result(picture, fmt, ServiceMetadata("t", "Display P3", c2pa=True))
    plain = encode_result(picture, fmt, ServiceMetadata("t", "Display P3", c2pa=False))
    assert layout_of(signed).c2pa and not layout_of(plain).c2pa
    assert layout_of(plain).metadata_bytes > 500  # the ICC profile, EXIF and XMP


def test_a_file_cut_short_is_malformed_and_has_no_pixel_digest() -> None:
    data = encoded("PNG")
    with pytest.raises(Malformed):
        layout_of(data[:-20])
    assert pixel_digest(io.BytesIO(data[:-20]), max_metadata_bytes=MIB) is None
    assert pixel_digest(io.BytesIO(data), max_metadata_bytes=MIB) is not None


def test_only_the_formats_named_are_opened_whatever_the_file_says(tmp_path: Path) -> None:
    eps = tmp_path / "a.png"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    tiff = tmp_path / "b.png"
    tiff.write_bytes(encoded("TIFF"))
    for path, named in ((eps, "EPS (PostScript)"), (tiff, "TIFF")):
        with pytest.raises(PictureRefused) as refused:
            inspect_picture(path, formats=RESULT_FORMATS, max_pixels=MAX_RESULT_PIXELS)
        assert refused.value.final
        assert refused.value.message == (f"is {named}; only PNG, JPEG and WebP are accepted")
    png = tmp_path / "c.png"
    png.write_bytes(encoded("PNG"))
    with pytest.raises(PictureRefused, match="is PNG; only JPEG are accepted"):
        inspect_picture(png, formats=("JPEG",), max_pixels=MAX_RESULT_PIXELS)


def test_a_huge_picture_is_refused_from_its_header_in_a_few_bytes(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(png_header_only(13000, 13000))
    assert path.stat().st_size < 200
    with pytest.raises(PictureRefused) as refused:
        inspect_picture(path, formats=RESULT_FORMATS, max_pixels=result_pixel_cap(1024 * 1024))
    assert refused.value.final
    assert refused.value.message.startswith("is 13000x13000 px (169 MP), over the 4.19 MP allowed")
    assert result_pixel_cap(None) == MAX_RESULT_PIXELS == 100_000_000


def test_metadata_past_its_bound_is_refused_without_being_read() -> None:
    small = encoded("PNG")
    assert layout_of(with_png_text(small, MIB)).metadata_bytes > MIB
    flood = with_png_text(small, MAX_METADATA_BYTES)
    started = time.process_time()
    with pytest.raises(PictureRefused, match="carries more than 16 MiB besides its pixels"):
        inspect_picture(io.BytesIO(flood), formats=RESULT_FORMATS, max_pixels=10**6)
    assert time.process_time() - started < 0.5


def test_jpeg_fill_bytes_are_skipped_a_block_at_a_time_and_bounded() -> None:
    """The box walker once stepped through fill bytes one at a time: 64 MiB of
    them cost 15 s of CPU. Now 8 MiB are walked in milliseconds and more than
    the metadata bound is refused."""
    data = encoded("JPEG")
    padded = data[:2] + b"\xff" * (8 * MIB) + data[2:]
    started = time.process_time()
    layout = layout_of(padded, max_metadata_bytes=MAX_METADATA_BYTES)
    assert time.process_time() - started < 0.5
    assert (layout.width, layout.height) == (96, 64)
    flood = data[:2] + b"\xff" * (MAX_METADATA_BYTES + 1) + data[2:]
    with pytest.raises(PictureRefused, match="fill bytes"):
        inspect_picture(io.BytesIO(flood), formats=RESULT_FORMATS, max_pixels=10**6)


def test_pillow_opens_only_what_the_walk_passed(tmp_path: Path) -> None:
    path = tmp_path / "a.webp"
    path.write_bytes(encoded("WEBP", (120, 80)))
    layout = inspect_picture(path, formats=RESULT_FORMATS, max_pixels=10**6)
    with open_picture(path, layout, formats=RESULT_FORMATS) as image:
        assert image.format == "WEBP" and image.size == (120, 80)
    assert decoded_pixels(layout) == 120 * 80


@pytest.mark.parametrize(
    "size", [(3000, 2000), (4096, 4096), (1584, 672), (600, 400), (5000, 300), (64, 48)]
)
def test_the_budget_is_taken_for_what_a_reduced_jpeg_decode_really_holds(
    size: tuple[int, int],
) -> None:
    data = encoded("JPEG", size)
    layout = layout_of(data)
    with Image.open(io.BytesIO(data)) as image:
        expected = decoded_pixels(layout, draft_px=512)
        assert expected == decoded_pixels(image, draft_px=512), "the same opened or walked"
        image.draft(image.mode, (512, 512))
        image.load()
        assert expected == image.width * image.height


# -- the budget ---------------------------------------------------------------


def test_the_budget_bounds_pixels_in_flight_across_threads() -> None:
    budget = PixelBudget(100)
    held = [0]
    peak = [0]
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work(pixels: int) -> None:
        start.wait()
        for _ in range(20):
            with budget.hold(pixels):
                with lock:
                    held[0] += pixels
                    peak[0] = max(peak[0], held[0])
                time.sleep(0)
                with lock:
                    held[0] -= pixels

    threads = [threading.Thread(target=work, args=(10 + 10 * (n % 4),)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 0 < peak[0] <= 100 and budget.peak <= 100
    assert budget.in_use == 0


def test_a_picture_larger_than_the_budget_waits_for_it_to_empty_then_runs_alone() -> None:
    budget = PixelBudget(100)
    order: list[str] = []
    with budget.hold(60):
        big = threading.Thread(target=lambda: _hold(budget, 500, order, "big"))
        big.start()
        while not budget._queue:  # the big one is queued behind what is held
            time.sleep(0)
        later = threading.Thread(target=lambda: _hold(budget, 10, order, "small"))
        later.start()
        while len(budget._queue) < 2:
            time.sleep(0)
        assert order == [] and budget.in_use == 60  # 10 more would fit, but waits its turn
    big.join()
    later.join()
    assert order == ["big", "small"] and budget.peak == 500 and budget.in_use == 0


def _hold(budget: PixelBudget, pixels: int, order: list[str], name: str) -> None:
    with budget.hold(pixels):
        order.append(name)
        assert budget.in_use == pixels, "runs alone when larger than the budget"


async def test_an_async_waiter_cancelled_gives_its_share_back() -> None:
    budget = PixelBudget(100)
    async with budget.hold_async(80):
        waiting = asyncio.create_task(_enter(budget, 50))
        await asyncio.sleep(0)
        assert len(budget._queue) == 1
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert not budget._queue and budget.in_use == 80
    async with budget.hold_async(100):
        assert budget.in_use == 100
    assert budget.in_use == 0


async def _enter(budget: PixelBudget, pixels: int) -> None:
    async with budget.hold_async(pixels):
        raise AssertionError("never granted while 80 of 100 are held")


def test_a_manifest_split_over_app11_segments_is_set_aside_whole() -> None:
    """JPEG XT carries a large box over several APP11 segments of one box
    instance, only the first starting with the C2PA description box."""
    box = manifest_store("t")
    half = len(box) // 2
    first = b"JP" + struct.pack(">HI", 7, 1) + box[:half]
    second = b"JP" + struct.pack(">HI", 7, 2) + box[:8] + box[half:]
    other = b"JP" + struct.pack(">HI", 8, 1) + b"\0\0\0\x10jumbnot c2pa"
    segments = b"".join(
        b"\xff\xeb" + struct.pack(">H", len(data) + 2) + data for data in (first, second, other)
    )
    data = encoded("JPEG")
    signed = data[:2] + segments + data[2:]
    out = io.BytesIO()
    copy_without_c2pa(io.BytesIO(signed), out, max_metadata_bytes=MIB)
    stripped = out.getvalue()
    assert stripped == data[:2] + segments[-(len(other) + 4) :] + data[2:]
