"""Publishing a run's chosen results: where they go, how they get there, the feeds.

`destination` says what a place to publish into must answer (a local folder,
`folder`, or an object store, `bucket`: `s3://`, `gs://`, `az://`) and the
export's own record of what it wrote there (`ledger`); `sync` brings a
destination to the chosen files: only what changed is written, nothing it
did not write is overwritten, and a stopped export resumes. `links` turns a
published name into its public URL; `merchant` and `shopify` write the shop
feeds from the report's rows.

Part of the report layer: imports the shared base, the state layer (file
digests) and the report's records; never the API, the pipeline or the CLI.
"""
