"""`--log-format json`: one JSON object per event on stderr, every line parses,
the events tell the run's story (submitted, finished, retried, paused, stopped),
and no line ever holds the API key."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support import TEST_KEY, JumpingClock, StartSimulator, ThreadedSimulator, make_mixed_catalog

from batchedit.api.client import ModellixClient, RetryPolicy
from batchedit.api.endpoint import Endpoint
from batchedit.cli import main
from batchedit.events import add_secret, emit, setup_logging

FAST = ["--poll-interval", "0.01", "--no-progress", "--log-format", "json"]
Simulators = Callable[..., ThreadedSimulator]
MODEL = "google/nano-banana-pro-edit"
BODY: dict[str, Any] = {"prompt": "make it blue", "image": ["https://example.com/a.png"]}


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(item, dict) for item in parsed)
    assert not [line for line in lines if TEST_KEY in line], "the key is in the log"
    return parsed


def test_json_log_has_one_parsable_event_per_row_change_and_no_key(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    threaded_simulator(fail_rate=0.5)
    manifest = make_mixed_catalog(tmp_path, rows=6)
    assert main(["run", str(manifest), "--out", str(tmp_path / "run"), *FAST]) == 1
    captured = capsys.readouterr()
    assert TEST_KEY not in captured.out
    events = json_lines(captured.err)
    kinds = Counter(event["event"] for event in events)
    assert kinds["run_started"] == kinds["run_finished"] == 1
    assert kinds["row_submitted"] == 6 and kinds["row_finished"] == 8 and kinds["problem"] == 2
    finished = [event for event in events if event["event"] == "row_finished"]
    assert {event["status"] for event in finished} == {"succeeded", "failed", "invalid"}
    failed = next(event for event in finished if event["status"] == "failed")
    assert failed["category"] == "task_failed" and failed["message"] and failed["task_id"]
    assert all(event["ts"].endswith("Z") and event["level"] for event in events)


async def test_json_log_reports_429_pauses_and_retries(
    start_simulator: StartSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("json", verbose=False)
    clock = JumpingClock()  # the 429s' waits pass on the simulator's clock, not the wall's
    simulator = await start_simulator(rate_limit=50, clock=clock.now)
    retry = RetryPolicy(max_retries=20, base_delay_s=0.001)
    async with aiohttp.ClientSession() as session:
        client = ModellixClient(session, Endpoint(simulator.base_url, TEST_KEY), clock, retry=retry)
        await asyncio.gather(*(client.read_balance() for _ in range(80)))
    setup_logging("text", verbose=False)
    events = json_lines(capsys.readouterr().err)
    paused = [event for event in events if event["event"] == "paused"]
    retried = [event for event in events if event["event"] == "retried"]
    refused = simulator.stats()["responses"]["429"]
    assert len(retried) == len(paused) == client.counts.retries == refused > 0
    assert all(event["resume_in_s"] >= 0 and event["kind"] == "account" for event in paused)
    assert all(event["retry"] >= 1 and event["message"] for event in retried)


def test_json_log_says_why_the_run_stopped(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    threaded_simulator(api_key="a-different-key")
    manifest = make_mixed_catalog(tmp_path, rows=3)
    assert main(["run", str(manifest), "--out", str(tmp_path / "run"), *FAST]) == 3
    events = json_lines(capsys.readouterr().err)
    (stopped,) = [event for event in events if event["event"] == "run_stopped"]
    assert stopped["reason"] == "auth"


def test_no_log_line_shows_a_registered_secret_in_either_format(
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_secret('s3cr"et-key')
    for log_format in ("json", "text"):
        setup_logging(log_format, verbose=True)
        logging.getLogger("batchedit.test").warning('the server said: bad key s3cr"et-key')
        emit("row_finished", id="a", message='echoed s3cr"et-key back')
    err = capsys.readouterr().err
    assert "s3cr" not in err and err.count("[redacted]") == 4
    setup_logging("text", verbose=False)
