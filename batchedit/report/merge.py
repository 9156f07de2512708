"""`batchedit report merge RUN_DIR... --out DIR`: the shards' reports as one.

Each shard's report.jsonl is already in manifest row order, so the merge is
a streaming k-way merge on `row` (constant memory however many rows), and a
row number seen twice means two run directories covered the same rows: that
is refused rather than silently doubled. Output paths are rewritten relative
to DIR, so the merged report still points at each shard's files. summary.json
adds up the shards' counts, requests and bytes; wall time is the longest
shard's, since shards run side by side.

The shards are checked against what each run recorded (`--shard K/N` in its
invocation): the same N everywhere, no K twice, and a warning for each
missing K, whose rows the merged report cannot hold.
"""

from __future__ import annotations

import heapq
import json
import os
from collections import Counter
from collections.abc import Generator, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchedit.errors import UsageError
from batchedit.fsutil import atomic_write_bytes, atomic_writer
from batchedit.manifest.shard import Shard, parse_shard
from batchedit.report.report_file import read_report_lines
from batchedit.state.invocation import load_invocation
from batchedit.state.rundir import RunPaths

_SUMMED = ("paid_submissions", "bytes_downloaded")


@dataclass(slots=True)
class MergeCounts:
    rows: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, record: dict[str, Any]) -> None:
        self.rows += 1
        status = str(record.get("status"))
        self.statuses[status] += 1
        error = record.get("error")
        if isinstance(error, dict) and status != "succeeded":
            category = str(error.get("category"))
            self.categories[category] += 1
            self.examples.setdefault(category, f"{record.get('id')}: {error.get('message')}")


def merge_reports(run_dirs: Sequence[Path], out_dir: Path) -> tuple[MergeCounts, list[str]]:
    """Write DIR/report.jsonl and DIR/summary.json; the counts and any warnings."""
    warnings = check_shards(run_dirs)
    out = RunPaths(out_dir)
    if any(out.root.resolve() == Path(d).resolve() for d in run_dirs):
        raise UsageError("--out must be a new directory, not one of the shards")
    out.root.mkdir(parents=True, exist_ok=True)
    counts = MergeCounts()
    with ExitStack() as stack:
        streams = [
            stack.enter_context(closing(_records(RunPaths(run_dir), out.root)))
            for run_dir in run_dirs
        ]
        with atomic_writer(out.report, "w") as report:
            previous: tuple[int, Path] | None = None
            for row, origin, record in heapq.merge(*streams, key=lambda item: item[0]):
                if previous is not None and previous[0] == row:
                    raise UsageError(
                        f"row {row} is in both {previous[1]} and {origin}: "
                        "these run directories are not distinct shards of one manifest"
                    )
                previous = (row, origin)
                counts.add(record)
                report.write(json.dumps(record, ensure_ascii=False) + "\n")
    summary = _merged_summary(run_dirs, counts)
    atomic_write_bytes(out.summary, (json.dumps(summary, indent=2) + "\n").encode())
    return counts, warnings


def check_shards(run_dirs: Sequence[Path]) -> list[str]:
    """Refuse shards of different N or a K given twice; warn about missing Ks."""
    shards: dict[int, Path] = {}
    count: int | None = None
    for run_dir in run_dirs:
        shard = _recorded_shard(run_dir)
        if shard is None:
            if len(run_dirs) > 1:
                return [f"{run_dir} was not run with --shard; rows are checked for overlap only"]
            return []
        if count is not None and shard.count != count:
            raise UsageError(f"{run_dir} is shard {shard}, but the others are of {count} shards")
        count = shard.count
        if shard.index in shards:
            raise UsageError(f"{run_dir} and {shards[shard.index]} are both shard {shard}")
        shards[shard.index] = run_dir
    missing = [k for k in range(count or 0) if k not in shards]
    return [f"shard {k}/{count} is missing: its rows are not in the merged report" for k in missing]


def _recorded_shard(run_dir: Path) -> Shard | None:
    try:
        value = load_invocation(run_dir).overrides.get("shard")
    except UsageError:
        return None  # not started by `batchedit run`: nothing recorded to check
    return parse_shard(value, environ={}) if isinstance(value, str) else None


def _records(paths: RunPaths, out_root: Path) -> Generator[tuple[int, Path, dict[str, Any]]]:
    if not paths.report.is_file():
        raise UsageError(f"{paths.root} has no report.jsonl: run that shard first")
    previous = 0
    for line_number, record in read_report_lines(paths.report):
        try:
            row = int(record["row"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{paths.report}:{line_number}: not a report line ({exc})") from None
        if row <= previous:
            raise UsageError(f"{paths.report}:{line_number}: rows out of manifest order")
        previous = row
        for output in record.get("outputs") or ():
            if isinstance(output, dict) and isinstance(output.get("path"), str):
                output["path"] = _relative(paths.root / output["path"], out_root)
        yield row, paths.root, record


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def _merged_summary(run_dirs: Sequence[Path], counts: MergeCounts) -> dict[str, Any]:
    summed: Counter[str] = Counter()
    requests: Counter[str] = Counter()
    wall_time_s = 0.0
    for run_dir in run_dirs:
        try:
            shard = json.loads(RunPaths(run_dir).summary.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            continue  # the counts come from the reports; the rest is best effort
        for name in _SUMMED:
            summed[name] += int(shard.get(name) or 0)
        requests.update({k: int(v) for k, v in (shard.get("requests") or {}).items()})
        wall_time_s = max(wall_time_s, float(shard.get("wall_time_s") or 0.0))
    return {
        "shards": [str(Path(d)) for d in run_dirs],
        "rows": counts.rows,
        "statuses": dict(sorted(counts.statuses.items())),
        "error_categories": dict(sorted(counts.categories.items())),
        "error_examples": dict(sorted(counts.examples.items())),
        "paid_submissions": summed["paid_submissions"],
        "requests": dict(requests),
        "bytes_downloaded": summed["bytes_downloaded"],
        "wall_time_s": round(wall_time_s, 3),
    }
