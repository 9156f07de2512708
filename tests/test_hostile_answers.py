"""Answers that cannot poison a run: whatever a hostile service puts in a
well-sized answer (nesting 1,100 deep, a string no UTF-8 can hold), the run
ends with its usual exit code and a report line per row, and a re-run of
the same directory does not meet the same crash (the journal holds nothing
that breaks the next run).

Each run is a real `python -m batchedit run` in a subprocess, measured as in
test_hostile.py, against the hostile server on loopback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from support import (
    HOSTILE_KEY,
    HOSTILE_ROWS,
    assert_bounded,
    errors,
    read_report,
    run_client,
    write_csv,
)

from batchedit.api.bounded import NotJson, parse_json
from batchedit.api.client import RetryPolicy
from batchedit.api.endpoint import Endpoint
from batchedit.api.schemas import fetch_schema
from batchedit.catalogue import ParamValue, current_catalogue, max_outputs
from batchedit.catalogue.outputs import UNDOCUMENTED_MAX_OUTPUTS
from batchedit.cli.exits import run_exit_code
from batchedit.manifest.job import apply_overrides, load_job
from batchedit.pipeline.runner import RunConfig, run_pipeline
from batchedit.state.rundir import RunPaths


@pytest.mark.timeout(120)
def test_an_answer_nested_too_deep_is_a_malformed_poll_asked_again(
    tmp_path: Path, hostile: Any
) -> None:
    server = hostile("deep_poll")
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 0, run.stderr[-3000:]
    assert {record["status"] for record in report} == {"succeeded"}
    assert server.counts["poll"] >= 3 * HOSTILE_ROWS, "two deep answers per task, then a good one"
    assert server.counts["submit"] == HOSTILE_ROWS
    assert "nested deeper than 64 levels" in run.stderr


@pytest.mark.timeout(120)
def test_a_submit_answered_too_deep_is_unknown_and_never_paid_again(
    tmp_path: Path, hostile: Any
) -> None:
    server = hostile("deep_submit")
    run = run_client(tmp_path, server.base_url, "--max-unknown", "0")
    report = assert_bounded(run)
    assert run.code == 1, run.stderr[-3000:]
    for status, category, message in errors(report):
        assert (status, category) == ("unknown", "unknown_outcome")
        assert "nested deeper than 64 levels, after a paid submit was sent" in message
    again = run_client(tmp_path, server.base_url, "--max-unknown", "0")
    assert_bounded(again)
    assert again.code == 1, again.stderr[-3000:]
    assert server.counts["submit"] == HOSTILE_ROWS, "an unknown outcome is never resubmitted"


@pytest.mark.timeout(120)
def test_a_message_no_utf8_can_hold_is_stored_and_the_re_run_reads_it(
    tmp_path: Path, hostile: Any
) -> None:
    server = hostile("surrogate")
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 1, run.stderr[-3000:]
    for status, category, message in errors(report):
        assert (status, category) == ("failed", "task_failed")
        assert message.startswith("bad ") and message.endswith(" pixel")
    again = run_client(tmp_path, server.base_url)
    assert [r["status"] for r in assert_bounded(again)] == ["failed"] * HOSTILE_ROWS
    assert again.code == 1, again.stderr[-3000:]


FAST_RETRY = RetryPolicy(max_retries=2, base_delay_s=0.001, max_delay_s=0.005)


def _config(tmp_path: Path, base_url: str, rows: int = 3) -> RunConfig:
    manifest = write_csv(
        tmp_path / "rows.csv",
        [
            {"id": f"row-{n}", "prompt": "edit", "image": "https://images.example.com/a.png"}
            for n in range(1, rows + 1)
        ],
    )
    job = apply_overrides(load_job(manifest), poll_interval_s=0.005)
    return RunConfig(
        job, RunPaths(tmp_path / "run"), Endpoint(base_url, HOSTILE_KEY), retry=FAST_RETRY
    )


async def test_a_task_always_answered_too_deep_fails_keeping_its_id_and_is_polled_again(
    tmp_path: Path, hostile: Any
) -> None:
    server = hostile("deep_forever")
    config = _config(tmp_path, server.base_url)

    first = await run_pipeline(config, total_rows=3)

    assert run_exit_code(first) == 1 and first.fatal is None
    report = read_report(config.paths.root)
    for record in report:
        assert (record["status"], record["error"]["category"]) == ("failed", "server")
        assert "nested deeper than 64 levels" in record["error"]["message"]
        assert str(record["task_id"]).startswith("t-"), "the task id is kept"
    polls = server.counts["poll"]
    # Three turns of the poller, each within the client's budget of three tries.
    assert polls == 3 * 3 * 3

    again = await run_pipeline(config, total_rows=3)

    assert run_exit_code(again) == 1 and again.fatal is None
    assert server.counts["submit"] == 3, "a task whose answers are malformed is never paid again"
    assert server.counts["poll"] == 2 * polls, "it is polled again, for free"


async def test_a_published_schema_nested_too_deep_is_not_cached(tmp_path: Path) -> None:
    deep = b'{"openapi": "3.0.0", "x": ' + b"[" * 1100 + b"]" * 1100 + b"}"

    async def schema(request: web.Request) -> web.Response:
        return web.Response(body=deep, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", schema)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/schema"
        async with aiohttp.ClientSession() as session:
            fetched = await fetch_schema(session, url, "google/nano-banana-edit")
    finally:
        await runner.cleanup()
    assert fetched.document is None and fetched.error == "nested deeper than 64 levels"


@pytest.mark.parametrize(
    "body, problem",
    [
        (b"[" * 65 + b"]" * 65, "nested deeper than 64 levels"),
        (b'{"a": "' + b"[" * 5000 + b'"}', None),  # brackets in a string are text
        (b'{"a": "\\"[[[[", "b": ' + b"[" * 63 + b"]" * 63 + b"}", None),
        (b"<html>gateway</html>", "not JSON"),
        (b'{"a": 1', "not JSON"),
    ],
)
def test_json_answers_are_parsed_under_a_depth_bound(body: bytes, problem: str | None) -> None:
    if problem is None:
        assert isinstance(parse_json(body), dict)
    else:
        with pytest.raises(NotJson, match=problem):
            parse_json(body)


@pytest.mark.timeout(120)
def test_more_result_urls_than_the_model_makes_are_refused_and_none_is_fetched(
    tmp_path: Path, hostile: Any
) -> None:
    server = hostile("many_urls")
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 1, run.stderr[-3000:]
    assert server.counts["download"] == 0
    assert server.counts["poll"] == HOSTILE_ROWS, "asking again would list the same: asked once"
    for record in report:
        assert (record["status"], record["error"]["category"]) == ("failed", "server")
        assert (
            "listing 2000 results, more than the 1 its request makes"
            in (record["error"]["message"])
        )
        assert record["task_id"] is not None and record["outputs"] == []
    assert not any((run.run_dir / "outputs").iterdir())


@pytest.mark.parametrize(
    "model, params, most",
    [
        ("google/nano-banana-edit", {}, 1),
        ("alibaba/qwen-image-edit-plus", {"n": 3}, 3),
        ("alibaba/qwen-image-edit-plus", {}, 6),  # no n: the model's maximum
        ("alibaba/wan2.7-image-edit", {}, 4),
        ("bytedance/seedream-4.5-i2i", {}, 1),
        (
            "bytedance/seedream-4.5-i2i",
            {"sequential_image_generation": "auto", "sequential_image_generation_max_images": 5},
            5,
        ),
        ("acme/unlisted-edit", {"n": 2}, 2),  # --allow-model: its own n
        ("acme/unlisted-edit", {}, UNDOCUMENTED_MAX_OUTPUTS),
    ],
)
def test_a_task_may_list_at_most_its_requests_output_count(
    model: str, params: dict[str, ParamValue], most: int
) -> None:
    assert max_outputs(current_catalogue().body_spec(model), params) == most


@pytest.mark.timeout(120)
@pytest.mark.parametrize("concurrency", ["1", "5"])
def test_one_task_id_given_to_several_submits_settles_none_of_them(
    tmp_path: Path, hostile: Any, concurrency: str
) -> None:
    # One at a time, the first row has ended (its picture written) when the
    # second is given its task id; five at once, it is still in flight.
    server = hostile("same_task")
    run = run_client(tmp_path, server.base_url, "--concurrency", concurrency, "--max-unknown", "0")
    report = assert_bounded(run)
    assert run.code == 1, run.stderr[-3000:]
    for record in report:
        assert (record["status"], record["error"]["category"]) == ("unknown", "unknown_outcome")
        assert "gave task id t-1 to the submit of row" in record["error"]["message"]
        # An unknown row holds no task id: the message names the one it shares.
        assert record["task_id"] is None and record["outputs"] == []
    assert not any((run.run_dir / "outputs").iterdir()), "nobody's picture is kept"
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["paid_submissions"] == HOSTILE_ROWS and summary["statuses"] == {
        "unknown": HOSTILE_ROWS
    }
    closing = next(line for line in run.stdout.splitlines() if "task id another row" in line)
    assert closing.startswith(f"{HOSTILE_ROWS} row(s)")
    named = closing.split(": t-1 to ")[1].split(", ")
    assert sorted(named) == [f"row-{n}" for n in range(1, HOSTILE_ROWS + 1)]

    again = run_client(tmp_path, server.base_url)
    assert [r["status"] for r in assert_bounded(again)] == ["unknown"] * HOSTILE_ROWS
    assert again.code == 1 and server.counts["submit"] == HOSTILE_ROWS, (
        "never paid again on its own"
    )
