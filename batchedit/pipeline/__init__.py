"""The pipeline layer: one run, from a parsed job to a written report.

`launch` takes the lock, plans and guards, and runs `runner`, which wires the
stages of DESIGN.md: `producer` (rows planned against the journal by
`planning` and `resume`, uploads by `uploads` and `upload_cache`) ->
`submitters` -> `pollers` (timed by `scheduler` and `latency`) -> `writers`
(stored by `outputs`), each row's end recorded by `finishing`. The stages
share `context`; `config` holds what a run is given and how it ended.

Named `pipeline`, not `run`, because `batchedit.run` is the Python API's
function. Imports the manifest, API, state and report layers and the shared
base; only `launch` imports the simulator (for `run --simulate`).
"""
