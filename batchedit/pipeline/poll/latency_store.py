"""A warm start for latency-aware polling: what earlier runs learned about task
durations, kept so the next run's first wave polls at learned times.

Two places, both written when a run ends:

- the run directory's state (`latency.json`): a re-run or a resume of the
  same job starts from what this job learned;
- a small per-user cache, `$XDG_CACHE_HOME/batchedit/latency/` (else
  `~/.cache/...`), one file per API origin and model, so a new run
  directory (tonight's batch) starts from what last night's learned. It
  holds durations and nothing else (no ids, prompts or keys). It is on by
  default; `--no-latency-cache` or `BATCHEDIT_LATENCY_CACHE=off` turns it
  off, and `run --simulate` never uses it (its timings are not a service's).

Old knowledge decays: samples saved `age` ago keep a share 0.5 ** (age / 7
days) of their number (the most recent ones), so a service that got faster
or slower is not remembered as it was for long, and this run's own samples
push the old ones out of the ring as they come. Synchronous (file work):
the runner calls it in a thread. A cache that cannot be read or written is
skipped with a warning: it is an optimisation, never a reason to fail.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batchedit.fsutil import atomic_write_bytes
from batchedit.pipeline.poll.latency import MAX_SAMPLES, TaskKind

log = logging.getLogger(__name__)

RUN_FILE = "latency.json"
FORMAT_VERSION = 1
HALF_LIFE_S = 7 * 86400.0
CACHE_ENV = "BATCHEDIT_LATENCY_CACHE"
_OFF = frozenset({"0", "off", "no", "false"})

Samples = dict[TaskKind, list[float]]


def user_cache_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """The per-user cache folder, or None when the user turned it off."""
    env = os.environ if env is None else env
    if env.get(CACHE_ENV, "").strip().lower() in _OFF:
        return None
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "batchedit" / "latency"


def load_samples(
    run_state_dir: Path, origin: str, cache_dir: Path | None, *, now_s: float | None = None
) -> Samples:
    """Decayed samples per kind of task: the run's own, else the user cache's."""
    now_s = time.time() if now_s is None else now_s
    samples: Samples = {}
    if cache_dir is not None and cache_dir.is_dir():
        for path in sorted(cache_dir.glob("*.json")):
            document = _read(path)
            if document is not None and document.get("origin") == origin:
                samples.update(_decayed(document, now_s))
    run_document = _read(run_state_dir / RUN_FILE)
    if run_document is not None and run_document.get("origin") == origin:
        samples.update(_decayed(run_document, now_s))  # this job's own knowledge wins
    return samples


def save_samples(
    run_state_dir: Path,
    origin: str,
    cache_dir: Path | None,
    samples: Samples,
    *,
    now_s: float | None = None,
) -> None:
    """Write the samples to the run's state and, per model, to the user cache."""
    if not samples:
        return
    now_s = time.time() if now_s is None else now_s
    _write(run_state_dir / RUN_FILE, _document(origin, samples, now_s))
    if cache_dir is None:
        return
    by_model: dict[str, Samples] = {}
    for (model, size), durations in samples.items():
        by_model.setdefault(model, {})[(model, size)] = durations
    for model, kinds in by_model.items():
        _write(cache_dir / cache_file_name(origin, model), _document(origin, kinds, now_s))


def cache_file_name(origin: str, model: str) -> str:
    """One file per API origin and model; hashed, so no origin becomes a path."""
    digest = hashlib.sha256(f"{origin}\n{model}".encode()).hexdigest()[:24]
    return f"{digest}.json"


def _document(origin: str, samples: Samples, now_s: float) -> dict[str, Any]:
    return {
        "version": FORMAT_VERSION,
        "origin": origin,
        "saved_at": now_s,
        "kinds": [
            {"model": model, "size": size, "durations_s": [round(d, 4) for d in durations]}
            for (model, size), durations in sorted(samples.items())
            if durations
        ],
    }


def _decayed(document: Mapping[str, Any], now_s: float) -> Samples:
    saved_at = document.get("saved_at")
    if not isinstance(saved_at, int | float):
        return {}
    keep_share = 0.5 ** (max(0.0, now_s - float(saved_at)) / HALF_LIFE_S)
    samples: Samples = {}
    for kind in document.get("kinds", []):
        if not isinstance(kind, dict):
            continue
        model, size, durations = kind.get("model"), kind.get("size"), kind.get("durations_s")
        if not isinstance(model, str) or not isinstance(size, str):
            continue
        if not isinstance(durations, list):
            continue
        clean = [float(d) for d in durations if isinstance(d, int | float) and 0 <= d < 86400]
        keep = int(len(clean) * keep_share)
        if keep:
            samples[(model, size)] = clean[-keep:][-MAX_SAMPLES:]
    return samples


def _read(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("latency samples in %s are unreadable (%s); ignored", path, exc)
        return None
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        return None
    return document


def _write(path: Path, document: Mapping[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(document).encode())
    except OSError as exc:
        log.warning("could not save latency samples to %s (%s)", path, exc)
