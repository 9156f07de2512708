"""The simulator's `prerendered` mode: honest images of the requested shape,
rendered once per shape, so benchmarks measure the client and not Pillow."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import aiohttp
import pytest
from PIL import Image, ImageStat
from support import output_size

from batchedit.simulator import SimOptions, running_simulator

NB2 = "google/nano-banana-2-edit"
HEADERS = {"Authorization": "Bearer k"}


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


async def _submit(http: aiohttp.ClientSession, base: str, **params: str) -> str:
    body: dict[str, Any] = {"prompt": "p", "image": ["https://cdn.example.com/a.jpg"], **params}
    async with http.post(f"{base}/api/v1/{NB2}/async", json=body, headers=HEADERS) as answer:
        assert answer.status == 200
        task_id: str = (await answer.json())["data"]["task_id"]
        return task_id


async def _read(http: aiohttp.ClientSession, base: str, task_id: str) -> dict[str, Any]:
    async with http.get(f"{base}/api/v1/tasks/{task_id}", headers=HEADERS) as answer:
        data: dict[str, Any] = (await answer.json())["data"]
        return data


async def test_prerendered_results_are_real_images_of_the_requested_shape_shared_per_shape() -> (
    None
):
    clock = Clock()
    options = SimOptions(latency_s=(2.0, 2.0), prerendered=True, seed=1)
    async with (
        running_simulator(options, clock=clock) as sim,
        aiohttp.ClientSession() as http,
    ):
        first = await _submit(http, sim.base_url, aspectRatio="4:5", imageSize="512")
        second = await _submit(http, sim.base_url, aspectRatio="4:5", imageSize="512")
        wide = await _submit(http, sim.base_url, aspectRatio="16:9", imageSize="2K")
        clock.now += 1.9
        assert (await _read(http, sim.base_url, first))["status"] == "processing"
        clock.now += 0.1
        bodies = []
        for task_id, ratio, size, fmt in (
            (first, "4:5", "512", "PNG"),
            (second, "4:5", "512", "PNG"),
            (wide, "16:9", "2K", "JPEG"),
        ):
            data = await _read(http, sim.base_url, task_id)
            assert data["status"] == "success"
            async with http.get(data["result"]["resources"][0]["url"]) as download:
                assert download.status == 200
                body = await download.read()
            with Image.open(io.BytesIO(body)) as picture:
                picture.load()
                assert picture.size == output_size(ratio, size)
                assert picture.format == fmt
            bodies.append(body)
        assert bodies[0] == bodies[1] != bodies[2]


async def test_an_expired_prerendered_result_leaves_the_shared_image_for_other_tasks() -> None:
    clock = Clock()
    options = SimOptions(latency_s=(0.0, 0.0), prerendered=True, expire_after_s=10.0)
    async with (
        running_simulator(options, clock=clock) as sim,
        aiohttp.ClientSession() as http,
    ):
        old = await _submit(http, sim.base_url)
        old_url = (await _read(http, sim.base_url, old))["result"]["resources"][0]["url"]
        clock.now += 11.0
        async with http.get(old_url) as download:
            assert download.status == 410
        new = await _submit(http, sim.base_url)
        new_url = (await _read(http, sim.base_url, new))["result"]["resources"][0]["url"]
        async with http.get(new_url) as download:
            assert download.status == 200


@pytest.mark.real_time(
    "waits for the shape's file drawn in the background: CPU, slower on a loaded machine"
)
async def test_realistic_results_are_photo_like_pngs_on_the_providers_grid() -> None:
    """`result_profile="realistic"`: the grid's size (21:9 at 1K is 1584x672),
    PNG, grain that does not compress (a 4K one is 15 MB or more, see
    test_real_sizes.py), one file per shape made in the background."""
    options = SimOptions(latency_s=(0.0, 0.0), result_profile="realistic", seed=1)
    async with (
        running_simulator(options) as sim,
        aiohttp.ClientSession() as http,
    ):
        first = await _submit(http, sim.base_url, aspectRatio="21:9", imageSize="1K")
        second = await _submit(http, sim.base_url, aspectRatio="21:9", imageSize="1K")
        bodies = []
        for task_id in (first, second):
            data = await _read(http, sim.base_url, task_id)
            while data["status"] != "success":  # the shape's file is made in the background
                await asyncio.sleep(0.01)
                data = await _read(http, sim.base_url, task_id)
            async with http.get(data["result"]["resources"][0]["url"]) as download:
                bodies.append(await download.read())
    assert bodies[0] == bodies[1], "one file per shape"
    with Image.open(io.BytesIO(bodies[0])) as picture:
        picture.load()
        assert picture.format == "PNG" and picture.size == (1584, 672)
        spread = ImageStat.Stat(picture.convert("RGB")).stddev
    assert min(spread) > 10, "not flat: a gradient under grain"
    assert len(bodies[0]) > 1584 * 672 * 3 // 3, "grain a PNG cannot squeeze away"
