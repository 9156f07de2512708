"""The Python API: what the commands do, as functions for code that drives
batchedit (a notebook, an Airflow task, a service, the users' own tests).

    run(source, *, out, **settings) -> RunSummary       run a job to its end
    await arun(source, *, out, **settings)              the same, in a running loop
    validate(source, **settings) -> list[Problem]       every problem, offline
    plan(source, *, out, prices, **settings) -> RunPlan  what a run would do and cost
    load_report(run_dir) -> Iterator[ReportRecord]      the report, typed
    Simulator(**options)                                the simulator, `async with`

Settings are the job file's keys (`model`, `concurrency`, `max_tasks`,
`columns`, `defaults`, ...) and win over the job file, as the command line's
options do. The command line is a thin caller of the same code. Sits just
below cli/ and above the pipeline; `batchedit/__init__.py` re-exports it.
"""

from __future__ import annotations

from batchedit.library.checking import plan, validate
from batchedit.library.reports import load_report
from batchedit.library.running import arun, run
from batchedit.library.simulator import Simulator

__all__ = ["Simulator", "arun", "load_report", "plan", "run", "validate"]
