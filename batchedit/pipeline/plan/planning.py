"""Planning a run: each manifest row against the journal, before and during it.

`RowPlanner` turns a streamed row into what the run must do with it (see
`resume.py` for the rules). `survey` plans the whole manifest once before
anything is sent, so the run knows how many paid submissions it will make
(the cost guard), how many rows are invalid (`--strict`) and how much work
the progress bars should expect. `survey_run` does it for a run: it also
drafts the report (`report/draft.py`) and keeps each row's decision (`RowMemo`,
memo.py: a byte, and a fingerprint for a row with work) and the journal
index, so the producer carries out the decisions without planning a row again
and the report is finished without reading the manifest again. Synchronous:
it hashes local images and stats output files, so the pipeline calls it from
a thread.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from batchedit.catalogue import ModelSpec, billed_units, current_catalogue
from batchedit.errors import InputError
from batchedit.manifest.job import JobSettings, iter_rows
from batchedit.manifest.naming import OutputSpec, output_layout
from batchedit.manifest.prices import PriceTable
from batchedit.manifest.problem_digest import ProblemDigest
from batchedit.origins import Origin
from batchedit.pipeline.plan.local_images import predecode_local_images
from batchedit.pipeline.plan.memo import (
    INVALID,
    UNREADABLE,
    MemoWriter,
    RowMemo,
    settled_code,
    work_code,
)
from batchedit.pipeline.plan.resume import PAID_ACTIONS, Action, RetryScope, RowPlan, plan_row
from batchedit.records import InvalidRow, Row, Status
from batchedit.report.draft import ReportDraft
from batchedit.report.report_file import invalid_record, outcome_record, request_record
from batchedit.report.spend import with_cost
from batchedit.state.fingerprint import FileDigests, request_fingerprint
from batchedit.state.history import JournalIndex
from batchedit.state.prompt_notes import load_prompt_notes, replace_notes
from batchedit.state.rundir import RunPaths


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A valid row whose local image cannot be read any more (moved since validation)."""

    row: Row
    error: InputError


class RowPlanner:
    """Plans rows one at a time against one journal index."""

    def __init__(
        self,
        paths: RunPaths,
        index: JournalIndex,
        digests: FileDigests,
        *,
        origin: Origin,
        retry: RetryScope | None = None,
        output: OutputSpec | None = None,
    ) -> None:
        self.paths = paths
        self.run_root = Path(os.path.abspath(paths.root))  # for inputs found inside it
        self.origin = origin  # the API origin the run asks: other origins' results settle nothing
        self.output = output or OutputSpec()
        self.index = index
        self.digests = digests
        self.retry = retry
        self.now_epoch_s = time.time()

    def plan(self, row: Row) -> RowPlan | Unreadable:
        try:
            fingerprint = request_fingerprint(row.request, self.digests)
        except InputError as exc:
            return Unreadable(row, exc)
        return plan_row(
            row,
            fingerprint,
            self.index.get(row.id),
            origin=self.origin,
            run_dir=self.paths.root,
            now_epoch_s=self.now_epoch_s,
            retry=self.retry,
            layout=self.layout(row),
        )

    def layout(self, row: Row) -> str:
        return output_layout(self.output, row)


@dataclass(frozen=True, slots=True)
class Survey:
    """What a run will face, counted before anything is sent."""

    rows: int
    invalid: int
    problems: ProblemDigest  # grouped by message, bounded
    actions: Counter[Action]
    unreadable: int
    #: Images the paid submits will make (a task may yield several: `n`), and
    #: those of them billed one by one, as the catalogue says of each model.
    paid_images: int = 0
    multi_output_rows: int = 0  # rows to submit whose task yields more than one image
    #: (model, imageSize) -> paid units (tasks, or images where billed per image),
    #: for the plan's cost.
    paid_by_kind: Counter[tuple[str, str | None]] = field(default_factory=Counter)
    memo: RowMemo = RowMemo()  # each row's decision, compact, for the producer
    #: The API origin planned against, and the rows holding another origin's
    #: outcome: those paid for again (`REPLACE`), of them the simulator's, and
    #: those a simulated run leaves as a real origin made them.
    origin: Origin | None = None
    replaced_simulated: int = 0
    kept_foreign: int = 0
    #: Valid rows reading a local image from inside the run directory (outside
    #: its outputs/ and state, which validation refuses), and the first such image.
    inputs_in_run_dir: int = 0
    input_in_run_dir: Path | None = None

    @property
    def replaced(self) -> int:
        """Rows paid for again because their outcome is another origin's."""
        return self.actions[Action.REPLACE]

    @property
    def paid_submissions(self) -> int:
        """Paid submits the run will make if nothing fails on the way."""
        return sum(self.actions[action] for action in PAID_ACTIONS)

    @property
    def resubmits(self) -> int:
        """Of those, rows paid for again because their files are gone and their
        results expired."""
        return self.actions[Action.RESUBMIT]

    @property
    def work(self) -> int:
        """Rows this run will act on (submit, poll, download again, or fail to
        read): the progress bar's total."""
        return (
            self.paid_submissions
            + self.actions[Action.POLL]
            + self.actions[Action.FETCH]
            + self.unreadable
        )

    @property
    def settled(self) -> int:
        """Valid rows an earlier run settled: this run leaves them untouched."""
        return self.actions[Action.KEEP]

    @property
    def paid_units(self) -> int:
        """What the cost guard counts: paid images where models bill per output."""
        return max(self.paid_submissions, self.paid_images)


@dataclass(frozen=True, slots=True)
class SurveyedRun:
    """A survey and what the run goes on with, so that it streams the manifest
    and reads the journal once: the journal index (caught up at the end for
    the report), the report drafted row by row (`report/draft.py`), and the
    run's one hash cache of local images (the producer's fingerprints and the
    uploader's digests find the survey's, so each image is read once a run)."""

    survey: Survey
    index: JournalIndex
    draft: Path
    digests: FileDigests

    def discard(self) -> None:
        """For a run that does not start: the index closed, the draft removed."""
        self.index.close()
        self.draft.unlink(missing_ok=True)


def as_the_run_dir_asks(
    job: JobSettings, paths: RunPaths, added: Mapping[str, str] | None = None
) -> tuple[JobSettings, dict[str, str]]:
    """`job` as its run directory makes its requests: with what earlier retries
    added to rows' prompts (review notes), and `added`, this retry's. The one
    reading of the notes, shared by `plan` and the run, so that they see the
    same requests; returns the notes too, for the run to keep."""
    notes = replace_notes(load_prompt_notes(paths), added or {})
    return replace(job, prompt_suffixes={**job.prompt_suffixes, **notes}), notes


def survey_run(
    job: JobSettings,
    paths: RunPaths,
    digests: FileDigests,
    *,
    origin: Origin,
    retry: RetryScope | None = None,
) -> SurveyedRun:
    """Survey the run's rows against its journal, drafting the report on the way;
    the caller closes the index (and removes the draft if the run does not start)."""
    index = JournalIndex.build(paths.journal)
    try:
        with ReportDraft(paths.report_draft) as draft:
            planned = survey(
                job, paths, digests, origin=origin, retry=retry, index=index, draft=draft
            )
    except BaseException:
        index.close()
        paths.report_draft.unlink(missing_ok=True)
        raise
    return SurveyedRun(planned, index, paths.report_draft, digests)


def survey(
    job: JobSettings,
    paths: RunPaths,
    digests: FileDigests,
    *,
    origin: Origin,
    retry: RetryScope | None = None,
    index: JournalIndex | None = None,
    draft: ReportDraft | None = None,
) -> Survey:
    """Plan every row against the journal (`index`, else built and closed here),
    drafting each row's report line into `draft` when one is given."""
    if index is None:
        with JournalIndex.build(paths.journal) as own:
            return survey(job, paths, digests, origin=origin, retry=retry, index=own, draft=draft)
    predecode_local_images(job, paths, digests)
    tally = _Tally(prices=job.prices)
    memo = MemoWriter()
    planner = RowPlanner(paths, index, digests, origin=origin, retry=retry, output=job.output)
    for row in iter_rows(job):
        memo.add(*tally.add(row, planner, draft))
    return Survey(
        len(memo),
        tally.invalid,
        tally.problems,
        tally.actions,
        tally.unreadable,
        paid_images=tally.paid_images,
        multi_output_rows=tally.multi_output,
        paid_by_kind=tally.paid_by_kind,
        memo=memo.memo(),
        origin=origin,
        replaced_simulated=tally.replaced_simulated,
        kept_foreign=tally.kept_foreign,
        inputs_in_run_dir=tally.inputs_in_run_dir,
        input_in_run_dir=tally.input_in_run_dir,
    )


@dataclass(slots=True)
class _Tally:
    """The survey's counts so far."""

    invalid: int = 0
    unreadable: int = 0
    paid_images: int = 0
    multi_output: int = 0
    replaced_simulated: int = 0
    kept_foreign: int = 0
    inputs_in_run_dir: int = 0
    input_in_run_dir: Path | None = None
    problems: ProblemDigest = field(default_factory=ProblemDigest)
    actions: Counter[Action] = field(default_factory=Counter)
    paid_by_kind: Counter[tuple[str, str | None]] = field(default_factory=Counter)
    prices: PriceTable | None = None  # for the drafted lines' `cost`

    def add(
        self, row: Row | InvalidRow, planner: RowPlanner, draft: ReportDraft | None
    ) -> tuple[int, str | None]:
        """Plan and count one row, draft its report line; its memo code and,
        for a row with an action, its fingerprint (`memo.py`)."""
        if isinstance(row, InvalidRow):
            self.invalid += 1
            self.problems.extend(row.problems)
            if draft is not None:
                draft.settled(with_cost(invalid_record(row), self.prices))
            return INVALID, None
        self._note_inputs_inside(row, planner.run_root)
        plan = planner.plan(row)
        if isinstance(plan, Unreadable):
            self.unreadable += 1
            if draft is not None:
                draft.to_finish(request_record(row, Status.PENDING), None)
            return UNREADABLE, None
        self.actions[plan.action] += 1
        if plan.foreign is not None:
            self.replaced_simulated += plan.action is Action.REPLACE and plan.foreign.simulated
            self.kept_foreign += plan.action is Action.KEEP
        if plan.action is Action.KEEP:
            record = outcome_record(
                request_record(row, Status.PENDING),
                plan.fingerprint,
                plan.history,
                planner.index.attempts(row.id),
            )
            if draft is not None:
                draft.settled(with_cost(record, self.prices))
            return settled_code(record.status), None
        if plan.action in PAID_ACTIONS:
            spec = current_catalogue().body_spec(row.request.model)
            images = paid_images_of(spec, row)
            self.paid_images += images
            self.multi_output += images > 1
            self.paid_by_kind[(row.request.model, row.request.image_size)] += images
        if draft is not None:
            draft.to_finish(request_record(row, Status.PENDING), plan.fingerprint)
        return work_code(plan.action), plan.fingerprint

    def _note_inputs_inside(self, row: Row, run_dir: Path) -> None:
        """Count a row reading its input from inside the run directory: a warning."""
        inside = _inside(run_dir, row)
        if inside is not None:
            self.inputs_in_run_dir += 1
            self.input_in_run_dir = self.input_in_run_dir or inside


def _inside(root: Path, row: Row) -> Path | None:
    """A local input of `row` inside the absolute folder `root`, or None."""
    for image in row.request.images:
        if image.path is not None and Path(os.path.abspath(image.path)).is_relative_to(root):
            return image.path
    return None


def paid_images_of(spec: ModelSpec, row: Row) -> int:
    """Images one submit of `row` is billed for: its output count where the model
    bills per output (at most, for an upper bound), else one task's worth."""
    return billed_units(spec, row.request.params())
