"""The run directory a finished run of a bench manifest leaves, written directly.

For measuring a no-op re-run (B5) at sizes the first run of which would take
longer than a measurement can wait on a shared machine: it writes what a
succeeded run writes per row, the journal's `submitting`, `submitted` and
`finished` lines (fingerprint, output file with size, sha256, mtime and
layout, result URL valid for a day), the output file (the same small image
under every row's name) and what its survey's preflight leaves in the state
folder. The re-run that reads it is a real
`batchedit run`; only the first run is skipped. Used by `bench.py --only b5`.

    .venv/bin/python bench/finished_run.py MANIFEST RUN_DIR
"""

from __future__ import annotations

import hashlib
import io
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image

from batchedit.fsutil import safe_name
from batchedit.jsonlines import dumps_line
from batchedit.manifest.job import iter_rows, load_job
from batchedit.manifest.naming import output_layout
from batchedit.pipeline.plan.local_images import predecode_local_images
from batchedit.records import OutputFile, Row, Status
from batchedit.state.entries import Finished, Submitted, Submitting
from batchedit.state.fingerprint import FileDigests, request_fingerprint
from batchedit.state.rundir import RunPaths


def write_finished_run(manifest: Path, run_dir: Path) -> int:
    """Write `run_dir` as a finished run of `manifest` leaves it; the row count."""
    job = load_job(manifest)
    paths = RunPaths(run_dir)
    paths.outputs.mkdir(parents=True, exist_ok=True)
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    image = _image()
    sha256 = hashlib.sha256(image).hexdigest()
    now = datetime.now(UTC)
    at = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    expires = (now + timedelta(days=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    digests = FileDigests()
    rows = 0
    with open(paths.journal, "wb") as journal:
        for row in iter_rows(job):
            if not isinstance(row, Row):
                continue
            rows += 1
            fingerprint = request_fingerprint(row.request, digests)
            task_id = f"task-{rows:016x}"
            relative = f"outputs/{row.output_stem or safe_name(row.id)}.png"
            target = run_dir / relative
            target.write_bytes(image)
            mtime_ns = target.stat().st_mtime_ns
            output = OutputFile(relative, sha256, len(image), 512, 512, "png")
            entries = (
                Submitting(row.index, row.id, fingerprint, at),
                Submitted(row.index, row.id, task_id, fingerprint, at),
                Finished(
                    row.index,
                    row.id,
                    fingerprint,
                    Status.SUCCEEDED,
                    task_id,
                    None,
                    (output,),
                    at,
                    at,
                    0.5,
                    result_urls=(f"https://results.example.com/{task_id}/0.png",),
                    expires_at=expires,
                    output_mtimes_ns=(mtime_ns,),
                    layout=output_layout(job.output, row),
                ),
            )
            journal.write(b"".join(dumps_line(entry.to_json()) for entry in entries))
    # What the first run's survey leaves besides: its preflight verdicts, or the
    # note that the manifest names no local image (which a re-run then trusts).
    predecode_local_images(job, paths, digests)
    return rows


def _image() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (512, 512), "white").save(out, "PNG")
    return out.getvalue()


if __name__ == "__main__":
    print(write_finished_run(Path(sys.argv[1]), Path(sys.argv[2])), "rows written")
