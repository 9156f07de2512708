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
