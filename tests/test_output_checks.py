"""Every result checked: the simulator's defective results (wrong size, wrong
shape, blank) are kept but named in the report's `checks`, counted in
summary.json and shown on the review page; `--strict-checks` fails their rows
as download errors, with the files still there."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from browser import open_page
from PIL import Image, ImageStat
from support import ThreadedSimulator, output_size, read_report, write_csv, write_image

from batchedit.catalogue import ratio_size
from batchedit.cli import main
from batchedit.pipeline.write.checks import (
    ExpectedShape,
    check_image,
    expected_shape,
    format_limit_problem,
    is_blank,
)
from batchedit.records import Check, EditRequest

Simulators = Callable[..., ThreadedSimulator]
FAST = ["--poll-interval", "0.01", "--no-progress"]
ROWS = 9
#: What each defect the simulator draws must be reported as.
DEFECT_CHECKS = {
    ("size_mismatch",): "small",
    ("ratio_mismatch",): "ratio",
    ("blank",): "blank",
}


def catalog(folder: Path) -> Path:
    write_image(folder / "photo.png", size=(80, 100), colour="purple")
    records = [
        {
            "id": f"sku-{n}",
            "prompt": "studio background",
            "image": "photo.png",
            "aspect_ratio": "4:5",
            "resolution": "1K",
        }
        for n in range(ROWS)
    ]
    return write_csv(folder / "catalog.csv", records)


def test_defective_results_are_kept_and_named_in_report_summary_and_page(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = threaded_simulator(defect_rate=1.0)
    run_dir = tmp_path / "run"
    assert main(["run", str(catalog(tmp_path)), "--out", str(run_dir), *FAST]) == 0

    report = read_report(run_dir)
    expected = output_size("4:5", "1K")  # the provider's grid: 928x1152
    kinds: Counter[str] = Counter()
    for line in report:
        assert line["status"] == "succeeded" and line["error"] is None
        kind = DEFECT_CHECKS[tuple(line["checks"])]
        kinds[kind] += 1
        (output,) = line["outputs"]
        with Image.open(run_dir / output["path"]) as image:
            size = image.size
            spread = max(ImageStat.Stat(image.convert("RGB")).stddev)
        if kind == "blank":
            assert size == expected and spread < 1
        elif kind == "small":
            assert size == (expected[0] // 2, expected[1] // 2) and spread > 10
        else:
            assert size == ratio_size("1:1", max(expected)) and spread > 10
    faults = simulator.stats()["faults"]
    assert kinds == {kind: faults[f"defect_{kind}"] for kind in kinds}
    assert sum(kinds.values()) == ROWS

    summary = json.loads((run_dir / "summary.json").read_text())
    counted = Counter(check for line in report for check in line["checks"])
    assert summary["checks"] == dict(counted)

    capsys.readouterr()
    assert main(["status", str(run_dir)]) == 0
    listed = ", ".join(f"{check} {n}" for check, n in sorted(counted.items()))
    assert f"output checks failed (files kept): {listed}" in capsys.readouterr().out

    # The checks live in the journal: a re-run that pays nothing reports them
    # again, and one that fetches a lost file again finds them again.
    (run_dir / report[0]["outputs"][0]["path"]).unlink()
    before = simulator.stats()["submits"]
    assert main(["run", str(catalog(tmp_path)), "--out", str(run_dir), *FAST]) == 0
    assert simulator.stats()["submits"] == before
    again = read_report(run_dir)
    assert [line["checks"] for line in again] == [first["checks"] for first in report]

    page = tmp_path / "review.html"
    assert main(["report", str(run_dir), "--html", str(page)]) == 0
    html = page.read_text()
    for check, count in counted.items():  # a filter button per check, with its count
        assert f'data-review="check:{check}"' in html
        assert f'<i class="dot check"></i>{check} <b>{count}</b></button>' in html
    rows = html.split('<article class="row"')[1:]
    for line, row_html in zip(report, rows, strict=True):  # and each row's own flags
        assert "".join(f'<span class="flag">{c}</span>' for c in line["checks"]) in row_html


def test_results_of_the_right_shape_pass_every_check(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator()
    run_dir = tmp_path / "run"
    assert main(["run", str(catalog(tmp_path)), "--out", str(run_dir), *FAST]) == 0
    assert all(line["checks"] == [] for line in read_report(run_dir))
    assert json.loads((run_dir / "summary.json").read_text())["checks"] == {}


def test_strict_checks_fail_the_rows_as_download_errors_and_keep_the_files(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator(defect_rate=1.0)
    run_dir = tmp_path / "run"
    argv = ["run", str(catalog(tmp_path)), "--out", str(run_dir), *FAST, "--strict-checks"]
    assert main(argv) == 1
    for line in read_report(run_dir):
        assert line["status"] == "failed"
        assert line["error"]["category"] == "download"
        assert line["checks"][0] in line["error"]["message"]
        (output,) = line["outputs"]
        assert (run_dir / output["path"]).is_file(), "a failed check keeps the file"


def test_strict_checks_is_a_job_file_setting(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator(defect_rate=1.0)
    catalog(tmp_path)
    job = tmp_path / "job.yaml"
    job.write_text("manifest: catalog.csv\noutput_dir: run\nstrict_checks: true\n")
    assert main(["run", str(job), *FAST]) == 1
    assert {line["status"] for line in read_report(tmp_path / "run")} == {"failed"}


def picture(size: tuple[int, int], *, flat: bool = False) -> Image.Image:
    if flat:
        return Image.new("RGB", size, (240, 240, 240))
    return Image.linear_gradient("L").resize(size).convert("RGB")


@pytest.mark.parametrize(
    ("size", "ratio", "checks"),
    [
        ((1024, 1280), 0.8, ()),
        ((928, 1152), 0.8, ()),  # a service's own grid for 4:5 at 1K: within tolerance
        ((512, 640), 0.8, (Check.SIZE_MISMATCH,)),
        ((1280, 1280), 0.8, (Check.RATIO_MISMATCH,)),
        ((800, 800), 0.8, (Check.SIZE_MISMATCH, Check.RATIO_MISMATCH)),
        ((1024, 1024), 0.8, (Check.RATIO_MISMATCH,)),  # the area is near enough
        ((1280, 1024), 0.8, (Check.RATIO_MISMATCH,)),
        ((2048, 2048), None, (Check.SIZE_MISMATCH,)),
        ((1400, 936), None, ()),  # no ratio asked for: only the area is checked
    ],
)
def test_size_and_ratio_tolerances(
    size: tuple[int, int], ratio: float | None, checks: tuple[Check, ...]
) -> None:
    assert check_image(picture(size), ExpectedShape(1024 * 1280, ratio)) == checks


@pytest.mark.parametrize(
    ("ratio", "image_size", "size", "checks"),
    [
        ("21:9", "1K", (1584, 672), ()),  # the provider's grid: passes
        ("21:9", "2K", (3168, 1344), ()),
        ("4:5", "1K", (928, 1152), ()),
        ("21:9", "1K", (1024, 439), (Check.SIZE_MISMATCH,)),  # a long side of 1024: too small
        ("1:1", "4K", (512, 512), (Check.SIZE_MISMATCH,)),
        ("16:9", "4K", (4096, 4096), (Check.RATIO_MISMATCH,)),
    ],
)
def test_results_are_checked_against_the_providers_grid(
    ratio: str, image_size: str, size: tuple[int, int], checks: tuple[Check, ...]
) -> None:
    request = EditRequest("google/nano-banana-pro-edit", "p", (), ratio, image_size)
    assert check_image(picture(size), expected_shape(request)) == checks


def test_near_blank_pictures_are_told_from_plain_backgrounds() -> None:
    assert is_blank(picture((300, 200), flat=True))
    noisy = Image.effect_noise((300, 200), 1).convert("RGB")  # faint noise on grey
    assert is_blank(noisy)
    product = picture((300, 200), flat=True)
    product.paste((20, 60, 200), (120, 70, 180, 130))  # a small product on white
    assert not is_blank(product)
    transparent = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    assert is_blank(transparent)
    assert check_image(transparent, None) == (Check.BLANK,)


def test_expected_shape_comes_from_the_catalogue_only_when_it_can_say() -> None:
    request = EditRequest("google/nano-banana-pro-edit", "p", (), "4:5", "2K")
    shape = expected_shape(request)
    assert (
        shape is not None
        and shape.pixels == 1856 * 2304  # the grid's 4:5 at 2K
        and shape.ratio == pytest.approx(1856 / 2304)
    )
    no_ratio = expected_shape(EditRequest("google/nano-banana-pro-edit", "p", (), None, "1K"))
    assert no_ratio == ExpectedShape(1024 * 1024, None)  # the default ratio's area
    fixed = expected_shape(EditRequest("google/nano-banana-edit", "p", (), "21:9"))
    assert fixed == ExpectedShape(1536 * 672, 1536 / 672)  # one grid, whatever the size
    assert expected_shape(EditRequest("google/nano-banana-pro-edit", "p", (), "4:5")) is None
    assert expected_shape(EditRequest("acme/new-model", "p", (), "4:5", "1K")) is None


def test_format_limits() -> None:
    assert format_limit_problem("WEBP", 16383, 100) is None
    problem = format_limit_problem("WEBP", 20000, 100)
    assert problem is not None and "16383" in problem and "png" in problem
    assert format_limit_problem("JPEG", 20000, 100) is None
    assert format_limit_problem("PNG", 70000, 100) is None


def test_the_review_page_filters_a_runs_rows_by_failed_check(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator(defect_rate=1.0)
    run_dir = tmp_path / "run"
    assert main(["run", str(catalog(tmp_path)), "--out", str(run_dir), *FAST]) == 0
    page_path = tmp_path / "review.html"
    assert main(["report", str(run_dir), "--html", str(page_path)]) == 0
    report = read_report(run_dir)
    with open_page() as page:
        page.goto(page_path.as_uri())
        page.click("[data-view=grid]")
        page.wait_for_selector(".card")
        for check in ("size_mismatch", "ratio_mismatch", "blank"):
            page.click(f"[data-review='check:{check}']")
            shown = page.evaluate(
                "Array.from(document.querySelectorAll('.card .cap b'), (b) => b.textContent)"
            )
            assert shown == [line["id"] for line in report if check in line["checks"]]
