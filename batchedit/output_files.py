"""The files a row's results left under `outputs/`, as the report and the
journal record them: one `OutputFile` per output asked for, and the
service's own file kept beside it (`OriginalFile`) as its attribute, never
an output of its own. Part of the shared records (records.py re-exports
them); their own module because every reader of a report line reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class OriginalFile:
    """The service's own file, kept untouched beside the output made from it:
    it carries a C2PA manifest (bound to its exact bytes) or `keep_original`
    asked for it. An attribute of its output, never an output of its own."""

    path: str
    sha256: str
    bytes: int
    c2pa: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "bytes": self.bytes, "c2pa": self.c2pa}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OriginalFile:
        return cls(
            path=str(data["path"]),
            sha256=str(data["sha256"]),
            bytes=int(data["bytes"]),
            c2pa=bool(data.get("c2pa", False)),
        )


@dataclass(frozen=True, slots=True)
class OutputFile:
    """A downloaded, verified result; `path` is relative to the run directory.
    `c2pa`: the file carries a C2PA manifest (the service's, or one we signed).
    `label`: the IPTC DigitalSourceType its XMP carries (short name, such as
    `compositeWithTrainedAlgorithmicMedia`), None when it carries none.
    `original`: the service's own file when it was kept beside this one."""

    path: str
    sha256: str
    bytes: int
    width: int
    height: int
    format: str
    c2pa: bool = False
    original: OriginalFile | None = None
    label: str | None = None

    def files(self) -> tuple[tuple[str, str, int], ...]:
        """(path, sha256, bytes) of each file of this output: its own, then its original's."""
        own = (self.path, self.sha256, self.bytes)
        kept = self.original
        return (own,) if kept is None else (own, (kept.path, kept.sha256, kept.bytes))

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "c2pa": self.c2pa,
            "original": None if self.original is None else self.original.to_json(),
            "label": self.label,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OutputFile:
        original = data.get("original")
        label = data.get("label")
        return cls(
            path=str(data["path"]),
            sha256=str(data["sha256"]),
            bytes=int(data["bytes"]),
            width=int(data["width"]),
            height=int(data["height"]),
            format=str(data["format"]),
            c2pa=bool(data.get("c2pa", False)),
            original=OriginalFile.from_json(original) if isinstance(original, Mapping) else None,
            label=str(label) if isinstance(label, str) else None,
        )


def outputs_from_json(items: Iterable[Mapping[str, Any]]) -> tuple[OutputFile, ...]:
    """A line's `outputs`, with the originals of lines written before they were
    an attribute folded into their outputs: such a line listed a kept original
    as the next output, named `STEM.original.EXT`, or `STEM.EXT` beside a
    converted `STEM.OTHER`, and never anything else right after an output of
    the same stem."""
    outputs: list[OutputFile] = []
    for item in items:
        found = OutputFile.from_json(item)
        last = outputs[-1] if outputs else None
        if last is not None and last.original is None and _original_of(last, found):
            kept = OriginalFile(found.path, found.sha256, found.bytes, found.c2pa)
            outputs[-1] = replace(last, original=kept)
        else:
            outputs.append(found)
    return tuple(outputs)


def _original_of(output: OutputFile, candidate: OutputFile) -> bool:
    stem = output.path.rsplit(".", 1)[0]
    other = candidate.path.rsplit(".", 1)[0]
    return other == f"{stem}.original" or (other == stem and candidate.path != output.path)
