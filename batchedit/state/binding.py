"""What a run directory is bound to: the source that made it, and what its
unrecorded results count as.

A run directory holds one source's rows (DESIGN invariant 12): the job file
or bare manifest of its first run, kept in `source.json` as its resolved path
and, to know it again after a move, its device and inode. A file edited in
place or saved by an editor that writes aside and renames keeps its path, so
it is the same source; a file moved keeps its inode, so it is too. Another
source is refused by the launch unless `--new-source`, which binds the
directory to it (pipeline/plan/source_check.py). Directories made before the
binding was recorded are bound to the source of their recorded invocation.

Journal lines written before origins were recorded have none; what their
results count as is decided here, once per directory (origins.py): taken as
simulated when the directory shows a simulated run (the store of `run
--simulate`'s simulator, or a recorded `--simulate` invocation), else as real.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchedit.fsutil import atomic_write_bytes
from batchedit.origins import UNRECORDED, UNRECORDED_SIMULATED, Origin
from batchedit.state.rundir import RunPaths


@dataclass(frozen=True, slots=True)
class SourceBinding:
    """The source a run directory is bound to."""

    path: Path  # resolved
    device: int | None = None
    inode: int | None = None

    @classmethod
    def of(cls, source: Path) -> SourceBinding:
        """The binding to `source` as it is on disk now."""
        path = source.resolve()
        try:
            stat = path.stat()
        except OSError:
            return cls(path)
        return cls(path, stat.st_dev, stat.st_ino)

    def names(self, source: Path) -> bool:
        """Whether `source` is this binding's file: the same path, or (moved) the same inode."""
        path = source.resolve()
        if path == self.path:
            return True
        if self.inode is None:
            return False
        try:
            stat = path.stat()
        except OSError:
            return False
        return (stat.st_dev, stat.st_ino) == (self.device, self.inode)

    def to_json(self) -> dict[str, Any]:
        return {"source": str(self.path), "device": self.device, "inode": self.inode}


def read_binding(paths: RunPaths) -> SourceBinding | None:
    """The directory's binding; for a directory made before bindings were kept,
    the source of its recorded invocation; None for a directory no run made."""
    try:
        data = json.loads(paths.source_binding.read_text(encoding="utf-8"))
        return SourceBinding(
            Path(data["source"]), _int(data.get("device")), _int(data.get("inode"))
        )
    except (OSError, ValueError, KeyError, TypeError):
        pass  # none (or unreadable): fall back on the invocation, which names the source too
    source = _invocation(paths).get("source")
    return SourceBinding(Path(source)) if isinstance(source, str) else None


def bind_source(paths: RunPaths, source: Path) -> None:
    """Bind the directory to `source` (its first run, or `--new-source`)."""
    text = json.dumps(SourceBinding.of(source).to_json(), indent=2, ensure_ascii=False) + "\n"
    atomic_write_bytes(paths.source_binding, text.encode())


def unrecorded_origin(paths: RunPaths) -> Origin:
    """What results journalled without an origin count as in this directory."""
    if paths.simulator_store.is_dir() or _invocation(paths).get("simulate") is not None:
        return UNRECORDED_SIMULATED
    return UNRECORDED


def _invocation(paths: RunPaths) -> dict[str, Any]:
    try:
        data = json.loads(paths.invocation.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


__all__ = ["SourceBinding", "bind_source", "read_binding", "unrecorded_origin"]
