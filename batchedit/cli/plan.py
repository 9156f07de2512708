"""`batchedit plan SOURCE`: what a run would do now, and cost, offline.

Reads the run directory's state (nothing is locked, sent or written): rows to
submit, to poll, to download again, settled, invalid; paid submissions; the
cost from the user's price table. `--max-cost` and `--max-tasks` refuse
(exit 2) as they would refuse the run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from batchedit.api.endpoint import origin_from_env
from batchedit.cli.conventions import error_document, print_json
from batchedit.cli.exits import EXIT_OK, EXIT_USAGE
from batchedit.cli.options import add_setting_flags, setting_overrides
from batchedit.manifest.job import apply_overrides, load_job
from batchedit.manifest.settings import PLAN
from batchedit.origins import SIMULATE
from batchedit.pipeline.plan.run_plan import cost_refusal, plan_job

PROBLEM_LINES = 10


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = commands.add_parser(
        "plan",
        help="what a run would submit, poll, download, skip, and cost (offline)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    plan.add_argument("source", type=Path, metavar="SOURCE", help="job file or manifest")
    plan.add_argument(
        "--simulate",
        action="store_true",
        help="plan a `run --simulate` (default: a run against MODELLIX_BASE_URL, else the "
        "service): results of another API origin count as paid submits",
    )
    add_setting_flags(plan, PLAN)
    plan.set_defaults(handler=command_plan)


def command_plan(args: argparse.Namespace) -> int:
    overrides = setting_overrides(args)
    job = apply_overrides(load_job(args.source), **overrides)
    plan = plan_job(job, SIMULATE if args.simulate else origin_from_env())
    refusal = cost_refusal(job, plan)
    if refusal is None and job.max_tasks is not None and plan.paid_submissions > job.max_tasks:
        refusal = (
            f"this run would make {plan.paid_submissions} paid submissions, more than "
            f"max_tasks {job.max_tasks}"
        )
    if args.json:
        document = plan.to_json()
        if refusal is not None:
            document = {**error_document(refusal, EXIT_USAGE), "plan": document}
        print_json(document)
        return EXIT_OK if refusal is None else EXIT_USAGE
    full = f"every problem: batchedit validate {args.source}"
    for line in plan.problems.lines(limit=PROBLEM_LINES, full_list=full):
        print(line, file=sys.stderr)
    for line in plan.lines():
        print(line)
    if refusal is not None:
        print(f"batchedit: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
