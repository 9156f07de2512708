"""The manifest layer: rows in.

Owns everything a row is before anything is sent: reading job files and
CSV, YAML and JSONL manifests as streams (`reader`, `csv_reader`,
`yaml_reader`, `sources`), the `columns:` mapping and prompt templates, row
validation and preflight of local images, duplicate ids, and a row's identity
beyond its fields: its output name (`naming`) and its shard (`shard`).

Imports only the shared base (records, errors, fsutil, imagetypes, models);
never the API, the state, the reports or the pipeline.
"""
