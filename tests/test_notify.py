"""`--notify URL` (docs/runs.md, "A message at the end"): one message per run
through Apprise, here a `json://` webhook served by a small aiohttp receiver
on loopback; never the key; a refused run is told too (exit 2); a message
that fails is logged and tried again twice, and never changes the exit code."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from support import TEST_KEY, ThreadedSimulator, read_report, two_image_manifest

from batchedit.cli import main
from batchedit.report import notify
from batchedit.report.notify import Message, send_message

FAST = ["--poll-interval", "0.01", "--no-progress"]


class Receiver:
    """A JSON webhook on loopback, in a thread of its own: it keeps every body
    it is sent, answers 500 to the first `failures`, and holds every answer
    while `hold` is clear."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.bodies: list[bytes] = []
        self.port = 0
        self.hold = threading.Event()
        self.hold.set()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in self.bodies]

    async def _answer(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        await asyncio.to_thread(self.hold.wait)
        if len(self.bodies) <= self.failures:
            return web.Response(status=500, text="down for maintenance")
        return web.Response(text="ok")

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        app = web.Application()
        app.router.add_post("/hook", self._answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def start(self) -> Receiver:
        self._thread.start()
        assert self._ready.wait(timeout=10), "the receiver did not start"
        return self

    def stop(self) -> None:
        self.hold.set()
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(failures: int = 0) -> Receiver:
        started.append(Receiver(failures).start())
        return started[-1]

    yield start
    for each in started:
        each.stop()


@pytest.fixture(autouse=True)
def no_pause_between_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed message is tried again at once here, not seconds later."""
    monkeypatch.setattr(notify, "RETRY_DELAYS_S", (0.0, 0.0))


def test_each_run_sends_one_json_message_without_the_key(
    tmp_path: Path,
    threaded_simulator: Callable[..., ThreadedSimulator],
    receiver: Callable[..., Receiver],
) -> None:
    threaded_simulator(fail_rate=0.4, seed=2)
    hook = receiver()
    # The run directory's name holds the key, so the message's paths would too.
    run_dir = tmp_path / f"run-{TEST_KEY}"
    argv = ["run", str(two_image_manifest(tmp_path, 6)), "--out", str(run_dir), *FAST]
    assert main([*argv, "--notify", hook.url]) == 1

    (message,) = hook.messages()
    assert TEST_KEY not in b"".join(hook.bodies).decode()
    failed = sum(line["status"] == "failed" for line in read_report(run_dir))
    assert failed > 0
    assert message["type"] == "warning"
    assert "exit 1" in message["title"]
    text = message["message"]
    assert f"6 rows: {6 - failed} succeeded, {failed} failed" in text
    assert "exit 1: the run completed; some rows did not succeed" in text
    assert "next: re-run failures (paid: resubmits" in text
    assert "report: " in text and "[redacted]" in text

    assert main([*argv, "--notify", hook.url]) == 1
    assert len(hook.messages()) == 2, "one message per run"


def test_a_refused_run_says_why(
    tmp_path: Path,
    threaded_simulator: Callable[..., ThreadedSimulator],
    receiver: Callable[..., Receiver],
) -> None:
    simulator = threaded_simulator()
    hook = receiver()
    manifest = two_image_manifest(tmp_path, 3)
    argv = ["run", str(manifest), "--out", str(tmp_path / "run"), "--max-spend", "1"]
    assert main([*argv, "--notify", hook.url]) == 2
    (message,) = hook.messages()
    assert message["type"] == "failure" and "did not start" in message["title"]
    assert "exit 2: refused: nothing was submitted" in message["message"]
    assert "max_spend needs a price table" in message["message"]
    assert simulator.stats()["submits"] == 0


def test_a_failing_message_is_tried_twice_more_and_changes_nothing(
    tmp_path: Path,
    threaded_simulator: Callable[..., ThreadedSimulator],
    receiver: Callable[..., Receiver],
    caplog: pytest.LogCaptureFixture,
) -> None:
    threaded_simulator()
    down, flaky = receiver(failures=3), receiver(failures=2)
    argv = ["run", str(two_image_manifest(tmp_path, 2)), "--out", str(tmp_path / "run"), *FAST]
    with caplog.at_level(logging.WARNING, logger="batchedit.report.notify"):
        assert main([*argv, "--notify", down.url, "--notify", flaky.url]) == 0
    assert len(down.bodies) == 3, "the first try and two more, then given up"
    assert len(flaky.bodies) == 3 and flaky.messages()[-1]["type"] == "success"
    failures = [r.getMessage() for r in caplog.records if "notification to" in r.getMessage()]
    assert len(failures) == 5
    assert f"json://127.0.0.1:{down.port}/hook failed (attempt 3 of 3)" in failures[2]


async def test_a_service_that_never_answers_is_given_up_after_the_timeout(
    receiver: Callable[..., Receiver], caplog: pytest.LogCaptureFixture
) -> None:
    silent = receiver()
    silent.hold.clear()
    message = Message("title", "body", "info")
    with caplog.at_level(logging.WARNING, logger="batchedit.report.notify"):
        failed = await send_message([silent.url], message, retry_delays_s=(), timeout_s=0.2)
    assert failed == 1
    assert "no answer within 0.2s" in caplog.text
