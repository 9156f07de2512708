"""Uploads remembered across runs of one run directory, while still valid.

The media endpoint keeps an uploaded file for about 7 days (modellix-api.md),
so a re-run of the same catalog (a retry, a changed prompt) need not upload
its photos again. Each upload is one JSON line in `.batchedit/uploads.jsonl`:
the content's sha256, the API origin it was uploaded to (the simulator's
origin changes with each `--simulate`, and its uploads die with it), the URL
and when. An entry is reused for 6 days: a day's margin, so a URL is never
sent just as it expires. A torn or foreign line is skipped, never fatal.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from batchedit.api.client import UploadedFile

UPLOADS_FILE = "uploads.jsonl"
REUSE_FOR_S = 6 * 24 * 3600


class UploadCache:
    """sha256 -> URL of this origin's uploads still young enough to reuse."""

    def __init__(self, path: Path, origin: str, *, now: Callable[[], float] = time.time) -> None:
        self.path = path
        self.origin = origin
        self._now = now
        self._entries: dict[str, tuple[str, float]] | None = None

    async def lookup(self, sha256: str) -> str | None:
        if self._entries is None:
            self._entries = await asyncio.to_thread(self._read)
        entry = self._entries.get(sha256)
        if entry is None or self._now() - entry[1] >= REUSE_FOR_S:
            return None
        return entry[0]

    async def remember(self, sha256: str, uploaded: UploadedFile) -> None:
        at = self._now()
        line = {
            "sha256": sha256,
            "origin": self.origin,
            "url": uploaded.url,
            "file_id": uploaded.file_id,
            "uploaded_at": at,
        }
        await asyncio.to_thread(self._append, json.dumps(line) + "\n")
        if self._entries is not None:
            self._entries[sha256] = (uploaded.url, at)

    def _read(self) -> dict[str, tuple[str, float]]:
        entries: dict[str, tuple[str, float]] = {}
        with suppress(FileNotFoundError), self.path.open(encoding="utf-8") as handle:
            for text in handle:
                entry = _parse(text)
                if entry is not None and entry[0] == self.origin:
                    entries[entry[1]] = (entry[2], entry[3])
        return entries

    def _append(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+b") as handle:
            if handle.tell() > 0:  # after a torn last line, start on a line of our own
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    text = "\n" + text
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())


def _parse(text: str) -> tuple[str, str, str, float] | None:
    """(origin, sha256, url, uploaded_at) of one line, or None for a torn or odd line."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    origin, sha256, url, at = (data.get(k) for k in ("origin", "sha256", "url", "uploaded_at"))
    if not all(isinstance(v, str) and v for v in (origin, sha256, url)):
        return None
    if isinstance(at, bool) or not isinstance(at, int | float):
        return None
    return str(origin), str(sha256), str(url), float(at)
