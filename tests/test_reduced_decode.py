"""A JPEG result stored as it came is checked from a reduced-scale decode: the
same verdicts (cut short, blank, wrong size) at a fraction of the CPU and
memory, with the file's own size in the report."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from prepared import prepare_bytes

from batchedit.errors import DownloadError
from batchedit.manifest.naming import OutputSpec
from batchedit.pictures import PixelBudget
from batchedit.pipeline.write.checks import ExpectedShape
from batchedit.pipeline.write.prepare import CHECK_DECODE_PX
from batchedit.records import Check


def _jpeg(size: tuple[int, int], colour: str | None = None) -> bytes:
    picture = (
        Image.new("RGB", size, colour)
        if colour
        else Image.linear_gradient("L").resize(size).convert("RGB")
    )
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def test_a_large_jpeg_is_decoded_reduced_and_reported_at_its_own_size(tmp_path: Path) -> None:
    data = _jpeg((3000, 2000))
    budget = PixelBudget(3000 * 2000)
    expected = ExpectedShape(3000 * 2000, 1.5)
    done = prepare_bytes(tmp_path, data, OutputSpec(), expected, budget=budget)
    # Decoded at half of each side (1500x1000, both sides still over 512):
    # that is all the budget held.
    assert budget.peak == 1500 * 1000 and CHECK_DECODE_PX <= 1000
    assert budget.in_use == 0
    prepared = done.prepared
    assert (prepared.info.width, prepared.info.height) == (3000, 2000)
    assert (prepared.source.width, prepared.source.height) == (3000, 2000)
    assert prepared.checks == ()
    with Image.open(io.BytesIO(done.data)) as stored:
        assert stored.size == (3000, 2000)
        assert "AISystemUsed" in stored.info["xmp"].decode()


def test_a_jpeg_cut_short_still_fails_and_a_new_download_may_cure_it(tmp_path: Path) -> None:
    data = _jpeg((3000, 2000))
    with pytest.raises(DownloadError) as failure:
        prepare_bytes(tmp_path, data[: len(data) // 2], OutputSpec())
    assert failure.value.retry_may_cure


def test_the_checks_see_a_blank_or_wrongly_sized_jpeg_as_they_did_decoded_whole(
    tmp_path: Path,
) -> None:
    blank = prepare_bytes(tmp_path, _jpeg((2048, 2048), "white"), OutputSpec())
    assert blank.prepared.checks == (Check.BLANK,)
    four_k = ExpectedShape(4096 * 4096, 1.0)
    small = prepare_bytes(tmp_path, _jpeg((1024, 1024)), OutputSpec(), four_k)
    assert small.prepared.checks == (Check.SIZE_MISMATCH,)


def test_a_conversion_decodes_the_whole_image(tmp_path: Path) -> None:
    budget = PixelBudget()
    done = prepare_bytes(tmp_path, _jpeg((1200, 800)), OutputSpec(format="png"), budget=budget)
    assert budget.peak == 1200 * 800
    with Image.open(io.BytesIO(done.data)) as stored:
        assert stored.format == "PNG" and stored.size == (1200, 800)
