"""The layout of a run directory; nothing is written anywhere else (invariant 9)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from batchedit.errors import UsageError
from batchedit.fsutil import RUN_OUTPUTS_DIR, RUN_STATE_DIR


@dataclass(frozen=True, slots=True)
class RunPaths:
    root: Path

    @property
    def state_dir(self) -> Path:
        """The one hidden folder for internal state: the journal, the lock."""
        return self.root / RUN_STATE_DIR

    @property
    def journal(self) -> Path:
        return self.state_dir / "journal.jsonl"

    @property
    def report_draft(self) -> Path:
        """report.jsonl as the survey drafted it, finished when the run ends."""
        return self.state_dir / "report.draft.jsonl"

    @property
    def lock(self) -> Path:
        return self.state_dir / "lock"

    @property
    def invocation(self) -> Path:
        """How the last run was started, for `batchedit retry`."""
        return self.state_dir / "invocation.json"

    @property
    def source_binding(self) -> Path:
        """The source this run directory is bound to (state/binding.py)."""
        return self.state_dir / "source.json"

    @property
    def simulator_store(self) -> Path:
        """`run --simulate`'s simulator keeps its tasks here (simulator/store.py)."""
        return self.state_dir / "simulator"

    @property
    def prompt_notes(self) -> Path:
        """Text `retry` added to rows' prompts (review notes), kept for later runs."""
        return self.state_dir / "prompt_notes.json"

    @property
    def decisions(self) -> Path:
        """Review decisions, one line per change (report/decisions.py)."""
        return self.root / "decisions.jsonl"

    @property
    def history(self) -> Path:
        """One line per run that ended (state/run_history.py), for `status --history`."""
        return self.root / "history.jsonl"

    @property
    def outputs(self) -> Path:
        return self.root / RUN_OUTPUTS_DIR

    @property
    def report(self) -> Path:
        return self.root / "report.jsonl"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"


def refuse_a_file(root: Path, option: str = "--out") -> None:
    """Refuse a run directory that is a file, or lies under one, before anything
    makes folders: `mkdir` would fail with "File exists" or "Not a directory",
    which reads as a disk or permissions problem (exit 4) rather than the
    usage mistake it is (exit 2)."""
    for place in (root, *root.parents):
        if place.exists():
            if not place.is_dir():
                raise UsageError(f"{place} is a file; {option} takes a folder")
            return
