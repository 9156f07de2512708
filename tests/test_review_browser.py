"""The review page in a real headless Chromium: every picture loads, nothing is
fetched from the network, the filters and the search change the visible rows,
and a screenshot shows a page rather than a blank.

Chromium is Debian's `chromium` package, driven by Playwright with
`executable_path` (no browser download). Without it the test skips, unless
BATCHEDIT_REQUIRE_BROWSER=1 (set by .ci/run), where a missing browser fails.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from browser import open_page
from PIL import Image
from support import ThreadedSimulator, make_mixed_catalog, read_report

from batchedit.cli import main
from batchedit.records import ReportRecord, Status
from batchedit.report.review_page import PageHeader, RowView, Tile, write_page

ROWS_1000 = 1000
FAST = ["--poll-interval", "0.01", "--no-progress"]
VISIBLE_ROWS = """() => Array.from(document.querySelectorAll('.row'))
    .filter((row) => row.getClientRects().length > 0)
    .map((row) => row.dataset.status)"""
FORCE_IMAGES = """async () => {
    const images = Array.from(document.querySelectorAll('#rows img'));
    for (const img of images) img.loading = 'eager';
    window.scrollTo(0, document.body.scrollHeight);
    await Promise.all(images.map((img) => img.decode().catch(() => null)));
    return images.map((img) => [img.getAttribute('src'), img.naturalWidth]);
}"""


def test_review_page_loads_every_image_filters_rows_and_is_not_blank(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> None:
    threaded_simulator(fail_rate=0.4)
    manifest = make_mixed_catalog(tmp_path / "job", rows=8)
    run_dir = tmp_path / "job" / "run"
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 1
    html = tmp_path / "elsewhere" / "review.html"  # not beside the run: links must still work
    assert main(["report", str(run_dir), "--html", str(html)]) == 0
    statuses = [line["status"] for line in read_report(run_dir)]
    counts = {status: statuses.count(status) for status in set(statuses)}
    assert counts["invalid"] == 2 and counts["succeeded"] and counts["failed"], counts

    with open_page() as page:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(html.as_uri())

        images = page.evaluate(FORCE_IMAGES)
        # 11 inputs given (one row has two) less the missing file, and the succeeded results
        assert len(images) == 10 + counts["succeeded"]
        assert [src for src, width in images if width == 0] == [], "broken images"
        assert all(url.startswith("file://") for url in requested), requested

        assert len(page.evaluate(VISIBLE_ROWS)) == len(statuses)
        for name, expected in (("failed", "failed"), ("invalid", "invalid")):
            page.click(f"[data-filter={name}]")
            assert page.evaluate(VISIBLE_ROWS) == [expected] * counts[expected]
        page.click("[data-filter=attention]")
        assert "succeeded" not in page.evaluate(VISIBLE_ROWS)
        page.click("[data-filter=all]")
        page.fill("#q", "SKU-001")
        page.wait_for_function("document.getElementById('shown').textContent.startsWith('1 ')")
        assert len(page.evaluate(VISIBLE_ROWS)) == 1
        page.fill("#q", "")
        page.wait_for_function(
            f"document.getElementById('shown').textContent.startsWith('{len(statuses)} ')"
        )

        page.evaluate("window.scrollTo(0, 0)")
        shot = Image.open(io.BytesIO(page.screenshot(full_page=False))).convert("RGB")
        colours = shot.getcolors(maxcolors=4096)
        assert colours is None or len(colours) > 50, "the screenshot is (nearly) one flat colour"
        shot.save(tmp_path / "review.png")


def test_a_1000_row_grid_draws_only_the_cards_near_the_viewport(tmp_path: Path) -> None:
    """Synthetic rows (the page writer alone): the grid holds a few screens of
    cards however long the run, scrolling draws the rows it reaches, and a
    filter over 1,000 rows is quick."""
    Image.new("RGB", (360, 450), "teal").save(tmp_path / "thumb.jpg")
    result = Tile("result", href="thumb.jpg", thumb="thumb.jpg", width=360, height=450)
    views = [
        RowView(
            ReportRecord(
                id=f"sku-{n:04d}",
                row=n + 1,
                status=Status.SUCCEEDED,
                model="google/nano-banana-pro-edit",
                prompt="Put it on white",
                images=(),
                params={},
                fields={},
            ),
            inputs=(),
            outputs=(result,),
            state="rejected" if n % 100 == 7 else "undecided",
            checks=("blank",) if n % 250 == 3 else (),
            changed=n >= 990,
        )
        for n in range(ROWS_1000)
    ]
    header = PageHeader(
        "big", "", (), ROWS_1000, {Status.SUCCEEDED: ROWS_1000}, {}, checks={"blank": 4}, changed=10
    )
    page_path = tmp_path / "big.html"
    with open(page_path, "w", encoding="utf-8") as out:
        write_page(out, header, views)

    with open_page(1400, 1000) as page:
        page.goto(page_path.as_uri())
        page.click("[data-view=grid]")
        page.wait_for_selector(".card")
        drawn = page.evaluate("document.querySelectorAll('.card').length")
        assert 12 <= drawn <= 120, drawn
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_selector(".card .cap b >> text=sku-0999")
        assert page.evaluate("document.querySelectorAll('.card').length") <= 120
        elapsed_ms = page.evaluate(
            """() => { const t = performance.now();
                document.querySelector('[data-review=rejected]').click();
                return performance.now() - t; }"""
        )
        assert page.evaluate("document.querySelectorAll('.card').length") == 10
        assert elapsed_ms < 250, elapsed_ms
        for button, expected in (("check:blank", 4), ("changed", 10)):
            page.click(f"[data-review='{button}']")
            assert page.evaluate("document.querySelectorAll('.card').length") == expected
        page.click("[data-view=list]")
        assert page.is_visible(".row:not([hidden]) .decision")
        # A static page shows decisions; it does not make them.
        assert page.is_hidden(".row:not([hidden]) .acts")


def test_undecided_is_the_results_awaiting_a_decision_and_no_result_opens_no_comparison(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> None:
    """Invalid and failed rows have no result: the Undecided filter leaves them
    out, and neither Enter nor a click on their card opens a before/after of
    two broken images; j and k in an open comparison step over them."""
    threaded_simulator(fail_rate=0.4)
    manifest = make_mixed_catalog(tmp_path / "job", rows=8)
    run_dir = tmp_path / "job" / "run"
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 1
    html = tmp_path / "review.html"
    assert main(["report", str(run_dir), "--html", str(html)]) == 0
    lines = read_report(run_dir)
    succeeded = [line["id"] for line in lines if line["status"] == "succeeded"]
    no_result = [line["id"] for line in lines if line["status"] != "succeeded"]
    assert succeeded and "bad-ratio" in no_result and "no-photo" in no_result

    with open_page() as page:
        page.goto(html.as_uri())
        undecided = page.locator("[data-review=undecided] b")
        assert undecided.text_content() == str(len(succeeded))
        page.click("[data-review=undecided]")
        assert page.evaluate(VISIBLE_ROWS) == ["succeeded"] * len(succeeded)
        page.click("[data-review=any]")
        assert len(page.evaluate(VISIBLE_ROWS)) == len(lines)
        badge = page.locator(".row[data-status=invalid] .decision").first
        assert badge.text_content() == "no result"

        page.click(".row[data-status=invalid] .facts >> nth=0")  # the row becomes current
        page.keyboard.press("Enter")
        assert page.is_hidden("#compare")
        assert "has no result to compare" in (page.text_content("#toast") or "")

        first = lines.index(next(line for line in lines if line["status"] == "succeeded"))
        page.click(f".row[data-i='{first}'] .facts")
        page.keyboard.press("Enter")
        assert page.is_visible("#compare")
        seen = set()
        for _ in range(len(lines)):  # j through the comparison: only rows with a result
            seen.add(page.text_content("#c-id"))
            assert page.get_attribute("#c-after", "src")
            page.keyboard.press("j")
        assert seen == set(succeeded[succeeded.index(lines[first]["id"]) :])
        page.keyboard.press("Escape")

        page.click("[data-view=grid]")
        page.click(".card[data-status=invalid] .pic >> nth=0")
        assert page.is_hidden("#compare")
