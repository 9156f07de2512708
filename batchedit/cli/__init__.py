"""The command-line layer: the only code that knows argv, exit codes and `asyncio.run`.

    batchedit run SOURCE [options]      process a job file or a bare manifest
    batchedit retry RUN_DIR [--status]  re-run the rows that ended failed (or unknown)
    batchedit status RUN_DIR            counts by status and error category, offline
    batchedit validate SOURCE           check every row offline
    batchedit report RUN_DIR [--html FILE] [--failed-csv FILE]
                                        review page; manifest of the rows that did not succeed
    batchedit report merge RUN_DIR... --out DIR
                                        the shards' reports as one, in manifest order
    batchedit doctor                    key, origin and balance, never printing the key
    batchedit simulate [options]        serve the built-in simulator on loopback

One module per command (`run` holds run and retry), the options several
commands share in `options`, the exit codes in `exits`, and the assembly in
`main`. Sits on top of every layer; nothing imports it.
"""

from __future__ import annotations

from batchedit.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
