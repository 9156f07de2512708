"""A result prepared from bytes in a test, as the writer prepares a download:
written to a file, inspected under the picture policy, decoded within a
pixel budget and prepared into files beside it."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path

from batchedit.api.download import Fetched
from batchedit.manifest.naming import OutputSpec
from batchedit.pictures import MAX_RESULT_PIXELS, PixelBudget
from batchedit.pipeline.write.checks import ExpectedShape
from batchedit.pipeline.write.metadata import Provenance
from batchedit.pipeline.write.prepare import Prepared, decode_weight, inspect_result, prepare_file

PROVENANCE = Provenance("google/nano-banana-pro-edit", "task-1", "run-1")
_NAMES = itertools.count()


@dataclass(frozen=True, slots=True)
class Outcome:
    prepared: Prepared
    data: bytes  # the output file's bytes
    as_it_came: bool  # the output is the downloaded file itself


def prepare_bytes(
    folder: Path,
    data: bytes,
    spec: OutputSpec,
    expected: ExpectedShape | None = None,
    *,
    provenance: Provenance = PROVENANCE,
    budget: PixelBudget | None = None,
    max_pixels: int = MAX_RESULT_PIXELS,
) -> Outcome:
    source = folder / f"download-{next(_NAMES)}.part"
    source.write_bytes(data)
    fetched = Fetched(source, hashlib.sha256(data).hexdigest(), len(data))
    layout = inspect_result(source, max_pixels=max_pixels)
    with (budget or PixelBudget()).hold(decode_weight(layout, spec)):
        prepared = prepare_file(
            fetched,
            layout,
            spec,
            provenance,
            expected,
            aside=lambda: folder / f"aside-{next(_NAMES)}.part",
        )
    return Outcome(prepared, prepared.output.read_bytes(), prepared.output == source)
