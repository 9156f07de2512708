"""batchedit: batch image edits through the Modellix API, resumable and never paying twice.

The command line (`batchedit run`, `validate`, `plan`, `simulate`, ...) and
a Python API that mirrors it (docs/python.md):

    import batchedit
    summary = batchedit.run("jobs/catalog/job.yaml", out="runs/catalog")
    summary = await batchedit.arun(...)          # inside a running event loop
    problems = batchedit.validate("catalog.csv")
    plan = batchedit.plan("jobs/catalog/job.yaml", prices="prices.yaml")
    for record in batchedit.load_report("runs/catalog"): ...
    async with batchedit.Simulator() as sim: ...

The API is imported on first use, so `import batchedit` (and the CLI's start)
stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batchedit.errors import BatcheditError, SourceError, UsageError
    from batchedit.library import Simulator, arun, load_report, plan, run, validate
    from batchedit.pipeline.plan.run_plan import RunPlan
    from batchedit.pipeline.stop import RunRefused
    from batchedit.records import Problem, ReportRecord, Status
    from batchedit.report.summary import RunSummary

__all__ = [
    "BatcheditError",
    "Problem",
    "ReportRecord",
    "RunPlan",
    "RunRefused",
    "RunSummary",
    "Simulator",
    "SourceError",
    "Status",
    "UsageError",
    "__version__",
    "arun",
    "load_report",
    "plan",
    "run",
    "validate",
]

__version__ = "0.1.0"

_HOMES = {
    "Simulator": "batchedit.library",
    "arun": "batchedit.library",
    "load_report": "batchedit.library",
    "plan": "batchedit.library",
    "run": "batchedit.library",
    "validate": "batchedit.library",
    "RunRefused": "batchedit.pipeline.stop",
    "RunPlan": "batchedit.pipeline.plan.run_plan",
    "RunSummary": "batchedit.report.summary",
    "Problem": "batchedit.records",
    "ReportRecord": "batchedit.records",
    "Status": "batchedit.records",
    "BatcheditError": "batchedit.errors",
    "SourceError": "batchedit.errors",
    "UsageError": "batchedit.errors",
}


if not TYPE_CHECKING:  # type checkers read the imports above, so a typo stays an error

    def __getattr__(name: str) -> Any:
        """The API's names, imported when first asked for."""
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module 'batchedit' has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(home), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__))
