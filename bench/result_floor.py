"""The floor of benchmark B8: what any client must spend on realistic 4K
results, and nothing more. Submit, poll and download as a batchedit run
does, stream each result to a file, decode it with Pillow (two at a time:
the machine's cores) and fsync it; no journal, no checks, no label, no
rename. Run as its own process (`python bench/result_floor.py URL ROWS
CONCURRENCY FOLDER`), so its peak RSS and CPU are its own."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp
from PIL import Image

MODEL = "google/nano-banana-pro-edit"
BODY = {
    "prompt": "Put it on white",
    "image": ["https://cdn.example.com/products/p.jpg"],
    "aspectRatio": "1:1",
    "imageSize": "4K",
}
CHUNK_BYTES = 256 * 1024
DECODES_AT_ONCE = 2


def _decode_and_sync(path: Path) -> None:
    with Image.open(path, formats=("PNG",)) as image:
        image.load()
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


async def _one(
    session: aiohttp.ClientSession, base_url: str, path: Path, decoding: asyncio.Semaphore
) -> None:
    headers = {"Authorization": "Bearer bench-key"}
    async with session.post(f"{base_url}/api/v1/{MODEL}/async", json=BODY, headers=headers) as r:
        task_id = (await r.json())["data"]["task_id"]
    while True:
        async with session.get(f"{base_url}/api/v1/tasks/{task_id}", headers=headers) as r:
            data = (await r.json())["data"]
        if data["status"] in ("success", "failed"):
            break
        await asyncio.sleep(0.05)
    for resource in data.get("result", {}).get("resources", []):
        async with session.get(resource["url"]) as answer:
            with open(path, "wb") as out:
                async for chunk in answer.content.iter_chunked(CHUNK_BYTES):
                    out.write(chunk)
        async with decoding:
            await asyncio.to_thread(_decode_and_sync, path)


async def main(base_url: str, rows: int, concurrency: int, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    todo = list(range(rows))
    decoding = asyncio.Semaphore(DECODES_AT_ONCE)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            while todo:
                number = todo.pop()
                await _one(session, base_url, folder / f"r-{number}.png", decoding)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


if __name__ == "__main__":
    url, count, at_once, out = sys.argv[1:5]
    asyncio.run(main(url, int(count), int(at_once), Path(out)))
