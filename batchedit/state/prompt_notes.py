"""What `retry` added to rows' prompts (review notes, `--prompt-suffix`), kept in
the state folder so that every later run of the directory makes the same
requests: without it a plain `batchedit run` would see those rows' requests
as changed back, and pay to undo the fix.

`{"row id": "text added", ...}`. A later retry of a row replaces its text: the
prompt sent is the row's own prompt and the current note, never the notes of
earlier rounds (each was about a result that is gone).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from batchedit.errors import UsageError
from batchedit.fsutil import atomic_write_bytes
from batchedit.state.rundir import RunPaths


def load_prompt_notes(paths: RunPaths) -> dict[str, str]:
    try:
        data = json.loads(paths.prompt_notes.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise UsageError(f"{paths.prompt_notes}: unreadable ({exc})") from exc
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise UsageError(f"{paths.prompt_notes}: expected {{row id: text}}")
    return {str(key): value for key, value in data.items()}


def save_prompt_notes(paths: RunPaths, notes: Mapping[str, str]) -> None:
    text = json.dumps(dict(notes), indent=1, ensure_ascii=False) + "\n"
    atomic_write_bytes(paths.prompt_notes, text.encode())


def replace_notes(stored: Mapping[str, str], new: Mapping[str, str]) -> dict[str, str]:
    """`stored` with each row of `new` holding its new text instead of the old."""
    return {**stored, **{row_id: text.strip() for row_id, text in new.items()}}
