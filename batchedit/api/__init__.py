"""The API layer: HTTP out.

The only layer that knows HTTP. `client` sends every request (submits,
polls, uploads, downloads) through one session, the request-rate meter
(`ratelimit`) and the retry policy, and turns every answer into a typed task
state (`task_state`) or a classified error (`answers`). `endpoint` says where
the API is and which key to use; `inflight` is the adaptive limit on tasks in
flight at the service; `doctor` checks key, origin and balance.

Imports only the shared base; never the manifest, the state, the reports or
the pipeline.
"""
