"""`batchedit plan`: what a run would do, and what it would cost, before it does it.

Offline: the manifest is validated and each row planned against the run
directory's journal (`planning.survey`, the same decisions a run makes), so
the counts are the run's own: rows to submit (paid), to poll (a known task),
to download again (a result still held by the service), settled (nothing to
do) and invalid. A row whose stored results expired counts as a submit, since
getting it back means paying again; so does a row holding another API
origin's results (the simulator's, for a real run: origins.py), and the plan
says so in a line of its own.

The cost comes only from the user's price table (`prices:` or `--prices`),
never from a guess; rows whose model and size it does not price are counted
and named, and the cost is then a lower bound. `max_cost` is the guard the
table makes possible, as `max_tasks` is the guard in tasks; `max_spend`,
enforced while the run pays (pipeline/submit/gate.py), needs the table and a price
for every row the run would pay for, or the run is refused here.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from batchedit.manifest.job import JobSettings
from batchedit.manifest.prices import PriceTable
from batchedit.manifest.problem_digest import ProblemDigest
from batchedit.origins import Origin
from batchedit.pipeline.plan.guard_words import COMMAND_LINE, GuardWords
from batchedit.pipeline.plan.lost_state import refuse_lost_state
from batchedit.pipeline.plan.planning import Survey, as_the_run_dir_asks, survey
from batchedit.pipeline.plan.resume import Action
from batchedit.report.spend import as_amount, as_decimal
from batchedit.state.fingerprint import FileDigests
from batchedit.state.rundir import RunPaths, refuse_a_file


@dataclass(frozen=True, slots=True)
class Cost:
    """The estimated cost of a run's paid submissions, from the user's table."""

    amount: float  # of the priced submissions
    currency: str
    unpriced: Counter[tuple[str, str | None]]  # (model, size) -> submissions with no price

    @property
    def complete(self) -> bool:
        return not self.unpriced

    def text(self, table: PriceTable) -> str:
        amount = table.amount(self.amount)
        if self.complete:
            return f"estimated cost {amount}"
        missing = ", ".join(
            f"{model} {size or 'default size'} ({n})" for (model, size), n in self.unpriced.items()
        )
        return f"estimated cost at least {amount}; no price for {missing}"


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What a run of this job into its run directory would do now."""

    source: str
    run_dir: str | None
    rows: int
    submit: int  # every paid submission, resubmits included
    resubmit: int  # of those, rows whose files are gone and whose results expired
    replace: int  # of those, rows holding another API origin's results
    replaced_simulated: int  # of those, the simulator's
    kept_foreign: int  # rows a simulated run leaves as a real origin made them
    origin: Origin | None  # the API origin planned against
    inputs_in_run_dir: int  # rows reading a local input from inside the run directory
    input_in_run_dir: Path | None  # the first such input
    paid_images: int  # images the paid submits make and pay for (n > 1 on some models)
    multi_output_rows: int  # rows to submit whose task yields more than one image
    poll: int
    download: int
    settled: int
    invalid: int
    unreadable: int  # valid rows whose local image cannot be read now: they would fail
    cost: Cost | None  # None: no price table given
    prices: PriceTable | None
    problems: ProblemDigest

    @property
    def paid_submissions(self) -> int:
        return self.submit

    def line(self) -> str:
        """The plan in one line, as every run prints it at its start."""
        parts = [
            f"{self.submit} to submit",
            f"{self.poll} to poll",
            f"{self.download} to download again",
            f"{self.settled} settled",
            f"{self.invalid} invalid",
        ]
        if self.unreadable:
            parts.append(f"{self.unreadable} unreadable")
        money = ""
        if self.cost is not None and self.prices is not None:
            money = f"; {self.cost.text(self.prices)}"
        return f"plan: {self.rows} rows: " + ", ".join(parts) + money

    def notes(self) -> list[str]:
        """What the counts alone do not say: why rows holding another origin's results
        are paid for again or left alone, and inputs read from inside the run directory."""
        notes = []
        simulated_run = self.origin is not None and self.origin.simulated
        if self.replace:
            if self.replaced_simulated == self.replace:
                whose = "the simulator"
            elif self.replaced_simulated:
                whose = f"another API origin ({self.replaced_simulated} from the simulator)"
            else:
                whose = "another API origin"
            if simulated_run:
                payer = "this simulated run makes them again"
            elif whose == "the simulator":
                payer = "a real run pays for them"
            else:
                where = "" if self.origin is None else f" against {self.origin.key}"
                payer = f"this run{where} pays for them"
            notes.append(f"{self.replace} row(s) hold results from {whose}; {payer}")
        if self.kept_foreign:
            notes.append(
                f"{self.kept_foreign} row(s) hold results from a real API origin; a simulated "
                "run leaves them as they are"
            )
        if self.inputs_in_run_dir:
            notes.append(
                f"warning: {self.inputs_in_run_dir} row(s) read input images from inside the "
                f"run directory {self.run_dir} (such as {self.input_in_run_dir}); keep inputs "
                "outside it, where no run writes"
            )
        return notes

    def closing_line(self, *, pending: int = 0) -> str:
        """How much of the manifest this run touched, for the end of a run; `pending`:
        the rows it left pending (a stop, an interruption), so a run stopped early
        says how many of its rows it finished, not the number it set out to do."""
        worked = self.submit + self.poll + self.download + self.unreadable
        done = f"worked on {worked} row(s)"
        if pending:
            finished = max(worked - pending, 0)
            done = (
                f"finished {finished} of the {worked} row(s) it set out to do and left "
                f"{pending} pending"
            )
        line = f"this run {done}; {self.settled} were settled by earlier runs and left untouched"
        return line + (f"; {self.invalid} invalid, never sent" if self.invalid else "")

    def lines(self) -> list[str]:
        """What `batchedit plan` prints."""
        where = f", against {self.run_dir}" if self.run_dir else " (no run directory yet)"
        again = [f"{self.resubmit} expired"] if self.resubmit else []
        if self.replace:
            again.append(f"{self.replace} of another origin")
        expired = f" ({', '.join(again)})" if again else ""
        counts = [
            (f"to submit (paid){expired}", self.submit),
            ("to poll", self.poll),
            ("to download again", self.download),
            ("settled", self.settled),
            ("invalid", self.invalid),
        ]
        if self.unreadable:
            counts.append(("unreadable image", self.unreadable))
        lines = [f"{self.rows} rows in {self.source}{where}"]
        lines.extend(f"  {label:<30} {count:>8}" for label, count in counts)
        paid = f"paid submissions: {self.paid_submissions}"
        if self.multi_output_rows:
            paid += (
                f", making {self.paid_images} paid images ({self.multi_output_rows} row(s) "
                "ask for more than one image per task: n > 1)"
            )
        if self.cost is None or self.prices is None:
            lines.append(
                f"{paid}; no price table, so counts only "
                "(give prices: in the job file or --prices FILE for a cost)"
            )
        else:
            lines.append(f"{paid}; {self.cost.text(self.prices)}")
        return lines + self.notes()

    def to_json(self) -> dict[str, Any]:
        cost: dict[str, Any] | None = None
        if self.cost is not None:
            cost = {
                "amount": round(self.cost.amount, 6),
                "currency": self.cost.currency,
                "complete": self.cost.complete,
                "unpriced": [
                    {"model": model, "size": size, "submissions": n}
                    for (model, size), n in self.cost.unpriced.items()
                ],
            }
        return {
            "ok": True,
            "source": self.source,
            "run_dir": self.run_dir,
            "rows": self.rows,
            "submit": self.submit,
            "resubmit": self.resubmit,
            "replace": self.replace,
            "replaced_simulated": self.replaced_simulated,
            "kept_foreign": self.kept_foreign,
            "origin": None if self.origin is None else self.origin.label,
            "notes": self.notes(),
            "inputs_in_run_dir": self.inputs_in_run_dir,
            "poll": self.poll,
            "download": self.download,
            "settled": self.settled,
            "invalid": self.invalid,
            "unreadable": self.unreadable,
            "paid_submissions": self.paid_submissions,
            "paid_images": self.paid_images,
            "cost": cost,
        }


def estimate_cost(planned: Survey, table: PriceTable) -> Cost:
    """Summed in decimal, as the spend is: 3 x 0.67 is 2.01, not 2.0100000000000002."""
    amount = Decimal(0)
    unpriced: Counter[tuple[str, str | None]] = Counter()
    for (model, size), count in planned.paid_by_kind.items():
        price = table.price(model, size)
        if price is None:
            unpriced[(model, size)] += count
        else:
            amount += as_decimal(price) * count
    return Cost(as_amount(amount), table.currency, unpriced)


def plan_from_survey(job: JobSettings, planned: Survey) -> RunPlan:
    prices = job.prices
    return RunPlan(
        source=str(job.source),
        run_dir=None if job.output_dir is None else os.path.normpath(job.output_dir),
        rows=planned.rows,
        submit=planned.paid_submissions,
        resubmit=planned.resubmits,
        replace=planned.replaced,
        replaced_simulated=planned.replaced_simulated,
        kept_foreign=planned.kept_foreign,
        origin=planned.origin,
        inputs_in_run_dir=planned.inputs_in_run_dir,
        input_in_run_dir=planned.input_in_run_dir,
        paid_images=planned.paid_images,
        multi_output_rows=planned.multi_output_rows,
        poll=planned.actions[Action.POLL],
        download=planned.actions[Action.FETCH],
        settled=planned.settled,
        invalid=planned.invalid,
        unreadable=planned.unreadable,
        cost=None if prices is None else estimate_cost(planned, prices),
        prices=prices,
        problems=planned.problems,
    )


def plan_job(job: JobSettings, origin: Origin) -> RunPlan:
    """Plan `job` against its run directory (none yet: every valid row is a
    submit) for a run against the API `origin`. Synchronous and offline: it
    hashes local images, stats outputs."""
    if job.output_dir is None:
        # No run directory: nothing was done yet. A folder that does not exist
        # (and is never made) gives the survey an empty journal.
        paths = RunPaths(job.manifest.parent / f".batchedit-plan-{uuid.uuid4().hex}")
    else:
        paths = RunPaths(job.output_dir)
        refuse_a_file(paths.root)
        refuse_lost_state(paths, job.source)  # a run would be refused: so is its plan
    job, _ = as_the_run_dir_asks(job, paths)
    return plan_from_survey(job, survey(job, paths, FileDigests(), origin=origin))


def cost_refusal(job: JobSettings, plan: RunPlan, words: GuardWords = COMMAND_LINE) -> str | None:
    """Why `max_cost` or `max_spend` refuses this run, or None (in the caller's `words`)."""
    prices = f"give prices: in the job file or {words.setting('prices', 'FILE')}"
    if job.max_spend is not None:
        if job.prices is None or plan.cost is None:
            return f"max_spend needs a price table: {prices}"
        if not plan.cost.complete:
            return (
                f"max_spend cannot be enforced: {plan.cost.text(job.prices)}; add them to the "
                "price table"
            )
    if job.max_cost is None:
        return None
    if job.prices is None or plan.cost is None:
        return f"max_cost needs a price table: {prices}"
    table = job.prices
    if not plan.cost.complete:
        return f"max_cost cannot be checked: {plan.cost.text(table)}; add them to the price table"
    if plan.cost.amount > job.max_cost:
        return (
            f"this run would cost about {table.amount(plan.cost.amount)}, more than max_cost "
            f"{table.amount(job.max_cost)}; raise it to go ahead "
            f"({words.setting('max_cost', 'AMOUNT')})"
        )
    return None
