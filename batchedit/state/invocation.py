"""How a run was started, kept in the state folder so `batchedit retry RUN_DIR`
can run the same source with the same settings without being told again.

Only settings are kept (the job source, the command line's overrides, the
simulator options of a `--simulate` run), never the key: the key comes from
the environment each time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchedit.errors import UsageError
from batchedit.fsutil import atomic_write_bytes
from batchedit.state.rundir import RunPaths

Setting = str | int | float | bool | list[Any] | dict[str, Any] | None  # JSON values


@dataclass(frozen=True, slots=True)
class Invocation:
    source: Path  # absolute
    overrides: Mapping[str, Setting] = field(default_factory=dict)
    simulate: Mapping[str, Setting] | None = None  # simulator options, or None for the API

    def to_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "overrides": dict(self.overrides),
            "simulate": None if self.simulate is None else dict(self.simulate),
        }


def save_invocation(paths: RunPaths, invocation: Invocation) -> None:
    text = json.dumps(invocation.to_json(), indent=2, ensure_ascii=False) + "\n"
    atomic_write_bytes(paths.invocation, text.encode())


def load_invocation(run_dir: Path) -> Invocation:
    paths = RunPaths(run_dir)
    try:
        data = json.loads(paths.invocation.read_text(encoding="utf-8"))
        return Invocation(
            source=Path(data["source"]),
            overrides=dict(data.get("overrides") or {}),
            simulate=data.get("simulate"),
        )
    except (FileNotFoundError, NotADirectoryError):
        raise UsageError(
            f"{run_dir} is not a batchedit run directory (no {paths.invocation.name}); "
            "give the directory a `batchedit run` wrote into"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{paths.invocation}: unreadable ({exc})") from exc
