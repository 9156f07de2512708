"""Channel profiles (`output: {profile: amazon | shopify | merchant}`): the
stored deliverable is shaped to the channel and checked against its rules,
each rule broken named `profile:<rule>` in the row's checks; `--strict-checks`
fails such rows. Against the simulator, whose results keep a white backdrop
when the input has one and tint a coloured one."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageCms, ImageDraw
from support import ThreadedSimulator, output_size, read_report, write_csv, write_image

from batchedit.cli import main
from batchedit.manifest.channels import AMAZON, MERCHANT, PROFILES, SHOPIFY
from batchedit.manifest.naming import parse_output
from batchedit.pipeline.write.profiles import profile_checks, shape_for_profile
from batchedit.records import Check

Simulators = Callable[..., ThreadedSimulator]
FAST = ["--poll-interval", "0.01", "--no-progress"]


def _product_on_white(path: Path, size: int = 1024, margin: int = 50) -> Path:
    """A product shot: a coloured box filling ~90 % of a pure white frame."""
    picture = Image.new("RGB", (size, size), (255, 255, 255))
    ImageDraw.Draw(picture).rectangle(
        (margin, margin, size - margin, size - margin), fill=(190, 70, 40)
    )
    picture.save(path)
    return path


def _catalog(folder: Path) -> Path:
    _product_on_white(folder / "white.png")
    write_image(folder / "coloured.png", size=(1024, 1024), colour="teal")
    rows = [
        {"id": name, "prompt": "brighter", "image": f"{name}.png", "aspect_ratio": "1:1"}
        for name in ("white", "coloured")
    ]
    for row in rows:
        row["resolution"] = "1K"
    return write_csv(folder / "m.csv", rows)


def _border_is_white(image: Image.Image, band: int = 4) -> bool:
    rgb = image.convert("RGB")
    width, height = rgb.size
    edges = [
        rgb.crop((0, 0, width, band)),
        rgb.crop((0, height - band, width, height)),
        rgb.crop((0, 0, band, height)),
        rgb.crop((width - band, 0, width, height)),
    ]
    return all(_darkest(channel) >= 246 for edge in edges for channel in edge.split())


def _darkest(channel: Image.Image) -> int:
    return min(level for level, count in enumerate(channel.histogram()) if count)


def test_amazon_profile_stores_a_large_jpeg_and_flags_a_coloured_background(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator(prerendered=False)  # each result drawn from its own input
    _catalog(tmp_path)
    job = tmp_path / "job.yaml"
    job.write_text("manifest: m.csv\noutput:\n  profile: amazon\n")
    run_dir = tmp_path / "run"
    assert main(["run", str(job), "--out", str(run_dir), *FAST]) == 0

    width, height = output_size("1:1", "1K")
    assert max(width, height) >= 1000, "the simulator's 1K result is large enough for zoom"
    lines = {line["id"]: line for line in read_report(run_dir)}
    for line in lines.values():
        assert line["status"] == "succeeded"
        (output,) = line["outputs"]
        assert output["format"] == "jpeg" and str(output["path"]).endswith(".jpg")
        with Image.open(run_dir / output["path"]) as stored:
            assert stored.format == "JPEG" and stored.mode == "RGB"
            assert max(stored.size) >= 1000
            white = _border_is_white(stored)
            icc = stored.info.get("icc_profile")
        if icc:
            description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
            assert "srgb" in description.lower()
        assert white is (line["id"] == "white")
    assert lines["white"]["checks"] == []
    assert "profile:white_background" in lines["coloured"]["checks"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["checks"]["profile:white_background"] == 1
    assert simulator.stats()["submits"] == 2

    # From the command line, and strict: the coloured row fails as a download
    # error, its file still there; the white one succeeds.
    strict = tmp_path / "strict"
    args = ["--profile", "amazon", "--strict-checks"]
    assert main(["run", str(tmp_path / "m.csv"), "--out", str(strict), *FAST, *args]) != 0
    lines = {line["id"]: line for line in read_report(strict)}
    assert lines["white"]["status"] == "succeeded" and lines["white"]["checks"] == []
    failed = lines["coloured"]
    assert failed["status"] == "failed" and failed["error"]["category"] == "download"
    assert "profile:white_background" in failed["checks"]
    assert all((strict / o["path"]).is_file() for o in failed["outputs"])


def test_shaping_flattens_alpha_onto_white_in_srgb_and_downscales_with_lanczos() -> None:
    cutout = Image.new("RGBA", (1_200, 300), (0, 0, 0, 0))
    ImageDraw.Draw(cutout).rectangle((10, 10, 1_190, 290), fill=(10, 120, 200, 255))
    smaller = dataclasses.replace(AMAZON, max_side_px=1_000)  # Amazon's 10,000 px, scaled down
    shaped = shape_for_profile(cutout, smaller, pad=False, icc_profile=None)
    assert shaped.changed and shaped.image.mode == "RGB"
    assert shaped.image.size == (1_000, 250)
    assert shaped.image.getpixel((0, 0)) == (255, 255, 255), "transparency laid on white"
    assert shaped.icc_profile is not None
    description = ImageCms.getProfileDescription(
        ImageCms.ImageCmsProfile(io.BytesIO(shaped.icc_profile))
    )
    assert "srgb" in description.lower()

    # Shopify's 4472 px and 20 MP, a tenth on each side (a test keeps its memory small).
    tenth = dataclasses.replace(SHOPIFY, max_side_px=447, max_megapixels=0.2)
    for_shopify = shape_for_profile(
        Image.new("RGB", (460, 460), "navy"), tenth, pad=False, icc_profile=None
    ).image
    assert max(for_shopify.size) <= 447 and for_shopify.width * for_shopify.height <= 0.2e6
    assert profile_checks(for_shopify, 1_000, tenth) == ()
    untouched = Image.new("RGB", (800, 600), "navy")
    same = shape_for_profile(untouched, SHOPIFY, pad=False, icc_profile=None)
    assert not same.changed and same.image is untouched, "no re-encoding for nothing"


def test_padding_only_when_asked_and_the_product_share_of_the_frame() -> None:
    wide = Image.new("RGB", (1_200, 800), (255, 255, 255))
    ImageDraw.Draw(wide).rectangle((20, 20, 1_180, 780), fill=(200, 40, 40))
    assert shape_for_profile(wide, AMAZON, pad=False, icc_profile=None).image.size == (1_200, 800)
    padded = shape_for_profile(wide, AMAZON, pad=True, icc_profile=None).image
    assert padded.size == (1_200, 1_200)
    assert padded.getpixel((600, 100)) == (255, 255, 255), "white above the product"
    assert padded.getpixel((600, 600)) == (200, 40, 40)
    # Padded, the border stays white and the product still spans the width.
    assert profile_checks(padded, 1_000, AMAZON) == ()
    touching = Image.new("RGB", (1_200, 800), (200, 40, 40))
    padded = shape_for_profile(touching, AMAZON, pad=True, icc_profile=None).image
    assert profile_checks(padded, 1_000, AMAZON) == (Check.PROFILE_WHITE_BACKGROUND,)

    small_product = Image.new("RGB", (1_200, 1_200), (255, 255, 255))
    ImageDraw.Draw(small_product).rectangle((400, 400, 800, 800), fill="black")
    assert profile_checks(small_product, 1_000, AMAZON) == (Check.PROFILE_PRODUCT_FILL,)
    tiny = _product_on_white_image(600)
    assert profile_checks(tiny, 1_000, AMAZON) == (Check.PROFILE_LONG_SIDE,)


def _product_on_white_image(size: int) -> Image.Image:
    picture = Image.new("RGB", (size, size), (255, 255, 255))
    margin = size // 20
    ImageDraw.Draw(picture).rectangle((margin, margin, size - margin, size - margin), fill="red")
    return picture


def test_merchant_and_shopify_limits_are_checked() -> None:
    assert profile_checks(Image.new("RGB", (80, 300)), 500, MERCHANT) == (Check.PROFILE_MIN_SIZE,)
    over = MERCHANT.max_bytes
    assert over is not None
    assert profile_checks(Image.new("RGB", (300, 300)), over + 1, MERCHANT) == (
        Check.PROFILE_FILE_SIZE,
    )
    tight = dataclasses.replace(SHOPIFY, max_side_px=100, max_megapixels=0.005)
    assert profile_checks(Image.new("RGB", (120, 60)), 10, tight) == (
        Check.PROFILE_MAX_SIDE,
        Check.PROFILE_MEGAPIXELS,
    )


def test_every_limit_names_its_source_and_date() -> None:
    for profile in PROFILES.values():
        assert profile.source.url.startswith("https://")
        assert len(profile.source.read_on) == 10 and profile.source.read_on.startswith("20")


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ({"profile": "ebay"}, "profile must be amazon or shopify or merchant"),
        ({"profile": "amazon", "pad": "yes"}, "pad must be true or false"),
    ],
)
def test_bad_profile_settings_say_what_is_allowed(output: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_output(output)
    assert parse_output({"profile": " Amazon ", "pad": True}).profile == "amazon"
