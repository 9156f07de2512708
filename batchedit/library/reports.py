"""`batchedit.load_report`: a run directory's report.jsonl as typed records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from batchedit.errors import UsageError
from batchedit.library.settings import PathLike
from batchedit.records import ReportRecord
from batchedit.report.report_file import read_report
from batchedit.state.rundir import RunPaths


def load_report(run_dir: PathLike) -> Iterator[ReportRecord]:
    """Each line of RUN_DIR/report.jsonl, in manifest order, streamed (a
    million-row report costs one record of memory at a time); a line that is
    not a report record raises SourceError naming FILE:LINE."""
    path = RunPaths(Path(run_dir)).report
    if not path.is_file():
        raise UsageError(f"{run_dir} has no report.jsonl; name a run directory (the out of a run)")
    return read_report(path)
