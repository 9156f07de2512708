"""The pipeline layer: one run, from a parsed job to a written report.

The folders are the stages of DESIGN.md: `plan/` (what each row needs, for
`batchedit plan` and the run alike) -> `produce/` (rows and their uploads,
into the row queue) -> `submit/` (the paid submits) -> `poll/` (the task ids
in flight) -> `write/` (results stored, each row's end recorded). Beside them
is the run's wiring: `launch` takes the lock, plans and guards and runs
`runner`, which starts the stages in one TaskGroup; they share `context`;
`config` holds what a run is given and how it ended, `stop` why it stopped,
`nightly` what an unattended run tells.

Named `pipeline`, not `run`, because `batchedit.run` is the Python API's
function. Imports the manifest, API, state and report layers and the shared
base; only `launch` imports the simulator (for `run --simulate`).
"""
