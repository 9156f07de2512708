"""The pollers stage: a pool that tracks the task ids in flight, each poll
timed by the `scheduler` from the durations learnt so far (`latency`,
`latency_store`) and the dynamic-programming `poll_plan`.
"""
