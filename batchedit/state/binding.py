"""What a run directory is bound to: what its unrecorded results count as.

Journal lines written before origins were recorded have none; what their
results count as is decided here, once per directory (origins.py): taken as
simulated when the directory shows a simulated run (the store of `run
--simulate`'s simulator, or a recorded `--simulate` invocation), else as real.
"""

from __future__ import annotations

import json
from typing import Any

from batchedit.origins import UNRECORDED, UNRECORDED_SIMULATED, Origin
from batchedit.state.rundir import RunPaths


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


__all__ = ["unrecorded_origin"]
