"""The state layer: what a run directory remembers between runs.

Owns the hidden state folder and its formats: the journal (`journal`, the
one owner of the state format) and its index by row id (`history`), request
fingerprints and image digests (`fingerprint`), the one-run-at-a-time lock
(`lock`), the run directory's paths (`rundir`), how a run was started
(`invocation`, for `retry`) and the history of runs that ended
(`run_history`, `history.jsonl`).

Imports only the shared base; never the manifest, the API, the reports or
the pipeline.
"""
