"""`batchedit doctor`: key, origin, reachability and balance checked, never the key shown."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from batchedit.api.doctor import diagnose
from batchedit.cli.conventions import print_json
from batchedit.cli.exits import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = commands.add_parser(
        "doctor", help="check the key, the API origin and the balance (never prints the key)"
    )
    doctor.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="for each request"
    )
    doctor.add_argument(
        "--api-key-file", type=Path, metavar="FILE", help="read the API key from FILE's first line"
    )
    doctor.set_defaults(handler=command_doctor)


def command_doctor(args: argparse.Namespace) -> int:
    """Exit 0 when every check passed, 1 when one failed, 2 when the origin or
    the key is malformed (a configuration error, as for `run`)."""
    checks = asyncio.run(diagnose(os.environ, timeout_s=args.timeout, key_file=args.api_key_file))
    ok = all(check.ok for check in checks)
    if args.json:
        print_json({"ok": ok, "checks": [check.to_json() for check in checks]})
    else:
        for check in checks:
            print(check.line())
    if any(check.usage for check in checks):
        return EXIT_USAGE
    return EXIT_OK if ok else EXIT_SOME_FAILED
