"""`batchedit.validate` and `batchedit.plan`: offline answers about a job."""

from __future__ import annotations

from collections.abc import Mapping

from batchedit.api.endpoint import origin_from_env
from batchedit.library.settings import PathLike, job_from
from batchedit.manifest.job import validate_job
from batchedit.origins import SIMULATE
from batchedit.pipeline.plan.run_plan import RunPlan, plan_job
from batchedit.records import Problem


def validate(source: PathLike, **settings: object) -> list[Problem]:
    """Every problem of the job or manifest `source`, offline, each with its
    file, line and field. A problem of the job or the header (a missing
    column, a bad default) comes back alone, once, since every row would share
    it. An unreadable file raises SourceError."""
    return validate_job(job_from(source, settings=settings))


def plan(
    source: PathLike,
    *,
    out: PathLike | None = None,
    prices: PathLike | Mapping[str, object] | None = None,
    base_url: str | None = None,
    simulate: bool = False,
    **settings: object,
) -> RunPlan:
    """What a run of `source` into `out` (or the job's `output_dir:`) would do
    now, offline: rows to submit, poll, download again, settled and invalid,
    and with a price table (a file, or a `prices:` mapping) the cost. The run
    is one against `base_url` (default: MODELLIX_BASE_URL, else the service),
    or against the simulator with `simulate`: results another API origin made
    count as paid submits (`plan.replace`, said why in `plan.notes()`)."""
    origin = SIMULATE if simulate else origin_from_env(base_url=base_url)
    return plan_job(job_from(source, out=out, prices=prices, settings=settings), origin)
