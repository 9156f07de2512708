"""The floor of benchmark B1: the same submit, poll and download requests as a
batchedit run, from a minimal aiohttp loop with no bookkeeping at all (no
journal, no validation, no files, no image checks). batchedit's tasks per
second divided by this loop's, against the same simulator in the same
benchmark run, is its overhead figure."""

from __future__ import annotations

import asyncio
import time

import aiohttp

MODEL = "google/nano-banana-2-edit"
IMAGE = "https://cdn.example.com/products/p.jpg"


async def _worker(
    session: aiohttp.ClientSession, base_url: str, headers: dict[str, str], todo: list[int]
) -> None:
    body = {
        "prompt": "Put it on white",
        "image": ["https://cdn.example.com/p.jpg"],
        "imageSize": "512",
    }
    while todo:
        todo.pop()
        async with session.post(
            f"{base_url}/api/v1/{MODEL}/async", json=body, headers=headers
        ) as answer:
            task_id = (await answer.json())["data"]["task_id"]
        while True:
            async with session.get(f"{base_url}/api/v1/tasks/{task_id}", headers=headers) as answer:
                data = (await answer.json())["data"]
            if data["status"] in ("success", "failed"):
                break
        for resource in data.get("result", {}).get("resources", []):
            async with session.get(resource["url"]) as answer:
                await answer.read()


async def floor_tasks_per_s(base_url: str, *, rows: int, concurrency: int) -> float:
    headers = {"Authorization": "Bearer bench-key"}
    todo = list(range(rows))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(
            *(_worker(session, base_url, headers, todo) for _ in range(concurrency))
        )
        return rows / (time.perf_counter() - started)
