"""The review server answers only its owner, and a run directory it cannot
write is said, not a traceback.

A second client (another local user, another process) without the start's
token gets 401 for the page, the files and the decisions alike, and records
nothing; the owner's first visit turns the token into a cookie and lands on
the clean URL. A read-only run directory is still shown; a decision on it is
a one-line JSON error (503), and `batchedit review` says so when it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support import ThreadedSimulator, read_report, review_server, two_image_manifest

from batchedit.cli import main
from batchedit.report.review_server import Served, running_review

FAST = ["--poll-interval", "0.01", "--no-progress"]
ROWS = 3


@pytest.fixture
def run_dir(tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]) -> Path:
    threaded_simulator()
    manifest = two_image_manifest(tmp_path / "job", ROWS)
    run = tmp_path / "job" / "run"
    assert main(["run", str(manifest), "--out", str(run), *FAST]) == 0
    return run


async def _paths(session: aiohttp.ClientSession, served: Served) -> dict[str, str]:
    """A page's thumbnail, result and large input copy, read from the owner's page."""
    async with session.get(served.base, headers=_bearer(served.owner.token)) as answer:
        html = await answer.text()
    data = json.loads(re.search(r'id="data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    return {
        "thumb": data[0]["out"][0]["t"],
        "output": data[0]["out"][0]["f"],
        "preview": data[0]["in"][0]["f"],
    }


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_the_token_nothing_is_answered_and_nothing_recorded(run_dir: Path) -> None:
    first = read_report(run_dir)[0]
    decision = {"id": first["id"], "decision": "approved", "note": "from another user"}

    async def exchange() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with running_review(run_dir) as served, aiohttp.ClientSession() as stranger:
            paths = await _paths(stranger, served)
            gets = ["", "api/decisions", *paths.values()]
            wrong = "x" * len(served.owner.token)
            port = served.base.rsplit(":", 1)[1].strip("/")
            for label, params, headers in (
                ("none", {}, {}),
                ("wrong query", {"token": wrong}, {}),
                ("wrong cookie", {}, {"Cookie": f"batchedit-review-{port}={wrong}"}),
                ("wrong bearer", {}, _bearer(wrong)),
                ("another port's cookie", {}, {"Cookie": f"batchedit-review-1={wrong}"}),
            ):
                statuses = []
                for path in gets:
                    async with stranger.get(
                        served.base + path, params=params, headers=headers, allow_redirects=False
                    ) as answer:
                        statuses.append(answer.status)
                async with stranger.post(
                    served.base + "api/decisions", json=decision, params=params, headers=headers
                ) as answer:
                    statuses.append(answer.status)
                    seen[f"{label} text"] = await answer.text()
                seen[label] = statuses
            seen["paths"] = len(gets) + 1
        return seen

    seen = asyncio.run(exchange())
    for label in ("none", "wrong query", "wrong cookie", "wrong bearer", "another port's cookie"):
        assert seen[label] == [401] * seen["paths"], label
    assert "?token=" in seen["none text"]
    assert not (run_dir / "decisions.jsonl").exists()


def test_the_first_visit_sets_a_cookie_and_lands_on_the_clean_url(run_dir: Path) -> None:
    first = read_report(run_dir)[0]

    async def exchange() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        # unsafe: keep cookies of an IP address host, as a browser does.
        jar = aiohttp.CookieJar(unsafe=True)
        async with (
            running_review(run_dir) as served,
            aiohttp.ClientSession(cookie_jar=jar) as owner,
        ):
            assert served.url == f"{served.base}?token={served.owner.token}"
            async with owner.get(served.url, allow_redirects=False) as answer:
                seen["first"] = answer.status, answer.headers["Location"]
                seen["set-cookie"] = answer.headers["Set-Cookie"]
            paths = await _paths(owner, served)  # (the bearer header aside, the jar's cookie)
            statuses = []
            for path in ("", *paths.values()):
                async with owner.get(served.base + path, allow_redirects=False) as answer:
                    statuses.append(answer.status)
            body = {"id": first["id"], "decision": "rejected", "note": "softer shadow"}
            async with owner.post(served.base + "api/decisions", json=body) as answer:
                statuses.append(answer.status)
            seen["statuses"] = statuses
            seen["token"] = served.owner.token
        async with running_review(run_dir) as again:
            seen["second token"] = again.owner.token
        return seen

    seen = asyncio.run(exchange())
    assert seen["first"] == (303, "/")
    cookie = SimpleCookie()
    cookie.load(seen["set-cookie"])
    (name, morsel), *others = cookie.items()
    assert others == [] and name.startswith("batchedit-review-")
    assert morsel.value == seen["token"]
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel["path"] == "/"
    assert seen["statuses"] == [200, 200, 200, 200, 200]
    assert seen["second token"] != seen["token"]  # a new token per start
    assert len(seen["token"]) >= 40
    assert '"note": "softer shadow"' in (run_dir / "decisions.jsonl").read_text()


def test_a_token_given_by_flag_or_environment_and_a_weak_one_refused(run_dir: Path) -> None:
    chosen = "a-script-chose-this-token-0123"
    with review_server(run_dir, "--token", chosen) as served:
        assert served.url.endswith(f"/?token={chosen}")
    from_env = "from-the-environment-0123456"
    with review_server(run_dir, env={"BATCHEDIT_REVIEW_TOKEN": from_env}) as served:
        assert served.url.endswith(f"/?token={from_env}")
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "batchedit",
            "review",
            str(run_dir),
            "--no-open",
            "--token",
            "short",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2
    assert "at least 16 characters" in refused.stderr and "Traceback" not in refused.stderr


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` read-only: by its mode bits for a normal user; for root (whom mode
    bits do not stop) by a read-only bind mount, skipped where mount(2) is refused."""
    if os.geteuid() != 0:
        modes = {path: path.stat().st_mode for path in [folder, *folder.rglob("*")]}
        for path in modes:
            path.chmod(modes[path] & ~0o222)
        try:
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    bound = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.decode().strip() or 'refused'}")
    try:
        remount = ["mount", "-o", "remount,bind,ro", str(folder)]
        if subprocess.run(remount, capture_output=True).returncode != 0:
            pytest.skip("cannot remount read-only here")
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_read_only_run_directory_is_shown_and_a_decision_is_a_one_line_error(
    run_dir: Path,
) -> None:
    first = read_report(run_dir)[0]
    body = {"id": first["id"], "decision": "approved"}

    async def exchange() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with (
            running_review(run_dir) as served,
            aiohttp.ClientSession(headers=_bearer(served.owner.token)) as owner,
        ):
            seen["unwritable"] = served.unwritable
            paths = await _paths(owner, served)
            statuses = []
            for path in ("", *paths.values()):
                async with owner.get(served.base + path) as answer:
                    statuses.append(answer.status)
            seen["gets"] = statuses
            async with owner.post(served.base + "api/decisions", json=body) as answer:
                seen["post"] = answer.status, answer.content_type, await answer.text()
        return seen

    with read_only(run_dir):
        seen = asyncio.run(exchange())
        with review_server(run_dir) as process:
            pass
    assert seen["unwritable"]
    assert seen["gets"] == [200, 200, 200, 200]  # thumbnails made in a private folder
    status, content_type, text = seen["post"]
    assert (status, content_type) == (503, "application/json")
    message = json.loads(text)["error"]
    assert "decisions.jsonl" in message and "\n" not in message and "Traceback" not in text
    assert not (run_dir / "decisions.jsonl").exists()
    said = process.stderr
    assert "cannot store decisions" in said and "Traceback" not in said
    assert said.count("\n") == 1
