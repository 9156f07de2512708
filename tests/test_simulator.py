"""The simulator keeps to modellix-api.md: envelopes, errors, limits, results, counters.

Every test runs the simulator on a real loopback port and talks to it with a
plain aiohttp client, as batchedit does. Time-dependent behaviour (rate
limits, concurrency, expiry) runs on an injected clock, so nothing sleeps
longer than a render takes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from PIL import Image
from support import output_size

from batchedit.catalogue import packaged_catalogue
from batchedit.simulator import SimOptions, parse_latency, running_simulator
from batchedit.simulator.render import placeholder_image, render_edit
from batchedit.simulator.server import RunningSimulator

KEY = "test-key-123"
PRO = "google/nano-banana-pro-edit"
NB2 = "google/nano-banana-2-edit"
NB1 = "google/nano-banana-edit"
IMAGE_URL = "https://cdn.example.com/products/shoe.jpg"
WALL_START = 1_732_388_400.0
FAST = SimOptions(latency_s=(0.0, 0.02))


class FakeClock:
    """A clock that moves only when a test says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Sim:
    server: RunningSimulator
    http: aiohttp.ClientSession

    async def call(
        self, method: str, path: str, **kwargs: Any
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        async with self.http.request(method, path, **kwargs) as response:
            body = await response.json()
            return response.status, body, dict(response.headers)

    async def submit(
        self, body: dict[str, Any], *, model: str = PRO, suffix: str = "/async"
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        return await self.call("POST", f"/api/v1/{model}{suffix}", json=body)

    async def submit_ok(self, body: dict[str, Any], *, model: str = PRO) -> str:
        status, answer, _ = await self.submit(body, model=model)
        assert status == 200, answer
        task_id: str = answer["data"]["task_id"]
        return task_id

    async def wait_terminal(
        self, task_id: str, *, before_poll: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        for _ in range(500):
            if before_poll is not None:
                before_poll()
            status, answer, _ = await self.call("GET", f"/api/v1/tasks/{task_id}")
            assert status == 200, answer
            data: dict[str, Any] = answer["data"]
            if data["status"] in ("success", "failed"):
                return data
            await asyncio.sleep(0.005)
        raise AssertionError(f"task {task_id} never finished")

    async def download(self, url: str) -> tuple[int, bytes]:
        async with self.http.get(url) as response:
            return response.status, await response.read()

    async def stats(self) -> dict[str, Any]:
        status, answer, _ = await self.call("GET", "/_sim/stats")
        assert status == 200
        return answer


StartSim = Callable[..., Awaitable[Sim]]


@pytest.fixture
async def start_sim() -> AsyncIterator[StartSim]:
    """Start simulators (fast by default) with a keyed client; all stop after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            options: SimOptions = FAST,
            *,
            clock: Callable[[], float] = time.monotonic,
            wall_clock: Callable[[], float] = time.time,
        ) -> Sim:
            server = await stack.enter_async_context(
                running_simulator(options, clock=clock, wall_clock=wall_clock)
            )
            http = await stack.enter_async_context(
                aiohttp.ClientSession(
                    base_url=server.base_url, headers={"Authorization": f"Bearer {KEY}"}
                )
            )
            return Sim(server, http)

        yield start


GPT, SEEDREAM = "openai/gpt-image-2-edit", "bytedance/seedream-5.0-lite-edit"
QWEN, WAN, KLING = "alibaba/qwen-image-edit-plus", "alibaba/wan2.7-image-edit", "kling/kling-v3-i2i"


def gpt(**overrides: Any) -> dict[str, Any]:
    return {"prompt": "p", "images": [IMAGE_URL], **overrides}


def qwen(**overrides: Any) -> dict[str, Any]:
    return gpt(**overrides)


def edit(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": "Put the shoe on a white background", "image": [IMAGE_URL]}
    body.update(overrides)
    return body


def png_bytes(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def split_picture() -> Image.Image:
    """Black on the left, white on the right: easy to recognise in a result."""
    picture = Image.new("RGB", (200, 200), (0, 0, 0))
    picture.paste((255, 255, 255), (100, 0, 200, 200))
    return picture


def left_darker_than_right(data: bytes) -> bool:
    picture = Image.open(io.BytesIO(data)).convert("L")
    width, height = picture.size
    left = picture.getpixel((width // 5, height // 3))
    right = picture.getpixel((width * 4 // 5, height // 3))
    assert isinstance(left, int) and isinstance(right, int)
    return left + 100 < right


@pytest.mark.parametrize("suffix", ["/async", ""])
async def test_submit_answers_documented_envelope_on_both_paths(
    start_sim: StartSim, suffix: str
) -> None:
    sim = await start_sim()
    status, answer, _ = await sim.submit(edit(), suffix=suffix)
    assert status == 200
    assert answer["code"] == 0 and answer["message"] == "success"
    data = answer["data"]
    assert data["status"] == "pending"
    assert data["task_id"].startswith("task-")
    assert data["model_id"] == PRO
    assert data["get_result"] == {
        "method": "GET",
        "url": f"{sim.server.base_url}/api/v1/tasks/{data['task_id']}",
    }


@pytest.mark.parametrize(
    ("model", "ratio", "size", "fmt"),
    [
        (PRO, "1:1", "1K", "png"),
        (PRO, "4:5", "1K", "png"),
        (NB2, "16:9", "1K", "png"),
        (NB2, "1:8", "512", "png"),
        (NB2, "21:9", "512", "png"),
        (NB2, "3:2", "2K", "jpeg"),
    ],
)
async def test_task_succeeds_and_result_downloads_at_requested_size(
    start_sim: StartSim, model: str, ratio: str, size: str, fmt: str
) -> None:
    sim = await start_sim()
    task_id = await sim.submit_ok(edit(aspectRatio=ratio, imageSize=size), model=model)
    data = await sim.wait_terminal(task_id)
    assert data["status"] == "success" and data["task_id"] == task_id
    assert data["model_id"] == model
    assert data["result_expires_at"].endswith("Z")
    (resource,) = data["result"]["resources"]
    width, height = output_size(ratio, size)
    assert (resource["type"], resource["width"], resource["height"]) == ("image", width, height)
    assert resource["format"] == fmt
    status, payload = await sim.download(resource["url"])
    assert status == 200
    picture = Image.open(io.BytesIO(payload))
    assert picture.size == (width, height)
    assert picture.format == fmt.upper()


def test_render_4k_is_jpeg_of_exact_size() -> None:
    rendered = render_edit(
        None, "make it blue", output_size("16:9", "4K"), placeholder_seed=IMAGE_URL
    )
    picture = Image.open(io.BytesIO(rendered.data))
    assert picture.format == "JPEG"
    assert picture.size == output_size("16:9", "4K") == (rendered.width, rendered.height)


def test_render_is_derived_from_input_and_prompt_deterministically() -> None:
    source = png_bytes(split_picture())
    first = render_edit(source, "warm tones", output_size("1:1", "512"))
    assert first == render_edit(source, "warm tones", output_size("1:1", "512"))
    assert first.data != render_edit(source, "cool tones", output_size("1:1", "512")).data
    assert left_darker_than_right(first.data)
    # Unreadable bytes stand in as the placeholder, like an unfetchable URL.
    garbage = render_edit(
        b"not an image", "warm tones", output_size("1:1", "512"), placeholder_seed="x"
    )
    assert garbage == render_edit(
        None, "warm tones", output_size("1:1", "512"), placeholder_seed="x"
    )
    assert placeholder_image("x").tobytes() == placeholder_image("x").tobytes()
    assert placeholder_image("x").tobytes() != placeholder_image("y").tobytes()


@pytest.mark.parametrize(
    ("model", "body", "expected"),
    [
        (PRO, {"image": [IMAGE_URL]}, "prompt"),
        (PRO, edit(prompt=""), "prompt"),
        (PRO, edit(aspectRatio="7:3"), "aspectRatio '7:3' is not allowed; allowed: 1:1, 2:3, 3:2"),
        (PRO, edit(aspectRatio="1:8"), "aspectRatio '1:8' is not allowed; allowed:"),
        (PRO, edit(imageSize="512"), "imageSize '512' is not allowed; allowed: 1K, 2K, 4K"),
        (PRO, edit(image=[]), "1 to 14"),
        (NB1, edit(image=[IMAGE_URL] * 4), "1 to 3"),
        (PRO, edit(image=["ftp://example.com/a.png"]), "image[0]"),
        (PRO, edit(image=[IMAGE_URL, 42]), "image[1]"),
        (PRO, edit(size="1024x1024"), "unknown field 'size' for google/nano-banana-pro-edit"),
        (GPT, edit(), "images is required: an array of 1 to 16 image URLs"),
        (GPT, gpt(size="1000x1000"), "size '1000x1000' is not allowed; allowed: 1024x1024"),
        (GPT, gpt(quality="ultra"), "quality 'ultra' is not allowed; allowed: low, medium, high"),
        (SEEDREAM, edit(size="2048*2048"), "size '2048*2048' is not a size"),
        (SEEDREAM, edit(prompt="x" * 601), "prompt is 601 characters"),
        (QWEN, qwen(n="2"), "n must be a whole number from 1 to 6"),
        (QWEN, qwen(n=7), "n 7 is out of range; allowed: a whole number from 1 to 6"),
        (QWEN, qwen(prompt_extend="yes"), "prompt_extend must be true or false"),
        (QWEN, qwen(seed=2147483648), "seed 2147483648 is out of range"),
        (WAN, qwen(size="512*512"), "has 262144 pixels, fewer than 589824"),
        (KLING, edit(image=[IMAGE_URL, IMAGE_URL]), "image is required: an array of 1 to 1"),
        (KLING, edit(resolution="4k"), "resolution '4k' is not allowed; allowed: 1k, 2k"),
    ],
)
async def test_invalid_submit_answers_400_naming_the_field(
    start_sim: StartSim, model: str, body: dict[str, Any], expected: str
) -> None:
    sim = await start_sim()
    status, answer, _ = await sim.submit(body, model=model)
    assert status == 400
    assert answer["code"] == 400
    assert answer["message"].startswith("Bad Request: ")
    assert expected in answer["message"]
    assert (await sim.stats())["submits"] == 0


async def test_submit_accepts_single_image_string_and_data_uri(start_sim: StartSim) -> None:
    sim = await start_sim()
    data_uri = "data:image/png;base64," + base64.b64encode(png_bytes(split_picture())).decode()
    await sim.submit_ok(edit(image=IMAGE_URL))
    task_id = await sim.submit_ok(edit(image=[data_uri], imageSize="512"), model=NB2)
    data = await sim.wait_terminal(task_id)
    status, payload = await sim.download(data["result"]["resources"][0]["url"])
    assert status == 200 and left_darker_than_right(payload)


async def test_non_json_body_answers_400(start_sim: StartSim) -> None:
    sim = await start_sim()
    status, answer, _ = await sim.call("POST", f"/api/v1/{PRO}/async", data=b"{nope")
    assert (status, answer["code"]) == (400, 400)


async def test_unknown_model_and_unknown_task_answer_404(start_sim: StartSim) -> None:
    sim = await start_sim()
    status, answer, _ = await sim.submit(edit(), model="google/no-such-model")
    assert (status, answer["code"]) == (404, 404)
    assert answer["message"].startswith("Not Found: ")
    status, answer, _ = await sim.call("GET", "/api/v1/tasks/task-doesnotexist")
    assert (status, answer["code"]) == (404, 404)
    assert answer["message"].startswith("Not Found: ")


async def test_task_of_another_key_answers_404(start_sim: StartSim) -> None:
    sim = await start_sim()
    task_id = await sim.submit_ok(edit())
    status, _, _ = await sim.call(
        "GET", f"/api/v1/tasks/{task_id}", headers={"Authorization": "Bearer other-key"}
    )
    assert status == 404


async def test_missing_or_wrong_key_answers_401_without_echoing_it(start_sim: StartSim) -> None:
    sim = await start_sim(SimOptions(api_key=KEY))
    wrong = "sk-wrong-secret-key"
    async with aiohttp.ClientSession(base_url=sim.server.base_url) as anonymous:
        async with anonymous.get("/api/v1/apikey/validate") as response:
            assert response.status == 401
            answer = await response.json()
        assert answer == {"code": 401, "message": answer["message"]}
        assert answer["message"].startswith("Unauthorized: ")
        async with anonymous.post(
            f"/api/v1/{PRO}/async", json=edit(), headers={"Authorization": f"Bearer {wrong}"}
        ) as response:
            text = await response.text()
            assert response.status == 401
    assert wrong not in text and "Unauthorized: invalid API key" in text
    status, answer, _ = await sim.call("GET", "/api/v1/apikey/validate")
    assert status == 200 and answer["data"]["is_valid"] is True
    stats = await sim.stats()
    assert stats["submits"] == 0 and stats["submit_requests"] == 1


async def test_balance_exhausted_answers_402(start_sim: StartSim) -> None:
    sim = await start_sim(SimOptions(balance=2))
    _, answer, _ = await sim.call("GET", "/api/v1/team/balance")
    assert answer["data"]["balance"] == 2
    await sim.submit_ok(edit())
    await sim.submit_ok(edit())
    status, answer, _ = await sim.submit(edit())
    assert status == 402
    assert answer == {"code": 402, "message": "Payment Required: balance exhausted"}
    _, answer, _ = await sim.call("GET", "/api/v1/team/balance")
    assert answer["data"]["balance"] == 0
    assert (await sim.stats())["submits"] == 2


async def test_unlimited_balance_reports_a_large_number(start_sim: StartSim) -> None:
    sim = await start_sim()
    _, answer, _ = await sim.call("GET", "/api/v1/team/balance")
    assert answer["data"]["balance"] >= 1_000_000


async def test_rate_limit_answers_429_with_retry_after_and_reset(start_sim: StartSim) -> None:
    clock = FakeClock(100.0)
    sim = await start_sim(SimOptions(rate_limit=2.0), clock=clock, wall_clock=lambda: WALL_START)
    for remaining in ("1", "0"):
        status, _, headers = await sim.call("GET", "/api/v1/apikey/validate")
        assert status == 200 and headers["X-RateLimit-Remaining"] == remaining
    status, answer, headers = await sim.call("GET", "/api/v1/apikey/validate")
    assert status == 429
    assert answer["code"] == 429 and answer["message"].startswith("Too Many Requests: ")
    assert headers["Retry-After"] == "1"
    assert headers["X-RateLimit-Reset"] == "1732388400.500"
    assert headers["X-RateLimit-Limit"] == "2"
    assert headers["X-RateLimit-Remaining"] == "0"
    clock.advance(0.5)
    status, _, _ = await sim.call("GET", "/api/v1/apikey/validate")
    assert status == 200


async def test_result_downloads_do_not_spend_the_rate_limit(start_sim: StartSim) -> None:
    clock = FakeClock(100.0)
    sim = await start_sim(SimOptions(rate_limit=1.0), clock=clock)
    task_id = await sim.submit_ok(edit(imageSize="512"), model=NB2)
    data = await sim.wait_terminal(task_id, before_poll=lambda: clock.advance(1.0))
    for _ in range(3):
        status, _ = await sim.download(data["result"]["resources"][0]["url"])
        assert status == 200
    status, _, _ = await sim.call("GET", "/api/v1/apikey/validate")
    assert status == 429


async def test_max_concurrent_answers_429_until_a_task_finishes(start_sim: StartSim) -> None:
    clock = FakeClock(100.0)
    options = SimOptions(latency_s=(2.5, 2.5), max_concurrent=1)
    sim = await start_sim(options, clock=clock, wall_clock=lambda: WALL_START)
    task_id = await sim.submit_ok(edit(imageSize="512"), model=NB2)
    status, answer, headers = await sim.submit(edit())
    assert status == 429 and answer["code"] == 429
    assert headers["Retry-After"] == "3"
    assert headers["X-RateLimit-Reset"] == "1732388402.500"
    clock.advance(2.5)
    await sim.wait_terminal(task_id)
    await sim.submit_ok(edit())
    assert (await sim.stats())["submits"] == 2


async def test_fail_rate_one_ends_every_task_failed_with_error(start_sim: StartSim) -> None:
    sim = await start_sim(SimOptions(fail_rate=1.0))
    task_id = await sim.submit_ok(edit())
    data = await sim.wait_terminal(task_id)
    assert data["status"] == "failed"
    assert isinstance(data["error"], str) and data["error"]
    assert "result" not in data


async def test_error_rate_one_answers_500_or_503_in_protocol_shape(start_sim: StartSim) -> None:
    sim = await start_sim(SimOptions(error_rate=1.0, seed=3))
    seen: set[int] = set()
    for _ in range(12):
        status, answer, _ = await sim.call("GET", "/api/v1/team/balance")
        assert status in (500, 503) and answer["code"] == status
        prefix = "Internal Server Error: " if status == 500 else "Service Unavailable: "
        assert answer["message"].startswith(prefix)
        seen.add(status)
    assert seen == {500, 503}
    submit_500s = 0
    for _ in range(30):
        status, _, _ = await sim.submit(edit())
        assert status in (500, 503)
        submit_500s += status == 500
    stats = await sim.stats()
    # A 500 may have created (and charged) its task; a 503 never does.
    assert 0 < stats["submits"] < submit_500s
    assert stats["submit_requests"] == 30


async def test_upload_serves_same_bytes_and_feeds_a_submit(start_sim: StartSim) -> None:
    sim = await start_sim()
    content = png_bytes(split_picture())
    form = aiohttp.FormData()
    form.add_field("file", content, filename="split.png", content_type="image/png")
    status, answer, _ = await sim.call("POST", "/api/v1/media/files", data=form)
    assert status == 200 and answer["code"] == 0
    data = answer["data"]
    assert data["type"] == "image/png" and data["filename"] == "split.png"
    assert data["size"] == len(content) and data["created_at"].endswith("Z")
    assert data["url"] == f"{sim.server.base_url}/_sim/media/{data['file_id']}"
    assert await sim.download(data["url"]) == (200, content)

    task_id = await sim.submit_ok(edit(image=[data["url"]], imageSize="512"), model=NB2)
    result = await sim.wait_terminal(task_id)
    status, payload = await sim.download(result["result"]["resources"][0]["url"])
    assert status == 200 and left_darker_than_right(payload)

    status, _, _ = await sim.call("DELETE", f"/api/v1/media/files/{data['file_id']}")
    assert status == 200
    assert (await sim.download(data["url"]))[0] == 404
    status, _, _ = await sim.call("DELETE", f"/api/v1/media/files/{data['file_id']}")
    assert status == 404
    assert (await sim.stats())["uploads"] == 1


@pytest.mark.parametrize(
    ("field", "content"), [("file", b"%PDF-1.4 not an image"), ("other", b"\x89PNG\r\n\x1a\n")]
)
async def test_upload_of_non_image_or_wrong_part_answers_400(
    start_sim: StartSim, field: str, content: bytes
) -> None:
    sim = await start_sim()
    form = aiohttp.FormData()
    form.add_field(field, content, filename="x.png", content_type="image/png")
    status, answer, _ = await sim.call("POST", "/api/v1/media/files", data=form)
    assert (status, answer["code"]) == (400, 400)
    assert answer["message"].startswith("Bad Request: ")


async def test_loopback_input_url_is_fetched_for_real(start_sim: StartSim) -> None:
    sim = await start_sim()
    first = await sim.wait_terminal(await sim.submit_ok(edit(imageSize="512"), model=NB2))
    result_url = first["result"]["resources"][0]["url"].replace("127.0.0.1", "localhost")
    second = await sim.submit_ok(edit(image=[result_url], imageSize="512"), model=NB2)
    assert (await sim.wait_terminal(second))["status"] == "success"
    assert (await sim.stats())["downloads"] == 1  # the simulator downloaded its own result


async def test_results_expire_after_expire_after_s(start_sim: StartSim) -> None:
    clock = FakeClock(100.0)
    sim = await start_sim(
        SimOptions(expire_after_s=60.0), clock=clock, wall_clock=lambda: WALL_START
    )
    task_id = await sim.submit_ok(edit(imageSize="512"), model=NB2)
    data = await sim.wait_terminal(task_id)
    assert data["result_expires_at"] == "2024-11-23T19:01:00.000Z"
    url = data["result"]["resources"][0]["url"]
    assert (await sim.download(url))[0] == 200
    clock.advance(61.0)
    async with sim.http.get(url) as response:
        assert response.status == 410
        assert (await response.json())["message"].startswith("Gone: ")


async def test_stats_count_requests_by_kind_and_status(start_sim: StartSim) -> None:
    sim = await start_sim()
    task_id = await sim.submit_ok(edit(imageSize="512"), model=NB2)
    await sim.submit(edit(prompt=""))
    data = await sim.wait_terminal(task_id)
    await sim.download(data["result"]["resources"][0]["url"])
    async with aiohttp.ClientSession(base_url=sim.server.base_url) as anonymous:
        async with anonymous.get("/api/v1/team/balance") as response:
            assert response.status == 401
    stats = await sim.stats()
    assert stats == sim.server.stats()
    polls = stats["polls"]
    assert polls >= 1
    assert stats["submits"] == 1 and stats["submit_requests"] == 2
    assert stats["downloads"] == 1 and stats["uploads"] == 0
    assert stats["responses"] == {"200": 1 + polls + 1, "400": 1, "401": 1}


async def test_same_seed_replays_same_outcomes(start_sim: StartSim) -> None:
    async def outcomes(sim: Sim) -> list[tuple[str, str]]:
        task_ids = [await sim.submit_ok(edit(imageSize="512"), model=NB2) for _ in range(6)]
        return [(t, (await sim.wait_terminal(t))["status"]) for t in task_ids]

    options = SimOptions(fail_rate=0.5, seed=7)
    first = await outcomes(await start_sim(options))
    second = await outcomes(await start_sim(options))
    assert first == second
    assert {status for _, status in first} == {"success", "failed"}


async def test_models_endpoint_lists_the_catalogue(start_sim: StartSim) -> None:
    sim = await start_sim()
    _, answer, _ = await sim.call("GET", "/api/v1/models")
    slugs = {model["model_id"] for model in answer["data"]["models"]}
    assert {PRO, NB2, NB1} <= slugs
    assert slugs == set(packaged_catalogue().models)
    # Both shapes: the official CLI's top-level `models`, with string slugs.
    assert [item["slug"] for item in answer["models"]] == sorted(slugs)
    assert all(item["docs_url"] and item["type"] for item in answer["models"])


@pytest.mark.parametrize(
    ("text", "expected"), [("0.5", (0.5, 0.5)), ("1-3", (1.0, 3.0)), (" 0 ", (0.0, 0.0))]
)
def test_parse_latency_accepts_seconds_and_ranges(text: str, expected: tuple[float, float]) -> None:
    assert parse_latency(text) == expected


@pytest.mark.parametrize("text", ["", "fast", "3-1", "-1", "1-", "1-2-3", "nan", "inf"])
def test_parse_latency_rejects_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match="latency"):
        parse_latency(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fail_rate": 1.5},
        {"error_rate": -0.1},
        {"rate_limit": 0.0},
        {"max_concurrent": 0},
        {"balance": -1},
        {"latency_s": (2.0, 1.0)},
        {"expire_after_s": 0.0},
        {"api_key": ""},
    ],
)
def test_sim_options_reject_out_of_range_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SimOptions(**kwargs)


@pytest.mark.real_time(
    "waits while the simulator draws three pictures in a thread: CPU, slower on a loaded machine"
)
@pytest.mark.parametrize("suffix", ["/async", ""])
async def test_a_task_of_n_outputs_serves_each_at_the_catalogued_size(
    start_sim: StartSim, suffix: str
) -> None:
    sim = await start_sim()
    body = qwen(size="640*480", n=3)
    status, answer, _ = await sim.submit(body, model=QWEN, suffix=suffix)
    assert status == 200
    data = await sim.wait_terminal(answer["data"]["task_id"])
    resources = data["result"]["resources"]
    assert [(r["width"], r["height"]) for r in resources] == [(640, 480)] * 3
    payloads = []
    for resource in resources:
        status, payload = await sim.download(resource["url"])
        assert status == 200
        payloads.append(payload)
        assert Image.open(io.BytesIO(payload)).size == (640, 480)
    assert len(set(payloads)) == 3  # each output its own picture
    assert (await sim.stats())["submits"] == 1


async def test_the_model_pages_schema_is_served_without_a_key(start_sim: StartSim) -> None:
    sim = await start_sim()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sim.server.base_url}/models/{WAN}/api_schema") as answer:
            assert answer.status == 200
            document = await answer.json()
    assert document["servers"][0]["url"] == f"{sim.server.base_url}/api/v1/{WAN}/async"
    request = document["components"]["schemas"]["EditRequest"]
    assert request["properties"]["n"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 4,
        "default": 4,
    }
