"""Choosing among candidates: a row run with `param.n` = 2 has two outputs; the
choice made on the served page (a click, or the POST it makes) or imported from
the decisions CSV is what `export` publishes, and `--all-candidates` publishes
both, the chosen first. A choice the row's outputs no longer reach falls back
to the first with a warning.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from browser import open_page
from support import (
    FAST_CLI,
    ThreadedSimulator,
    candidates_manifest,
    read_report,
    review_server,
    write_csv,
)

from batchedit.cli import main
from batchedit.records import Verdict
from batchedit.report.decisions import Decision, append_decisions, read_decisions
from batchedit.report.review_server import running_review
from batchedit.state.fingerprint import sha256_file

CHOSEN = """() => Array.from(document.querySelectorAll(
    "article[data-i='0'] figure.cand.chosen"), (figure) => figure.dataset.n)"""


@pytest.fixture
def run(tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]) -> Path:
    """Row `duo` with two candidates (qwen, n=2), row `solo` with one."""
    threaded_simulator(prerendered=False)  # two candidates that differ
    manifest = candidates_manifest(tmp_path)
    out = tmp_path / "run"
    assert main(["run", str(manifest), "--out", str(out), *FAST_CLI]) == 0
    outputs = read_report(out)[0]["outputs"]
    assert len(outputs) == 2 and outputs[0]["sha256"] != outputs[1]["sha256"]
    return out


def feed(folder: Path) -> list[dict[str, str]]:
    with open(folder / "feed.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def export(run: Path, dest: Path, *args: str) -> int:
    return main(["export", str(run), "--allow-simulated", "--to", str(dest), *args])


def assert_publishes_output_2(run: Path, tmp_path: Path) -> None:
    """Export publishes duo's second output alone; --all-candidates both, it first."""
    outputs = read_report(run)[0]["outputs"]
    names = [Path(o["path"]).name for o in outputs]
    shop = tmp_path / "shop"
    assert export(run, shop, "--only", "approved") == 0
    assert [(row["id"], row["file"]) for row in feed(shop)] == [("duo", names[1])]
    assert sha256_file(shop / names[1]) == outputs[1]["sha256"] == feed(shop)[0]["sha256"]
    assert not (shop / names[0]).exists()

    every = tmp_path / "every"
    assert export(run, every, "--only", "approved", "--all-candidates") == 0
    assert [(row["id"], row["file"]) for row in feed(every)] == [
        ("duo", names[1]),
        ("duo", names[0]),
    ]
    for output, name in zip(outputs, names, strict=True):
        assert sha256_file(every / name) == output["sha256"]


def test_a_choice_clicked_on_the_served_page_is_what_export_publishes(
    run: Path, tmp_path: Path
) -> None:
    with review_server(run) as served, open_page(1400, 1000) as page:
        page.goto(served.url)
        page.click("[data-view=list]")
        assert page.evaluate(CHOSEN) == ["1"]  # without a choice, the first
        assert page.locator("article[data-i='1'] figure.cand").count() == 0  # one output
        page.click("article[data-i='0'] [data-act=choose][data-n='2']")
        page.wait_for_function(f"() => ({CHOSEN})().join() === '2'")
        page.reload()
        page.click("[data-view=list]")
        assert page.evaluate(CHOSEN) == ["2"]
        assert page.text_content("article[data-i='0'] .decision") == "approved"
        page.click("article[data-i='0'] [data-act=note]")  # a later note keeps the choice
        page.fill("#n-text", "the second is better")
        page.click("#n-approve")
        page.wait_for_function(
            "() => document.querySelector(\"article[data-i='0'] .note\").textContent !== ''"
        )

    decision = read_decisions(run / "decisions.jsonl")["duo"]
    assert (decision.decision, decision.choice, decision.note) == (
        Verdict.APPROVED,
        2,
        "the second is better",
    )
    assert_publishes_output_2(run, tmp_path)


def test_the_decision_endpoint_records_a_choice_in_range_only(run: Path) -> None:
    async def exchange() -> list[tuple[int, Any]]:
        answers: list[tuple[int, Any]] = []
        async with (
            running_review(run) as served,
            aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {served.owner.token}"}
            ) as session,
        ):
            api = served.base + "api/decisions"
            for choice in (3, 0, True, "two", 2):
                body = {"id": "duo", "decision": "approved", "choice": choice}
                async with session.post(api, json=body) as answer:
                    answers.append((answer.status, json.loads(await answer.text())))
            async with session.get(api) as answer:
                answers.append((answer.status, await answer.json()))
        return answers

    answers = asyncio.run(exchange())
    assert [status for status, _ in answers] == [409, 400, 400, 400, 200, 200]
    assert "has 2 output(s), not 3" in answers[0][1]["error"]
    assert answers[4][1]["choice"] == 2
    assert answers[5][1]["duo"]["choice"] == 2
    assert read_decisions(run / "decisions.jsonl")["duo"].choice == 2


def test_a_choice_imported_from_the_decisions_csv(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_csv(
        tmp_path / "bad.csv",
        [
            {"id": "duo", "decision": "approved", "choice": "3"},
            {"id": "solo", "decision": "", "choice": "1"},
            {"id": "solo", "decision": "rejected", "choice": "first"},
        ],
    )
    assert main(["decisions", str(run), "--import", str(bad)]) == 1  # every line skipped
    err = capsys.readouterr().err
    assert f"{bad}:2: choice: 3, but row 'duo' has 2 output(s)" in err
    assert f"{bad}:3: choice: needs a decision" in err
    assert f"{bad}:4: choice:" in err
    assert not (run / "decisions.jsonl").exists()

    sheet = write_csv(tmp_path / "d.csv", [{"id": "duo", "decision": "approved", "choice": "2"}])
    assert main(["decisions", str(run), "--import", str(sheet)]) == 0
    back = tmp_path / "back.csv"
    assert main(["decisions", str(run), "--export", str(back)]) == 0
    with open(back, encoding="utf-8", newline="") as handle:
        rows = {row["id"]: (row["decision"], row["choice"]) for row in csv.DictReader(handle)}
    assert rows == {"duo": ("approved", "2"), "solo": ("", "")}
    lines = (run / "decisions.jsonl").read_text().count("\n")
    assert main(["decisions", str(run), "--import", str(back)]) == 0  # all unchanged
    assert (run / "decisions.jsonl").read_text().count("\n") == lines
    page = tmp_path / "page.html"  # the static page shows the choice, side by side
    assert main(["report", str(run), "--html", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert '<figure class="cand" data-n="1">' in html
    assert '<figure class="cand chosen" data-n="2">' in html
    assert_publishes_output_2(run, tmp_path)


def test_a_choice_the_row_no_longer_reaches_falls_back_to_the_first(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As when the row was re-run with fewer outputs: decisions.jsonl names a third."""
    line = read_report(run)[0]
    append_decisions(
        run / "decisions.jsonl",
        [
            Decision(
                "duo",
                line["outputs"][0]["sha256"],
                Verdict.APPROVED,
                task_id=line["task_id"],
                choice=3,
            )
        ],
    )
    shop = tmp_path / "shop"
    capsys.readouterr()
    assert export(run, shop, "--only", "approved") == 0
    assert "row 'duo': choice 3 is stale, the row now has 2 output(s)" in capsys.readouterr().err
    assert [row["file"] for row in feed(shop)] == [Path(line["outputs"][0]["path"]).name]
