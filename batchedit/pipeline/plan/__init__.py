"""What each row needs before anything is paid: validated, fingerprinted and
checked against the journal (`planning`, `resume`), with the run directory's
guards (`source_check`, `lost_state`, `rebuild`) and the plan the cost guard
and `batchedit plan` read (`run_plan`), its refusals in the caller's words
(`guard_words`). One decision per row, for plan and run.
"""
