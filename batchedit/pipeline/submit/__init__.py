"""The submitters stage: the paid edit jobs sent under the concurrency
semaphore, each turn granted by the `gate` (pause, budget, spend cap,
deadline, `breaker`) and each task id claimed for one row (`task_ids`).
"""
