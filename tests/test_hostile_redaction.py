"""The key echoed by a hostile service, in every spelling it can take, is found
and blotted out before anything is stored or shown, and before any cut.

For each spelling (as written; URL-encoded, with and without `Bearer%20`;
JSON-escaped; in quotes; HTML-escaped; after `Bearer` in any case) the hostile
server echoes the key in a 400 plain-text body across its 300th character (where
messages are cut), in a 400 envelope, in a task's error and in a result URL.
Then report.jsonl, summary.json, the journal, the review page (`report
--html`), stdout and stderr are searched for the key in every spelling, and for
the first 8 characters of each: a cut must not leave a prefix behind.

The key holds the characters each spelling changes (`+ / " \\ = & < >`), so a
spelling is not the key as written by accident.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hostile_server import HostileServer
from support import HOSTILE_ROWS, HostileRun, assert_bounded, errors, run_client

KEY = 'mk+9/fQ2"xL\\r7Tz4=Wc8&Hv1<Nb6>Ys3Pd5Ke0J'
MIN_PREFIX_CHARS = 8


def spellings(key: str) -> dict[str, str]:
    """The key as a service, a proxy or a web page may echo it."""
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return {
        "plain": key,
        "url": quote(key, safe=""),
        "url_twice": quote(quote(key, safe=""), safe=""),
        "form": quote_plus(key),
        "json": json.dumps(key)[1:-1],
        "json_ascii": "".join(f"\\u{ord(char):04x}" for char in key),
        "quoted": f'"{escaped}"',
        "html": html.escape(key),
        "upper": key.upper(),
    }


#: The spellings the server echoes: each test run echoes one.
ECHOED = {
    **spellings(KEY),
    "bearer_url": "Bearer%20" + quote(KEY, safe=""),
}


Echoing = Callable[[str], HostileServer]


@pytest.fixture
def echoing() -> Iterator[Echoing]:
    started: list[HostileServer] = []

    def start(echoed: str) -> HostileServer:
        server = HostileServer("echo_form", KEY, echoed=echoed).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def texts_written(run: HostileRun, review: Path) -> dict[str, str]:
    """Every file of the run directory (the journal, report.jsonl, summary.json,
    the state folder), the review page, stdout and stderr."""
    found = {
        str(path): path.read_bytes().decode("utf-8", "replace")
        for path in run.run_dir.rglob("*")
        if path.is_file() and path.suffix not in (".png", ".jpg", ".webp")
    }
    found["review page"] = review.read_text(encoding="utf-8")
    found["stdout"], found["stderr"] = run.stdout, run.stderr
    return found


def leaks(texts: dict[str, str]) -> list[str]:
    """Where any spelling of the key, or its first 8 characters, stands."""
    found = []
    for where, text in texts.items():
        lowered = text.lower()
        for name, spelled in spellings(KEY).items():
            if spelled[:MIN_PREFIX_CHARS].lower() in lowered:
                found.append(f"{name} in {where}")
    return found


@pytest.mark.timeout(120)
@pytest.mark.parametrize("form", sorted(ECHOED))
def test_the_key_echoed_in_any_spelling_is_stored_and_shown_nowhere(
    tmp_path: Path, echoing: Echoing, form: str
) -> None:
    server = echoing(ECHOED[form])
    run = run_client(tmp_path, server.base_url, "--log-format", "text", key=KEY)
    report = assert_bounded(run)
    assert run.code == 1, run.stderr[-3000:]
    review = tmp_path / "review.html"
    shown = subprocess.run(
        [sys.executable, "-m", "batchedit", "report", str(run.run_dir), "--html", str(review)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr

    assert leaks(texts_written(run, review)) == []
    assert KEY[:MIN_PREFIX_CHARS] not in shown.stdout + shown.stderr
    messages = [message for status, _, message in errors_of(report) if status == "failed"]
    assert len(messages) == HOSTILE_ROWS - 1, "the envelope, the body, the task and the URL"
    echoed = [message for message in messages if "[redacted]" in message]
    assert len(echoed) == 3, messages  # the URL is refused whole: "holds the API key"
    assert any("holds the API key" in message for message in messages)
    assert server.counts["download"] == 1, "only the clean URL was fetched"


def errors_of(report: list[dict[str, object]]) -> list[tuple[str, str, str]]:
    return errors([record for record in report if record["error"] is not None])
