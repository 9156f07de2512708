"""The floor of benchmark B5: what any client must read to find that a finished
run has nothing left to do, in plain Python. It reads the same manifest (the
csv module) and the same journal (json.loads a line at a time, the last entry
of each row kept), and stats each output the journal lists, comparing its
size and modification time with what the journal recorded; no validation, no
fingerprints, no report. Run as its own process, as the re-run is
(`python bench/rerun_floor.py MANIFEST RUN_DIR`); it prints how many rows
are done, so the bench can check it found them all."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

JOURNAL = Path(".batchedit") / "journal.jsonl"


def rows_done(manifest: Path, run_dir: Path) -> int:
    """How many of the manifest's rows have every output on disk as journaled."""
    last: dict[str, dict[str, object]] = {}
    with open(run_dir / JOURNAL, encoding="utf-8") as journal:
        for line in journal:
            entry = json.loads(line)
            last[entry["id"]] = entry
    done = 0
    with open(manifest, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            entry = last.get(row["id"])
            if entry is None or entry.get("status") != "succeeded":
                continue
            outputs = entry["outputs"]
            mtimes = entry.get("mtimes_ns") or []
            assert isinstance(outputs, list) and isinstance(mtimes, list)
            whole = True
            for output, mtime_ns in zip(outputs, mtimes, strict=False):
                try:
                    stat = os.stat(run_dir / output["path"])
                except OSError:
                    whole = False
                    break
                if stat.st_size != output["bytes"] or stat.st_mtime_ns != mtime_ns:
                    whole = False
                    break
            done += whole
    return done


if __name__ == "__main__":
    print(rows_done(Path(sys.argv[1]), Path(sys.argv[2])))
