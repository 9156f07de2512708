"""Review notes replace, never accumulate: a retry's prompt is the row's own
prompt and the note in force, never the notes of earlier rounds; on the page,
a stale or rejected row's note box starts empty, the earlier note beside it.

End to end against the simulator (`record_bodies`: the prompts as sent) and
the review server (decisions posted as the page posts them)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path

import aiohttp
from browser import open_page
from support import ThreadedSimulator, read_report, review_server, two_image_manifest

from batchedit.cli import main
from batchedit.report.review_server import running_review
from batchedit.state.prompt_notes import replace_notes

FAST = ["--poll-interval", "0.01", "--no-progress"]
ROW = "row-01"


def reject(run: Path, row_id: str, note: str) -> None:
    """Reject the row's current result with `note`, through the review server."""

    async def post() -> None:
        async with (
            running_review(run) as served,
            aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {served.owner.token}"}
            ) as owner,
        ):
            async with owner.get(served.base) as page:
                html = await page.text()
            rows = json.loads(re.search(r'id="data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
            sha = next(row["sha"] for row in rows if row["id"] == row_id)
            body = {"id": row_id, "decision": "rejected", "note": note, "sha256": sha}
            async with owner.post(served.base + "api/decisions", json=body) as answer:
                assert answer.status == 200, await answer.text()

    asyncio.run(post())


def test_each_round_sends_the_rows_own_prompt_and_the_current_note_only(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> None:
    sim = threaded_simulator(record_bodies=True)
    manifest = two_image_manifest(tmp_path / "job", 3)
    run = tmp_path / "job" / "run"
    assert main(["run", str(manifest), "--out", str(run), *FAST]) == 0
    retry = ["retry", str(run), "--status", "rejected", *FAST[2:]]

    reject(run, ROW, "a")
    assert main(retry) == 0
    reject(run, ROW, "b")
    assert main(retry) == 0

    sent = [body["body"]["prompt"] for body in sim.stats()["bodies"]]
    assert len(sent) == 3 + 2  # the run, then one resubmit per round
    assert sent[-2] == "edit. a"
    last = sent[-1]
    assert last.endswith("b") and "a" not in last, last
    assert last == "edit. b"
    assert {line["id"]: line["prompt"] for line in read_report(run)}[ROW] == "edit. b"

    # A plain run afterwards asks for the same prompt: nothing paid.
    paid = sim.stats()["submits"]
    assert main(["run", str(manifest), "--out", str(run), *FAST]) == 0
    assert sim.stats()["submits"] == paid

    # The page: the row (stale after the retry) shows its earlier note beside
    # an empty note box; a new note replaces it.
    with review_server(run) as served, open_page(1400, 1000) as page:
        page.goto(served.url)
        page.click("[data-view=list]")
        row = page.locator("article.row", has=page.locator("h2", has_text=ROW))
        assert row.locator(".was").inner_text() == "earlier note: b"
        assert row.locator(".note").inner_text() == ""
        row.locator("[data-act=note]").click()
        assert page.input_value("#n-text") == ""
        assert page.inner_text("#n-was") == "b"
        page.fill("#n-text", "c")
        page.click("#n-reject")
        row.locator(".note", has_text="c").wait_for()
        assert row.locator(".was").count() == 0
        # A rejected row's box starts empty too, its note shown above it.
        row.locator("[data-act=note]").click()
        assert page.input_value("#n-text") == ""
        assert page.inner_text("#n-was") == "c"
    decisions = [json.loads(line) for line in (run / "decisions.jsonl").read_text().splitlines()]
    assert [d["note"] for d in decisions if d["id"] == ROW] == ["a", "b", "c"]


def test_a_new_note_replaces_the_stored_one() -> None:
    stored = {"x": "make the shadow softer", "y": "brighter"}
    assert replace_notes(stored, {"x": " background not white enough "}) == {
        "x": "background not white enough",
        "y": "brighter",
    }
