"""The producer stage: rows streamed from the manifest, planned, their inputs
uploaded once (`uploads`, `upload_cache`, `purge`), and handed to the
submitters through the bounded `row_queue`.
"""
