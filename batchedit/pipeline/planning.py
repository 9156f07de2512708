"""Planning a run: each manifest row against the journal, before and during it.

`RowPlanner` turns a streamed row into what the run must do with it (see
`resume.py` for the rules). `survey` plans the whole manifest once before
anything is sent, so the run knows how many paid submissions it will make
(the cost guard), how many rows are invalid (`--strict`) and how much work
the progress bars should expect. Synchronous: it hashes local images and
stats output files, so the pipeline calls it from a thread.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from batchedit.catalogue import ModelSpec, current_catalogue, outputs_for
from batchedit.errors import InputError
from batchedit.manifest.decoding import local_paths, predecode
from batchedit.manifest.job import JobSettings, iter_rows
from batchedit.manifest.naming import OutputSpec, output_layout
from batchedit.manifest.problem_digest import ProblemDigest
from batchedit.pipeline.resume import PAID_ACTIONS, Action, RetryScope, RowPlan, plan_row
from batchedit.records import InvalidRow, Row
from batchedit.state.fingerprint import FileDigests, request_fingerprint
from batchedit.state.history import JournalIndex
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
        retry: RetryScope | None = None,
        output: OutputSpec | None = None,
    ) -> None:
        self.paths = paths
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


def survey(
    job: JobSettings,
    paths: RunPaths,
    digests: FileDigests,
    *,
    retry: RetryScope | None = None,
) -> Survey:
    rows = invalid = unreadable = 0
    problems = ProblemDigest()
    actions: Counter[Action] = Counter()
    paid: Counter[tuple[str, str | None]] = Counter()
    paid_images = multi_output = 0
    catalogue = current_catalogue()
    # Every distinct local image decoded once, in parallel, before anything is paid:
    # the rows below then find a verdict (a broken file makes its rows invalid).
    predecode(
        local_paths(iter_rows(job, decode=False)),
        paths.state_dir,
        digest_of=lambda path: _digest_or_none(digests, path),
    )
    with JournalIndex.build(paths.journal) as index:
        planner = RowPlanner(paths, index, digests, retry=retry, output=job.output)
        for row in iter_rows(job):
            rows += 1
            if isinstance(row, InvalidRow):
                invalid += 1
                problems.extend(row.problems)
                continue
            plan = planner.plan(row)
            if isinstance(plan, Unreadable):
                unreadable += 1
            else:
                actions[plan.action] += 1
                if plan.action in PAID_ACTIONS:
                    images = paid_images_of(catalogue.body_spec(row.request.model), row)
                    paid_images += images
                    multi_output += images > 1
                    paid[(row.request.model, row.request.image_size)] += images
    return Survey(
        rows,
        invalid,
        problems,
        actions,
        unreadable,
        paid_images=paid_images,
        multi_output_rows=multi_output,
        paid_by_kind=paid,
    )


def _digest_or_none(digests: FileDigests, path: Path) -> str | None:
    try:
        return digests.digest_now(path).sha256
    except InputError:
        return None


def paid_images_of(spec: ModelSpec, row: Row) -> int:
    """Images one submit of `row` is billed for: its output count where the model
    bills per output (at most, for an upper bound), else one task's worth."""
    count = outputs_for(spec, row.request.params())
    return count.planned if spec.outputs.bills_per_output else 1
