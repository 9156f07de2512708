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
from contextlib import ExitStack, closing, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from batchedit.errors import SourceError, UsageError
from batchedit.fsutil import atomic_write_bytes, atomic_writer
from batchedit.jsonlines import dumps_text
from batchedit.manifest.shard import Shard, parse_shard
from batchedit.records import OutputFile, ReportRecord
from batchedit.report.counts import ReportCounts
from batchedit.report.report_file import no_report_yet, read_report_lines
from batchedit.report.summary import read_last_run
from batchedit.state.invocation import load_invocation
from batchedit.state.lock import run_lock
from batchedit.state.rundir import RunPaths, refuse_a_file


def merge_reports(run_dirs: Sequence[Path], out_dir: Path) -> tuple[ReportCounts, list[str]]:
    """Write DIR/report.jsonl and DIR/summary.json; the counts and any warnings."""
    warnings = check_shards(run_dirs)
    out = RunPaths(out_dir)
    if any(out.root.resolve() == Path(d).resolve() for d in run_dirs):
        raise UsageError("--out must be a new directory, not one of the shards")
    refuse_a_file(out.root)
    counts = ReportCounts()
    with ExitStack() as stack:
        # Another run (or merge) writing into --out at once would mix two reports.
        lock = stack.enter_context(run_lock(out, claim=False))
        _refuse_another_runs_state(out)
        lock.claim()
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
                report.write(dumps_text(record.to_json()) + "\n")
        summary = _merged_summary(run_dirs, counts)
        atomic_write_bytes(out.summary, (json.dumps(summary, indent=2) + "\n").encode())
    return counts, warnings


def _refuse_another_runs_state(out: RunPaths) -> None:
    """Refuse an --out that holds a run's own state: the merge would replace
    its report.jsonl and summary.json, and leave a journal that no longer
    matches them. An earlier merge's output (its summary names its `shards`,
    its state folder holds only the lock) is merged into again."""
    with suppress(FileNotFoundError):
        found = sorted(p.name for p in out.state_dir.iterdir() if p != out.lock)
        if found:
            raise UsageError(
                f"{out.root} holds another run's state ({out.state_dir / found[0]}); "
                "report merge --out takes a new folder (or one an earlier merge wrote)"
            )
    if out.report.exists() and not _merged_summary_in(out):
        raise UsageError(
            f"{out.root} holds another run's report ({out.report}); "
            "report merge --out takes a new folder (or one an earlier merge wrote)"
        )


def _merged_summary_in(out: RunPaths) -> bool:
    """Whether DIR/summary.json is one a merge wrote (it names the shards)."""
    try:
        summary = json.loads(out.summary.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and isinstance(summary.get("shards"), list)


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


def _records(paths: RunPaths, out_root: Path) -> Generator[tuple[int, Path, ReportRecord]]:
    """A shard's records in row order, their output paths made relative to `out_root`."""
    if not paths.report.is_file():
        raise no_report_yet(paths, "no report.jsonl: run that shard first")
    previous = 0
    for line_number, record in read_report_lines(paths.report):
        if record.row <= previous:
            raise UsageError(f"{paths.report}:{line_number}: rows out of manifest order")
        previous = record.row
        outputs = tuple(_moved(output, paths.root, out_root) for output in record.outputs)
        yield record.row, paths.root, replace(record, outputs=outputs)


def _moved(output: OutputFile, root: Path, out_root: Path) -> OutputFile:
    """`output` (and its original) with paths relative to `out_root`."""
    original = output.original
    if original is not None:
        original = replace(original, path=_relative(root / original.path, out_root))
    return replace(output, path=_relative(root / output.path, out_root), original=original)


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def _merged_summary(run_dirs: Sequence[Path], counts: ReportCounts) -> dict[str, Any]:
    paid_submissions = bytes_downloaded = 0
    requests: Counter[str] = Counter()
    wall_time_s = 0.0
    spent: dict[str, float] = {}  # currency -> the shards' spend (with a price table)
    for run_dir in run_dirs:
        try:
            shard = read_last_run(RunPaths(run_dir))
        except SourceError:
            shard = None  # the counts come from the reports; the rest is best effort
        if shard is None:
            continue
        paid_submissions += shard.paid_submissions or 0
        bytes_downloaded += shard.bytes_downloaded or 0
        requests.update(shard.requests)
        wall_time_s = max(wall_time_s, float(shard.wall_time_s or 0.0))
        if shard.spend is not None:
            currency = shard.currency or ""
            spent[currency] = spent.get(currency, 0.0) + shard.spend
    return {
        "shards": [str(Path(d)) for d in run_dirs],
        **counts.to_json(),
        "paid_submissions": paid_submissions,
        "spend": _merged_spend(spent),
        "requests": dict(requests),
        "bytes_downloaded": bytes_downloaded,
        "wall_time_s": round(wall_time_s, 3),
    }


def _merged_spend(spent: dict[str, float]) -> dict[str, Any] | None:
    """The shards' spend summed, when they priced in one currency; else None."""
    if len(spent) != 1:
        return None
    ((currency, amount),) = spent.items()
    return {"amount": round(amount, 6), "currency": currency}
