"""`batchedit review RUN_DIR` in a real headless Chromium: decisions made by
keyboard and by clicks survive a reload and are in decisions.jsonl; the grid
shows many results per screen; nothing outside the run directory is served.

The server is the real command in a child process (`--no-open`, a free
port), so the page is tested as a user gets it.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import os
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from browser import open_page
from PIL import Image
from support import ThreadedSimulator, read_report, review_server, two_image_manifest

from batchedit.cli import main
from batchedit.records import Verdict
from batchedit.report.decisions import read_decisions
from batchedit.report.review_server import running_review

FAST = ["--poll-interval", "0.01", "--no-progress"]
ROWS = 30
NOTE = "make the background pure white"
CARD_STATES = """() => Object.fromEntries(Array.from(document.querySelectorAll('.card'),
    (card) => [card.querySelector('.cap b').textContent,
               card.querySelector('.decision').dataset.state]))"""
WHOLE_CARDS = """() => {
    const top = document.querySelector('header').getBoundingClientRect().bottom;
    return Array.from(document.querySelectorAll('.card')).filter((card) => {
        const box = card.getBoundingClientRect();
        const img = card.querySelector('img');
        return box.top >= top && box.bottom <= window.innerHeight && box.left >= 0 &&
            box.right <= window.innerWidth && img && img.complete && img.naturalWidth > 0;
    }).length;
}"""


@pytest.fixture
def run_dir(tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]) -> Path:
    """A 30-row run against the simulator, every row succeeded."""
    threaded_simulator()
    manifest = two_image_manifest(tmp_path / "job", ROWS)
    run = tmp_path / "job" / "run"
    assert main(["run", str(manifest), "--out", str(run), *FAST]) == 0
    return run


def until(page: Any, script: str, arg: Any = None, *, timeout_s: float = 10.0) -> Any:
    """Poll `script` until it is truthy. Playwright's wait_for_function evaluates
    a string, which the page's Content-Security-Policy (rightly) forbids."""
    deadline = time.monotonic() + timeout_s
    while not (value := page.evaluate(script, arg)):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {script}")
        page.wait_for_timeout(20)
    return value


def raw_get(url: str, path: str) -> int:
    """The status of a GET sent with the path exactly as written (no normalising),
    with the token of the printed `url` as the page's cookie would carry it."""
    parts = urlsplit(url)
    token = parse_qs(parts.query)["token"][0]
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.putheader("Cookie", f"batchedit-review-{parts.port}={token}")
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_decisions_by_keyboard_and_clicks_survive_a_reload(run_dir: Path) -> None:
    ids = [line["id"] for line in read_report(run_dir)]
    with review_server(run_dir) as served, open_page(1400, 1000) as page:
        url = served.url
        page.goto(url)  # the printed URL: its token becomes a cookie, the address clean
        assert page.url == url.split("?")[0]
        page.wait_for_selector(".card")
        for _ in range(2):  # j moves to the next row, a approves it
            page.keyboard.press("j")
            page.keyboard.press("a")
            until(
                page,
                "n => document.querySelectorAll('.card .decision[data-state=approved]')"
                ".length === n",
                _ + 1,
            )
        page.click(".card[data-i='3'] .pic")  # the comparison opens large
        assert page.is_visible("#compare")
        assert page.get_attribute("#c-after", "src")
        page.click("#compare [data-act=rejected]")
        page.click("#compare [data-act=note]")
        page.fill("#n-text", NOTE)
        page.click("#n-reject")
        until(page, "() => document.querySelector('#c-state').textContent.includes('pure white')")
        page.click("#c-close")

        page.reload()
        page.wait_for_selector(".card")
        states = page.evaluate(CARD_STATES)
        assert states[ids[0]] == states[ids[1]] == "approved"
        assert states[ids[3]] == "rejected"
        assert [i for i, state in states.items() if state != "undecided"] == [
            ids[0],
            ids[1],
            ids[3],
        ]
        page.click("[data-review=rejected]")
        until(page, "() => document.querySelectorAll('.card').length === 1")

    decisions = read_decisions(run_dir / "decisions.jsonl")
    assert {i: d.decision for i, d in decisions.items()} == {
        ids[0]: Verdict.APPROVED,
        ids[1]: Verdict.APPROVED,
        ids[3]: Verdict.REJECTED,
    }
    assert decisions[ids[3]].note == NOTE
    report = {line["id"]: line for line in read_report(run_dir)}
    assert decisions[ids[0]].sha256 == report[ids[0]]["outputs"][0]["sha256"]


def test_nothing_outside_the_run_directory_is_served(run_dir: Path) -> None:
    output = read_report(run_dir)[0]["outputs"][0]["path"]
    (run_dir.parent / "secret.txt").write_text("not for the browser")
    (run_dir / "outputs" / "link.png").symlink_to(run_dir.parent / "secret.txt")
    with review_server(run_dir) as served:
        url = served.url
        assert raw_get(url, "/" + output) == 200
        assert raw_get(url, "/outputs/link.png") == 404  # a symlink out is resolved, refused
        for path in (
            "/../../etc/passwd",
            "/outputs/../../../../etc/passwd",
            "/outputs/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "/outputs/..%2f..%2fsecret.txt",
            "/outputs/%2e%2e/.batchedit/journal.jsonl",
            "/outputs/%2e%2e/report.jsonl",
            "/thumbs/..%2f..%2fjournal.jsonl",
            "/preview/..%2f..%2f..%2fsecret.txt",
            "/preview/" + "0" * 24,
            "//etc/passwd",
        ):
            assert raw_get(url, path) == 404, path


def test_the_grid_shows_at_least_12_results_at_1400_by_1000(run_dir: Path, tmp_path: Path) -> None:
    with review_server(run_dir) as served, open_page(1400, 1000) as page:
        url = served.url
        page.goto(url)
        page.wait_for_selector(".card img")
        until(
            page,
            "() => Array.from(document.querySelectorAll('.card img')).every((i) => i.complete)",
        )
        whole = page.evaluate(WHOLE_CARDS)
        assert whole >= 12, whole
        shot_bytes = page.screenshot(full_page=False)
    folder = Path(os.environ.get("BATCHEDIT_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    shot = Image.open(io.BytesIO(shot_bytes)).convert("RGB")
    shot.save(folder / "review-grid.png")
    colours = shot.getcolors(maxcolors=4096)
    assert colours is None or len(colours) > 50, "the screenshot is (nearly) one flat colour"


def test_the_decision_endpoint_checks_what_it_records(run_dir: Path) -> None:
    """Only well-formed decisions on current results, from the page's own origin."""
    first = read_report(run_dir)[0]
    sha = first["outputs"][0]["sha256"]

    async def exchange() -> list[tuple[int, str]]:
        answers: list[tuple[int, str]] = []
        async with (
            running_review(run_dir) as served,
            aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {served.owner.token}"}
            ) as session,
        ):
            api = served.base + "api/decisions"
            for body, headers in (
                ({"id": first["id"], "decision": "maybe"}, {}),
                ({"id": "no-such-row", "decision": "approved"}, {}),
                ({"id": first["id"], "decision": "approved", "sha256": "0" * 64}, {}),
                ({"id": first["id"], "decision": "approved"}, {"Origin": "https://evil.test"}),
                ({"id": first["id"], "decision": "approved"}, {"Host": "evil.test"}),
                ({"id": first["id"], "decision": "rejected", "sha256": sha, "note": "x\x07y"}, {}),
            ):
                async with session.post(api, json=body, headers=headers) as answer:
                    answers.append((answer.status, await answer.text()))
            async with session.post(api, data="id=x", headers={}) as answer:
                answers.append((answer.status, await answer.text()))
        return answers

    answers = asyncio.run(exchange())
    assert [status for status, _ in answers] == [400, 404, 409, 403, 403, 200, 415]
    assert "approved, rejected" in answers[0][1]
    saved = json.loads(answers[5][1])
    assert (saved["state"], saved["note"], saved["sha256"]) == ("rejected", "xy", sha)
    assert list(read_decisions(run_dir / "decisions.jsonl")) == [first["id"]]


def test_thumbnails_are_made_before_the_url_is_printed_and_a_page_load_makes_none(
    run_dir: Path,
) -> None:
    """The first page is written from thumbnails made at start (in threads, under
    the pixel budget), not made one by one while the browser waits: when the
    URL is printed every one is there, and loading the page remakes none."""
    folder = run_dir / ".batchedit" / "review" / "thumbs"
    with review_server(run_dir) as served:
        made = {path.name: path.stat().st_mtime_ns for path in folder.glob("*.jpg")}
        assert len(made) == 2 + ROWS  # the two inputs, and every result
        base, _, token = served.url.partition("?token=")
        request = urllib.request.Request(base, headers={"Authorization": f"Bearer {token}"})
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=30) as answer:
            html = answer.read().decode("utf-8")
        elapsed_s = time.monotonic() - started
    assert elapsed_s < 3.0, elapsed_s  # generous: it is milliseconds of templating
    found = re.search(r'id="data">(.*?)</script>', html, re.S)
    assert found is not None
    shown = {tile["t"] for row in json.loads(found.group(1)) for tile in row["in"] + row["out"]}
    assert shown == {f"thumbs/{name}" for name in made}
    assert {path.name: path.stat().st_mtime_ns for path in folder.glob("*.jpg")} == made
