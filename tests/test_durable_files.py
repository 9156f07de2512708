"""Durable files one way (issue 28.6): every file batchedit writes whole is
renamed into place by fsutil with its content and its folder fsynced, the
run's outputs and an export's copies included."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from support import PipelineRun, RunRows

from batchedit import fsutil
from batchedit.fsutil import replace_synced

Fsynced = list[Path]


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> Fsynced:
    """The paths (files and folders) fsynced, in order, from any thread."""
    seen: Fsynced = []
    real: Callable[[int], None] = os.fsync

    def spy(fd: int) -> None:
        seen.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return seen


def test_replace_synced_fsyncs_the_file_then_the_folders_it_touched(
    tmp_path: Path, fsynced: Fsynced
) -> None:
    aside = tmp_path / ".made.part"
    aside.write_bytes(b"whole")
    target = tmp_path / "new" / "deeper" / "made.png"
    replace_synced(aside, target)
    assert target.read_bytes() == b"whole" and not aside.exists()
    assert fsynced[0] == aside  # the content, before the rename
    # the new folders' entries, the rename in the target's folder, and the
    # source's folder the name left
    assert fsynced[1:] == [tmp_path, tmp_path / "new", target.parent, tmp_path]


def test_replace_synced_in_one_folder_fsyncs_it_once(tmp_path: Path, fsynced: Fsynced) -> None:
    aside = tmp_path / ".journal.part"
    aside.write_bytes(b"{}\n")
    replace_synced(aside, tmp_path / "journal.jsonl")
    assert fsynced == [aside, tmp_path]


def test_atomic_write_fsyncs_the_file_and_its_folder(tmp_path: Path, fsynced: Fsynced) -> None:
    fsutil.atomic_write_bytes(tmp_path / "summary.json", b"{}")
    aside, folder = fsynced
    assert aside.parent == tmp_path and aside.name.endswith(".part")
    assert folder == tmp_path


async def test_every_output_of_a_run_is_fsynced_with_its_folder(
    run_rows: RunRows, fsynced: Fsynced
) -> None:
    run: PipelineRun = await run_rows(rows=3)
    outputs = run.paths.outputs
    files = sorted(outputs.iterdir())
    assert len(files) == 3 and run.count("succeeded") == 3
    # each result's content is fsynced under its aside name, then outputs/ after its rename
    assert fsynced.count(outputs) >= len(files)
    assert not any(path.suffix == ".part" for path in outputs.iterdir())
