"""Uploads remembered across runs of one run directory, while still valid.

The media endpoint keeps an uploaded file for about 7 days (modellix-api.md),
so a re-run of the same catalog (a retry, a changed prompt) need not upload
its photos again. Each upload is one JSON line in `.batchedit/uploads.jsonl`:
the content's sha256, the API origin it was uploaded to (the simulator's
origin changes with each `--simulate`, and its uploads die with it), the URL,
the file id and when. An entry is reused for 6 days: a day's margin, so a URL
is never sent just as it expires. An entry dated in the future (a clock set
back, a hand-edited file) or at a time that is no number (`NaN`, `Infinity`)
is not trusted: its file is uploaded again. A torn last line is dropped and
cut off before the next append (jsonlines.py); a foreign line anywhere is
skipped, never fatal: a line lost costs an upload, nothing more.

`uploads purge` deletes uploads at the service in two steps, each a line
here: first the upload is forgotten (`{"forgotten": FILE_ID, ...}`: no run
sends its URL again, so nothing is ever submitted naming a deleted file),
then, once the service deleted it, marked deleted. A purge stopped between
the two finds the forgotten ones and deletes them.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from batchedit.api.client import UploadedFile
from batchedit.jsonlines import append_lines, dumps_line, loads, read_lines

UPLOADS_FILE = "uploads.jsonl"
REUSE_FOR_S = 6 * 24 * 3600


@dataclass(frozen=True, slots=True)
class CachedUpload:
    """One upload the cache remembers, and how far a purge got with it."""

    origin: str
    sha256: str
    url: str
    file_id: str
    uploaded_at: float
    forgotten: bool = False  # no run reuses it; a purge owes its deletion


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
        if entry is None or not self._reusable(entry[1]):
            return None
        return entry[0]

    def _reusable(self, uploaded_at: float) -> bool:
        """Young enough to reuse, and a time this cache could have written: an
        entry dated in the future, or at NaN or infinity, would otherwise be
        trusted for ever; it is taken as absent, and the file uploaded again."""
        age = self._now() - uploaded_at
        return math.isfinite(uploaded_at) and 0 <= age < REUSE_FOR_S

    async def remember(self, sha256: str, uploaded: UploadedFile) -> None:
        at = self._now()
        line = {
            "sha256": sha256,
            "origin": self.origin,
            "url": uploaded.url,
            "file_id": uploaded.file_id,
            "uploaded_at": at,
        }
        await asyncio.to_thread(self._append, [line])
        if self._entries is not None:
            self._entries[sha256] = (uploaded.url, at)

    def uploads(self) -> list[CachedUpload]:
        """Every upload not yet deleted, of every origin, oldest first (in a thread)."""
        live: dict[tuple[str, str], CachedUpload] = {}
        for line in read_lines(self.path):
            _apply(live, line.text)
        return list(live.values())

    def forget(self, uploads: Iterable[CachedUpload]) -> None:
        """No run reuses these any more (in a thread, durable on return)."""
        self._mark("forgotten", uploads)

    def mark_deleted(self, uploads: Iterable[CachedUpload]) -> None:
        """The service no longer has these (in a thread, durable on return)."""
        self._mark("deleted", uploads)

    def _mark(self, what: str, uploads: Iterable[CachedUpload]) -> None:
        at = self._now()
        lines = [{what: u.file_id, "origin": u.origin, "at": at} for u in uploads]
        if lines:
            self._append(lines)
        self._entries = None  # read again at the next lookup

    def _read(self) -> dict[str, tuple[str, float]]:
        """sha256 -> (url, uploaded_at) of this origin's reusable uploads, the latest winning."""
        return {
            u.sha256: (u.url, u.uploaded_at)
            for u in self.uploads()
            if u.origin == self.origin and not u.forgotten
        }

    def _append(self, lines: list[dict[str, object]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        append_lines(self.path, b"".join(dumps_line(line) for line in lines))


def _apply(live: dict[tuple[str, str], CachedUpload], text: bytes) -> None:
    """One line of the file applied to the uploads, kept by (origin, file id)
    in the file's order (an upload without a file id, by its sha256)."""
    try:
        data = loads(text)
    except ValueError:
        return
    if not isinstance(data, dict) or not isinstance(origin := data.get("origin"), str):
        return
    for mark in ("forgotten", "deleted"):
        file_id = data.get(mark)
        if isinstance(file_id, str) and file_id:
            upload = live.pop((origin, file_id), None)
            if upload is not None and mark == "forgotten":
                live[(origin, file_id)] = replace(upload, forgotten=True)
            return
    sha256, url, at, file_id = (data.get(k) for k in ("sha256", "url", "uploaded_at", "file_id"))
    if not all(isinstance(v, str) and v for v in (origin, sha256, url)):
        return
    if isinstance(at, bool) or not isinstance(at, int | float):
        return
    file_id = file_id if isinstance(file_id, str) else ""
    upload = CachedUpload(origin, str(sha256), str(url), file_id, float(at))
    live[(origin, file_id or f"sha256:{sha256}")] = upload
