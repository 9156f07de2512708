"""The floor of benchmark B1: the same submit, poll and download requests as a
batchedit run, from a minimal aiohttp loop that also does what any client
keeping its results must: each result streamed to a file, decoded by Pillow
(in a worker thread, two at a time: the machine's cores) and fsynced (in a
worker thread too, as many at once as results are ready). No
journal, no validation, no checks, no label, no rename. batchedit's tasks per
second divided by this loop's, against the same simulator in the same
benchmark run, is its overhead figure: what the bookkeeping costs over the
work a result needs anyway."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import aiohttp
from PIL import Image

MODEL = "google/nano-banana-2-edit"
IMAGE = "https://cdn.example.com/products/p.jpg"
CHUNK_BYTES = 256 * 1024
DECODES_AT_ONCE = 2


def _decode(path: Path) -> None:
    with Image.open(path, formats=("PNG", "JPEG", "WEBP")) as image:
        image.load()


def _sync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


async def _worker(
    session: aiohttp.ClientSession,
    base_url: str,
    headers: dict[str, str],
    todo: list[int],
    folder: Path,
    decoding: asyncio.Semaphore,
) -> None:
    body = {
        "prompt": "Put it on white",
        "image": ["https://cdn.example.com/p.jpg"],
        "imageSize": "512",
    }
    while todo:
        number = todo.pop()
        async with session.post(
            f"{base_url}/api/v1/{MODEL}/async", json=body, headers=headers
        ) as answer:
            task_id = (await answer.json())["data"]["task_id"]
        while True:
            async with session.get(f"{base_url}/api/v1/tasks/{task_id}", headers=headers) as answer:
                data = (await answer.json())["data"]
            if data["status"] in ("success", "failed"):
                break
        for index, resource in enumerate(data.get("result", {}).get("resources", [])):
            path = folder / f"r-{number}-{index}"
            async with session.get(resource["url"]) as answer:
                with open(path, "wb") as out:
                    async for chunk in answer.content.iter_chunked(CHUNK_BYTES):
                        out.write(chunk)
            async with decoding:  # CPU: as many at once as there are cores
                await asyncio.to_thread(_decode, path)
            await asyncio.to_thread(_sync, path)  # the disk's wait: not held to the cores


async def floor_tasks_per_s(base_url: str, *, rows: int, concurrency: int, folder: Path) -> float:
    """The floor's tasks per second for `rows` tasks, its results kept in `folder`."""
    headers = {"Authorization": "Bearer bench-key"}
    todo = list(range(rows))
    folder.mkdir(parents=True, exist_ok=True)
    decoding = asyncio.Semaphore(DECODES_AT_ONCE)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(
            *(
                _worker(session, base_url, headers, todo, folder, decoding)
                for _ in range(concurrency)
            )
        )
        return rows / (time.perf_counter() - started)
