"""One source per run directory (DESIGN invariant 12), checked before a run plans.

A run directory's report holds the rows of the source that made it. A run of
another job file or manifest into it would rewrite that report with its own
rows (10 rows becoming 1) and mix two sources' outputs: so it is refused,
with nothing sent and nothing written, naming how many rows the directory
holds, unless `--new-source` (`batchedit.run(..., new_source=True)`) says
to go ahead and bind the directory to the new source. What "the same source"
means (the same file, edited or moved) is state/binding.py's.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from batchedit.state.binding import SourceBinding, bind_source, read_binding
from batchedit.state.history import JournalIndex
from batchedit.state.rundir import RunPaths


def source_refusal(paths: RunPaths, source: Path, *, new_source: bool) -> str | None:
    """Why `source` must not run into the run directory, or None."""
    bound = read_binding(paths)
    if bound is None or new_source or bound.names(source):
        return None
    return (
        f"{paths.root} holds {rows_held(paths)} row(s) of {bound.path}; {source} is another "
        "source, and running it there would replace that report: give another --out, or "
        f"--new-source to run it into {shlex.quote(str(paths.root))} anyway"
    )


def rows_held(paths: RunPaths) -> int:
    """The rows the directory's report holds (the journal's, without a report)."""
    try:
        with open(paths.report, "rb") as report:
            return sum(1 for line in report if line.strip())
    except OSError:
        with JournalIndex.build(paths.journal) as index:
            return len(index)


def bind_run_dir(paths: RunPaths, source: Path) -> None:
    """Bind the directory to `source` for the run about to start: the first
    run's, a `--new-source` run's, or the same file moved (its path kept anew)."""
    if read_binding(paths) != SourceBinding.of(source):
        bind_source(paths, source)
