"""The report layer: what a run tells people, written and read.

`report_file` joins the manifest with the journal into report.jsonl and
reads it back as typed records; `counts` is the one tally of records by
status and category, which `summary` (summary.json), `status` (offline) and
`merge` (the shards' reports combined) share; `review`, `review_page` and
`thumbnails` make the before/after page; `failed_rows` writes the rows that
did not succeed as a manifest; `progress` holds the run's counters and bars.

Imports the state and manifest layers and the shared base; never the API,
the pipeline or the command line.
"""
