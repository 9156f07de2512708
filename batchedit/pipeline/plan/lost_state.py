"""State that is lost is never guessed (invariant 12).

The journal is what tells a re-run which rows were paid for, which tasks are
still running and which outputs are vouched for. A run directory whose
report.jsonl records outcomes, or whose `outputs/` holds files, while its
journal is missing, empty or unreadable (deleted with the state folder while
tidying, emptied, overwritten) has lost that: planned as it stands, every row
would be paid for again and its outputs overwritten. So `run` and `retry`
refuse it (exit 2, nothing sent, no file changed), saying the way out:
`run --rebuild-state`, which rebuilds the journal from report.jsonl
(`rebuild.py`) and says what it could not recover.

A journal that is readable is never rebuilt, even when asked: a torn last
line, or lines of a newer batchedit, are dealt with row by row as always.
Synchronous: the launch runs it in a thread.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from batchedit.jsonlines import loads
from batchedit.pipeline.plan.rebuild import rebuild_journal
from batchedit.pipeline.stop import RunRefused
from batchedit.records import Status
from batchedit.state.journal import JournalCondition, journal_condition
from batchedit.state.rundir import RunPaths

#: Statuses a report line can hold without the journal having known the row.
_UNJOURNALED = frozenset({Status.PENDING.value, Status.INVALID.value})


class StateLost(RunRefused):
    """The run directory holds results its journal no longer vouches for."""


@dataclass(frozen=True, slots=True)
class LostState:
    condition: JournalCondition  # missing, empty or unreadable
    evidence: str  # what shows earlier runs made something


def lost_state(paths: RunPaths) -> LostState | None:
    """How the journal is lost, or None: it is readable, or nothing shows that
    an earlier run journaled anything (a first run, a run that sent nothing).

    Files in outputs/ count only beside a sign that a run was here (its
    summary.json, or what it leaves in the state folder): a folder the user
    filled before the first run holds no lost state."""
    condition = journal_condition(paths.journal)
    if condition is JournalCondition.READABLE:
        return None
    if _report_holds_outcomes(paths.report):
        evidence = "report.jsonl holds the outcomes of earlier runs"
    elif _holds_a_file(paths.outputs) and _a_run_was_here(paths):
        evidence = "outputs/ holds the results of earlier runs"
    else:
        return None
    return LostState(condition, evidence)


def _a_run_was_here(paths: RunPaths) -> bool:
    return any(path.exists() for path in (paths.summary, paths.invocation, paths.source_binding))


def recover_state(
    paths: RunPaths,
    source: Path,
    *,
    claim: Callable[[], None],
    tell: Callable[[str], None],
    rebuild: bool,
    retrying: bool,
    new_source: bool = False,
) -> None:
    """Refuse a run directory whose journal is lost (StateLost), or with
    `rebuild` write the journal again from report.jsonl and `tell` what was
    and was not recovered. `claim` (the lock's state folder and pid file) is
    called once the run may go on: a refused run changes no file.

    The source binding went with a deleted state folder, so the rebuild checks
    the source itself: the report is rebuilt only for the source summary.json
    says made it (the binding's rule, by path), unless `new_source`."""
    if not rebuild:
        refuse_lost_state(paths, source, retrying=retrying)
        claim()
        return
    if lost_state(paths) is None:
        claim()
        tell(f"--rebuild-state: the journal {paths.journal} is readable; nothing rebuilt")
        return
    made_by = _source_in_summary(paths)
    if made_by is not None and not new_source and made_by != source.resolve():
        raise StateLost(
            f"{paths.root}: its report was made by {made_by}, and {source} is another "
            f"source; rebuild it with its own: {_rebuild_command(made_by, paths.root)}, or "
            "add --new-source to rebuild it and run this source into it anyway"
        )
    claim()
    for line in rebuild_journal(paths).words():
        tell(line)


def refuse_lost_state(paths: RunPaths, source: Path, *, retrying: bool = False) -> None:
    """Raise StateLost, with the way out, when the journal is lost; for the
    run, `retry` and `plan`, which would otherwise plan every row as never sent."""
    lost = lost_state(paths)
    if lost is not None:
        raise StateLost(_refusal(paths, lost, source, retrying=retrying))


def _refusal(paths: RunPaths, lost: LostState, source: Path, *, retrying: bool) -> str:
    rebuild = _rebuild_command(_source_in_summary(paths) or source, paths.root)
    then = ", then retry again" if retrying else ""
    return (
        f"{paths.root}: {lost.evidence}, but its journal {paths.journal} is "
        f"{lost.condition.value}; batchedit will not guess what was paid for (planned as "
        "it stands, every row would be paid for again and its outputs overwritten). "
        "Rebuild the journal from report.jsonl, each output verified by its sha256 and "
        f"nothing paid for what verifies: {rebuild}{then}"
    )


def state_folder_gone(run_dir: Path) -> str | None:
    """For `retry`, which needs the state folder to know how the run was started:
    the way out when it is gone and the directory holds results, else None."""
    paths = RunPaths(run_dir)
    if paths.invocation.exists():
        return None
    lost = lost_state(paths)
    if lost is None:
        return None
    source = _source_in_summary(paths)
    named = "" if source is not None else " (SOURCE: the job file or manifest that made it)"
    command = _rebuild_command(source or Path("SOURCE"), run_dir)
    return (
        f"{run_dir}: {lost.evidence}, but its state folder {paths.state_dir} is gone (the "
        "journal, and how the run was started, which retry needs); rebuild it from "
        f"report.jsonl, each output verified by its sha256: {command}{named}, then retry again"
    )


def _rebuild_command(source: Path, root: Path) -> str:
    return (
        f"batchedit run {shlex.quote(str(source))} --out {shlex.quote(str(root))} --rebuild-state"
    )


def _source_in_summary(paths: RunPaths) -> Path | None:
    """The source summary.json says the last run read, if it says one."""
    try:
        source = json.loads(paths.summary.read_text(encoding="utf-8")).get("source")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(source) if isinstance(source, str) and source else None


def _report_holds_outcomes(path: Path) -> bool:
    """Whether report.jsonl shows a row the journal knew: any status but pending
    and invalid, a task id, a paid attempt or an output. A line that cannot be
    read counts too: nobody can tell it held nothing."""
    try:
        with open(path, "rb") as lines:
            for line in lines:
                if not line.strip():
                    continue
                try:
                    data = loads(line)
                except ValueError:
                    return True
                if not isinstance(data, dict) or data.get("status") not in _UNJOURNALED:
                    return True
                if data.get("task_id") or data.get("attempts") or data.get("outputs"):
                    return True
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return False


def _holds_a_file(folder: Path) -> bool:
    """Whether `folder` holds any file, at any depth; stops at the first."""
    for _, _, files in os.walk(folder):
        if files:
            return True
    return False
