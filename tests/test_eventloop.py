"""The event loop a command runs on: uvloop where installed, asyncio's own
when it is not or when BATCHEDIT_LOOP=asyncio declines it."""

from __future__ import annotations

import asyncio
import sys
import types

import pytest

from batchedit.eventloop import loop_factory, run_coroutine


class MarkedLoop(asyncio.SelectorEventLoop):
    """Stands in for uvloop's loop, so the test sees which factory ran."""


def fake_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("uvloop")
    module.new_event_loop = MarkedLoop  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", module)


async def loop_type() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


def test_uvloop_runs_the_command_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_uvloop(monkeypatch)
    monkeypatch.delenv("BATCHEDIT_LOOP", raising=False)
    assert run_coroutine(loop_type()) is MarkedLoop


def test_batchedit_loop_asyncio_declines_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_uvloop(monkeypatch)
    monkeypatch.setenv("BATCHEDIT_LOOP", "asyncio")
    assert loop_factory() is None
    assert run_coroutine(loop_type()) is not MarkedLoop


def test_without_uvloop_asyncio_runs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import fails as if not installed
    assert loop_factory() is None
