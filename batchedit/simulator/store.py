"""A simulator that remembers: its tasks, uploads and results kept in a folder.

`run --simulate` starts a simulator inside the run and points this store at
the run directory's hidden state, so the next run on that directory (a
re-run, a resume after an interrupt, a download of a lost output) finds its
tasks as it would at the real service, instead of 404 for every task id the
journal holds. `batchedit simulate` and the tests keep no store.

It is written after changes, at most every two seconds, and when the
simulator stops. The folder holds `state.json` (tasks, uploads' metadata, balances spent),
`results/` (the rendered files) and `media/` (uploaded bytes). Times are
stored as epoch seconds and turned back into the simulator's clock on load,
so a task's age keeps running while no simulator does. A task whose render
had not finished when the simulator stopped keeps what it needs to render
again (its prompt, first image and shape). Files being written are written
aside and renamed; anything left aside by a killed process is removed on
load, and results past their expiry are deleted then too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchedit.fsutil import atomic_write_bytes, remove_partial_files
from batchedit.simulator.state import MediaFile, ResultFile, SimState, SimTask

log = logging.getLogger(__name__)

#: The store's folder in a run's hidden state (`run --simulate`).
STORE_DIR = "simulator"
STATE_FILE = "state.json"
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Snapshot:
    document: bytes
    media: list[tuple[Path, bytes]]
    deleted: list[Path]  # bytes of deleted uploads, not to be kept


class SimStore:
    """The simulator's memory on disk, in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.results = folder / "results"
        self.media = folder / "media"
        #: Request bodies of tasks not yet rendered, by task id (for a stop mid-render).
        self.renders: dict[str, object] = {}
        self.saved_at = float("-inf")  # time.monotonic() of the last write begun
        self.saving = False

    def prepare(self) -> None:
        for folder in (self.results, self.media):
            folder.mkdir(parents=True, exist_ok=True)
        remove_partial_files(self.folder)

    def remember_render(self, task_id: str, body: object) -> None:
        self.renders[task_id] = body

    def snapshot(self, state: SimState) -> Snapshot:
        """What to write, taken on the event loop (where the state changes)."""
        now_mono, now_wall = state.clock(), state.wall_clock()
        tasks = [self._task_json(task) for task in state.tasks.values()]
        for task_id in [t for t in self.renders if state.tasks[t].rendered_at is not None]:
            del self.renders[task_id]  # settled: nothing to render again
        document = {
            "version": FORMAT_VERSION,
            "saved_wall": now_wall,
            "saved_mono": now_mono,
            "tasks": tasks,
            "media": [
                {
                    "file_id": m.file_id,
                    "content_type": m.content_type,
                    "filename": m.filename,
                    "created_wall": m.created_wall,
                }
                for m in state.media.values()
            ],
            "deleted_media": sorted(state.deleted_media),
            "spent": dict(state.spent),
        }
        media = [(self.media / m.file_id, m.data) for m in state.media.values()]
        deleted = [self.media / file_id for file_id in state.deleted_media]
        return Snapshot(json.dumps(document).encode(), media, deleted)

    def write(self, snapshot: Snapshot) -> None:
        """Write a snapshot aside and rename it into place (in a thread)."""
        for path, data in snapshot.media:
            if not path.exists():
                atomic_write_bytes(path, data)
        atomic_write_bytes(self.folder / STATE_FILE, snapshot.document)
        for path in snapshot.deleted:  # after the state that no longer names them
            path.unlink(missing_ok=True)

    def _task_json(self, task: SimTask) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "task_id": task.task_id,
            "key": task.key,
            "model_id": task.model_id,
            "created_wall": task.created_wall,
            "latency_s": task.latency_s,
            "error": task.error,
            "settled": task.rendered_at is not None,
            "results": [
                {
                    "file": result.path.name,
                    "width": result.width,
                    "height": result.height,
                    "format": result.format,
                    "extension": result.extension,
                }
                for result in task.results
            ],
        }
        if task.rendered_at is None and task.task_id in self.renders:
            entry["body"] = self.renders[task.task_id]
        return entry

    def load(self, state: SimState, expire_after_s: float) -> list[tuple[SimTask, object]]:
        """Fill `state` from the folder; the tasks whose render must run again."""
        path = self.folder / STATE_FILE
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("the simulator's saved state is unreadable (%s); starting afresh", exc)
            return []
        if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
            return []
        now_mono, now_wall = state.clock(), state.wall_clock()
        pending: list[tuple[SimTask, object]] = []
        for entry in document.get("tasks", []):
            task = self._task_from(entry, now_mono, now_wall)
            if task is None:
                continue
            expires = task.expires_at(expire_after_s)
            if expires is not None and now_mono >= expires:
                for result in task.results:
                    result.path.unlink(missing_ok=True)
            state.tasks[task.task_id] = task
            if task.rendered_at is None:
                state.active_for(task.key).add(task.task_id)
                if "body" in entry:
                    self.renders[task.task_id] = entry["body"]
                    pending.append((task, entry["body"]))
        self._load_media(state, document.get("media", []))
        state.deleted_media.update(str(i) for i in document.get("deleted_media", []))
        for key, spent in dict(document.get("spent", {})).items():
            state.spent[key] += int(spent)
        return pending

    def _load_media(self, state: SimState, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            data_path = self.media / str(entry.get("file_id", ""))
            if data_path.is_file():
                state.media[entry["file_id"]] = MediaFile(
                    entry["file_id"],
                    data_path.read_bytes(),
                    entry["content_type"],
                    entry["filename"],
                    entry["created_wall"],
                )

    def _task_from(self, entry: dict[str, Any], now_mono: float, now_wall: float) -> SimTask | None:
        try:
            created_at = now_mono - (now_wall - float(entry["created_wall"]))
            task = SimTask(
                task_id=str(entry["task_id"]),
                key=str(entry["key"]),
                model_id=str(entry["model_id"]),
                created_at=created_at,
                created_wall=float(entry["created_wall"]),
                latency_s=float(entry["latency_s"]),
                error=entry.get("error"),
            )
            task.results = tuple(
                ResultFile(
                    self.results / Path(str(result["file"])).name,
                    int(result["width"]),
                    int(result["height"]),
                    str(result["format"]),
                    str(result["extension"]),
                )
                for result in entry.get("results", [])
            )
        except (KeyError, TypeError, ValueError):
            return None
        if entry.get("settled"):
            task.rendered_at = created_at
        return task
