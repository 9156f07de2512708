"""`batchedit simulate`, and the simulator options of `run --simulate`.

The simulator's options are declared once for both: `simulate` takes them
all; `run --simulate` takes the few that shape a demo (`--sim-latency`,
`--sim-fail-rate`, `--sim-seed`, `--sim-defect-rate`, `--sim-refuse-rate`),
and records them so `retry` starts the same simulator again.
"""

from __future__ import annotations

import argparse
import errno
from collections.abc import Mapping

from batchedit.cli.exits import EXIT_OK
from batchedit.errors import UsageError
from batchedit.simulator import (
    DEMO_C2PA_RATE,
    LATENCY_PROFILES,
    RESULT_PROFILES,
    SimOptions,
    parse_latency,
    serve,
)
from batchedit.state.invocation import Setting

DEFAULT_SIM_LATENCY_S = (0.2, 1.5)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    simulate = commands.add_parser("simulate", help="serve the built-in simulator")
    simulate.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    simulate.add_argument("--port", type=int, default=8787, help="port to listen on")
    add_simulator_options(simulate, prefix="")
    simulate.set_defaults(handler=command_simulate)


def add_simulate_options(run: argparse.ArgumentParser) -> None:
    """`run --simulate` and its `--sim-*` options."""
    run.add_argument(
        "--simulate",
        action="store_true",
        help="start the built-in simulator on a free loopback port and use it (free)",
    )
    add_simulator_options(run, prefix="sim-")


def add_simulator_options(parser: argparse.ArgumentParser, *, prefix: str) -> None:
    group = parser.add_argument_group("simulator" if prefix == "" else "simulator (--simulate)")
    group.add_argument(
        f"--{prefix}latency",
        type=parse_latency,
        default=None,
        metavar="S[-S]",
        help="seconds a task takes; a range draws uniformly "
        f"(default: {DEFAULT_SIM_LATENCY_S[0]}-{DEFAULT_SIM_LATENCY_S[1]})",
    )
    group.add_argument(
        f"--{prefix}fail-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="tasks that end failed (category task_failed)",
    )
    group.add_argument(
        f"--{prefix}seed",
        type=int,
        default=None,
        metavar="N",
        help="replay the same random draws (default: new ones each start)",
    )
    group.add_argument(
        f"--{prefix}defect-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="results that come back the wrong size or blank (for the output checks)",
    )
    group.add_argument(
        f"--{prefix}refuse-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="tasks that end failed with a safety refusal (category content_policy)",
    )
    if prefix:
        return
    group.add_argument(
        "--c2pa-rate",
        type=float,
        default=DEMO_C2PA_RATE,
        metavar="FRACTION",
        help=f"results carrying a C2PA-shaped manifest, by task id (default {DEMO_C2PA_RATE})",
    )
    group.add_argument(
        "--latency-profile",
        choices=LATENCY_PROFILES,
        default=None,
        help="draw each task's duration per model and size, after published timings "
        "(instead of --latency)",
    )
    group.add_argument(
        "--result-profile",
        choices=RESULT_PROFILES,
        default=None,
        help="realistic: photo-like results at the model's real output grid, PNG (a 4K "
        "PNG is 15 MB or more), one per shape: memory and CPU at real sizes",
    )
    group.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        metavar="K",
        help="multiply every duration (and so every Retry-After) by K: 0.05 plays an hour "
        "in three minutes",
    )
    group.add_argument(
        "--error-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="API requests answered 500 or 503 (a 500 on a submit creates the task half the time)",
    )
    group.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        metavar="PER_SECOND",
        help="API requests per second per key before 429 with Retry-After (downloads are "
        "not counted; default: no limit)",
    )
    group.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        metavar="N",
        help="running tasks per key before a submit gets 429 (default: no limit)",
    )
    group.add_argument(
        "--api-key", default=None, metavar="KEY", help="accept only this key (default: any)"
    )
    group.add_argument(
        "--balance",
        type=int,
        default=None,
        metavar="N",
        help="paid tasks before 402 (default: no limit)",
    )
    group.add_argument(
        "--expire-after",
        type=float,
        default=86400.0,
        metavar="SECONDS",
        help="how long results stay downloadable, then 410",
    )
    group.add_argument(
        "--prerendered",
        action="store_true",
        help="serve one ready-made image per output shape instead of editing (for benchmarks)",
    )
    group.add_argument(
        "--drop-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="submits whose task is created, then the connection dropped unanswered",
    )
    group.add_argument(
        "--gateway-timeout-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="submits whose task is created and charged, then answered 504 by a gateway",
    )
    group.add_argument(
        "--malformed-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="200 answers replaced by a malformed body",
    )
    group.add_argument(
        "--truncate-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="result downloads cut short",
    )
    group.add_argument(
        "--slow-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="answers held back --slow-delay seconds",
    )
    group.add_argument(
        "--slow-delay",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how long --slow-rate holds an answer back",
    )
    group.add_argument(
        "--record-bodies",
        action="store_true",
        help="keep every accepted submit's body, served in /_sim/stats under `bodies`",
    )


def command_simulate(args: argparse.Namespace) -> int:
    try:
        options = SimOptions(
            latency_s=args.latency or DEFAULT_SIM_LATENCY_S,
            fail_rate=args.fail_rate,
            error_rate=args.error_rate,
            rate_limit=args.rate_limit,
            max_concurrent=args.max_concurrent,
            api_key=args.api_key,
            balance=args.balance,
            expire_after_s=args.expire_after,
            seed=args.seed,
            prerendered=args.prerendered,
            drop_rate=args.drop_rate,
            gateway_timeout_rate=args.gateway_timeout_rate,
            malformed_rate=args.malformed_rate,
            truncate_rate=args.truncate_rate,
            slow_rate=args.slow_rate,
            slow_s=args.slow_delay,
            record_bodies=args.record_bodies,
            defect_rate=args.defect_rate,
            c2pa_rate=args.c2pa_rate,
            refuse_rate=args.refuse_rate,
            latency_profile=args.latency_profile,
            result_profile=args.result_profile,
            time_scale=args.time_scale,
        )
    except ValueError as exc:
        raise UsageError(f"simulate: {exc}") from exc
    try:
        serve(options, host=args.host, port=args.port)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise UsageError(
                f"simulate: cannot listen on {args.host}:{args.port}: "
                f"{exc.strerror or exc}; pick another with --port"
            ) from exc
        raise
    return EXIT_OK


def sim_options(args: argparse.Namespace) -> SimOptions:
    """The in-process simulator of `run --simulate`."""
    try:
        return SimOptions(
            latency_s=args.sim_latency or DEFAULT_SIM_LATENCY_S,
            fail_rate=args.sim_fail_rate,
            seed=args.sim_seed,
            defect_rate=args.sim_defect_rate,
            c2pa_rate=DEMO_C2PA_RATE,
            refuse_rate=args.sim_refuse_rate,
        )
    except ValueError as exc:
        raise UsageError(f"--simulate: {exc}") from exc


def sim_settings(options: SimOptions) -> dict[str, Setting]:
    """The simulator options to record in the invocation, for `retry`."""
    return {
        "latency": list(options.latency_s),
        "fail_rate": options.fail_rate,
        "seed": options.seed,
        "defect_rate": options.defect_rate,
        "refuse_rate": options.refuse_rate,
    }


def sim_from_settings(settings: Mapping[str, Setting]) -> SimOptions:
    """The simulator a recorded invocation ran against, started again by `retry`."""
    latency = settings.get("latency")
    fail_rate = settings.get("fail_rate")
    seed = settings.get("seed")
    defect_rate = settings.get("defect_rate")
    refuse_rate = settings.get("refuse_rate")
    try:
        return SimOptions(
            latency_s=parse_latency("-".join(str(x) for x in latency))
            if isinstance(latency, list)
            else DEFAULT_SIM_LATENCY_S,
            fail_rate=float(fail_rate) if isinstance(fail_rate, int | float) else 0.0,
            seed=seed if isinstance(seed, int) else None,
            defect_rate=float(defect_rate) if isinstance(defect_rate, int | float) else 0.0,
            c2pa_rate=DEMO_C2PA_RATE,
            refuse_rate=float(refuse_rate) if isinstance(refuse_rate, int | float) else 0.0,
        )
    except ValueError as exc:
        raise UsageError(f"the recorded simulator options are unusable: {exc}") from exc
