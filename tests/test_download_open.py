"""A download's file is closed however its task ends: a run stopped while a
writer's file is being opened in aiofiles' worker thread leaves no descriptor
to the garbage collector (it showed as a ResourceWarning in a run whose
journal failed, when the stop cancelled the writers)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import IO, Any

import aiofiles.threadpool
import pytest

from batchedit.api.download import opened_for_writing


async def test_a_task_cancelled_while_its_file_opens_closes_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[IO[Any]] = []
    in_open, may_finish = threading.Event(), threading.Event()

    def slow_open(*args: Any, **kwargs: Any) -> IO[Any]:
        in_open.set()
        may_finish.wait(5)  # the worker thread is still opening when the task is cancelled
        handle: IO[Any] = open(*args, **kwargs)  # aiofiles' sync_open is the builtin
        opened.append(handle)
        return handle

    monkeypatch.setattr(aiofiles.threadpool, "sync_open", slow_open)

    async def download() -> None:
        async with opened_for_writing(tmp_path / "result.part") as handle:
            await handle.write(b"never")

    task = asyncio.ensure_future(download())
    await asyncio.to_thread(in_open.wait, 5)
    task.cancel()
    await asyncio.sleep(0)
    may_finish.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(opened) == 1 and opened[0].closed, "the file the thread opened is closed"
    assert (tmp_path / "result.part").read_bytes() == b"", "nothing was written after the cancel"


async def test_a_file_opened_for_writing_is_closed_when_its_block_ends(tmp_path: Path) -> None:
    async with opened_for_writing(tmp_path / "result.part") as handle:
        await handle.write(b"pixels")
    assert handle.closed
    assert (tmp_path / "result.part").read_bytes() == b"pixels"
