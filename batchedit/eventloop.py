"""Which event loop runs a command: uvloop when it is installed
(`pip install batchedit[fast]`), else asyncio's own.

uvloop runs the same coroutines on libuv, with less CPU per callback and per
socket operation; a batch of thousands of small HTTP exchanges spends much
of its CPU there. `BATCHEDIT_LOOP=asyncio` keeps asyncio's loop even where
uvloop is installed (to compare, or to rule it out)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when it is installed and not declined, else None."""
    if os.environ.get("BATCHEDIT_LOOP", "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_name() -> str:
    return "asyncio" if loop_factory() is None else "uvloop"


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, on the loop `loop_factory` chooses."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coroutine)
