"""Options shared by several commands, and how they become job-file settings.

`run`, `retry` and `validate` take some of the same options; each is declared
once here, and turned into the job-file settings it overrides (as JSON
values, so `retry` can replay them from the recorded invocation).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from batchedit.errors import UsageError
from batchedit.manifest.columns import parse_column_option
from batchedit.manifest.job import SETTING_NAMES
from batchedit.manifest.naming import AI_LABELS, C2PA_CHOICES, PROVENANCE
from batchedit.manifest.prices import load_prices
from batchedit.manifest.setting_checks import DELETE_AFTER
from batchedit.manifest.shard import parse_shard
from batchedit.records import ErrorCategory, Status
from batchedit.state.invocation import Setting

#: The statuses `retry --status` accepts.
RETRYABLE = (Status.FAILED, Status.UNKNOWN, Status.PENDING)


def shard_option(text: str) -> str:
    """`K/N` as given, or with K read from the job array now, so `retry` replays it."""
    try:
        return str(parse_shard(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def statuses_among(allowed: Sequence[Status]) -> Callable[[str], frozenset[Status]]:
    """An argparse type reading `S[,S]` as statuses, each one of `allowed`."""

    def parse(text: str) -> frozenset[Status]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        allowed_names = [status.value for status in allowed]
        wrong = [name for name in names if name not in allowed_names]
        if wrong or not names:
            raise argparse.ArgumentTypeError(
                f"{', '.join(wrong) or 'nothing'}: give statuses among {', '.join(allowed_names)}"
            )
        return frozenset(Status(name) for name in names)

    return parse


#: `retry --status`: the statuses a retry may re-run.
parse_statuses = statuses_among(sorted(RETRYABLE))
#: `retry --status rejected`: the rows rejected in review, whatever their status.
REJECTED = "rejected"


def parse_retry_selection(text: str) -> tuple[frozenset[Status], bool]:
    """`retry --status S[,S]`: statuses among RETRYABLE, and `rejected`; returns
    the statuses and whether the rows rejected in review are asked for."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    rejected = REJECTED in names
    rest = ",".join(name for name in names if name != REJECTED)
    if not rest and rejected:
        return frozenset(), True
    try:
        return parse_statuses(rest), rejected
    except argparse.ArgumentTypeError:
        allowed = ", ".join([*sorted(RETRYABLE), REJECTED])
        raise argparse.ArgumentTypeError(f"{text!r}: give statuses among {allowed}") from None


def parse_categories(text: str) -> frozenset[ErrorCategory]:
    """`C[,C]` as error categories, for `retry --category`."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    allowed = ", ".join(category.value for category in ErrorCategory)
    try:
        categories = frozenset(ErrorCategory(name) for name in names)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown error category in {text!r}; allowed: {allowed}"
        ) from None
    if not categories:
        raise argparse.ArgumentTypeError(f"name at least one error category: {allowed}")
    return categories


def add_manifest_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="read FIELD (id, prompt, image, ...) from the manifest's COLUMN; "
        "id may be a template such as id={sku}-{colour} (repeatable)",
    )
    parser.add_argument("--delimiter", help="CSV delimiter: ',', ';' or 'tab' (default: sniffed)")
    parser.add_argument(
        "--allow-model",
        action="append",
        default=[],
        metavar="SLUG",
        help="send this model slug although batchedit does not know it (repeatable)",
    )


def manifest_overrides(args: argparse.Namespace) -> dict[str, Setting]:
    """--column and --allow-model as JSON values, so `retry` can replay them."""
    given: dict[str, Setting] = {}
    if getattr(args, "column", None):
        try:
            given["columns"] = parse_column_option(args.column)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    if getattr(args, "allow_model", None):
        given["allow_models"] = list(args.allow_model)
    return given


def add_output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("outputs")
    group.add_argument(
        "--output-name", metavar="TEMPLATE", help='file name under outputs/, e.g. "{sku}/{id}"'
    )
    group.add_argument("--output-format", metavar="FORMAT", help="png, jpeg or webp")
    group.add_argument("--quality", type=int, metavar="1-100", help="jpeg/webp quality")
    group.add_argument(
        "--keep-original",
        action="store_true",
        default=None,
        help="also keep the service's own file when converting",
    )
    group.add_argument(
        "--ai-label",
        choices=AI_LABELS,
        help="XMP DigitalSourceType stamped on every output (default composite; off: none)",
    )
    group.add_argument(
        "--provenance", choices=PROVENANCE, help="full: the prompt goes into the XMP too"
    )
    group.add_argument(
        "--c2pa",
        choices=C2PA_CHOICES,
        help="keep (default): a result with a C2PA manifest stays beside its conversion",
    )
    group.add_argument("--c2pa-cert", type=Path, metavar="PEM", help="sign outputs: cert chain")
    group.add_argument("--c2pa-key", type=Path, metavar="PEM", help="sign outputs: private key")
    group.add_argument(
        "--strict-checks",
        action="store_true",
        default=None,
        dest="strict_checks",
        help="a result of the wrong size or blank fails its row (category download)",
    )


def output_overrides(args: argparse.Namespace) -> dict[str, Setting]:
    """--output-name, --output-format, --quality, --keep-original and the
    labelling options: the pieces of `output:` given, laid over the job
    file's by apply_overrides."""
    pieces: dict[str, Setting] = {
        "name": getattr(args, "output_name", None),
        "format": getattr(args, "output_format", None),
        "quality": getattr(args, "quality", None),
        "keep_original": getattr(args, "keep_original", None),
        "ai_label": getattr(args, "ai_label", None),
        "provenance": getattr(args, "provenance", None),
        "c2pa": getattr(args, "c2pa", None),
    }
    cert, key = getattr(args, "c2pa_cert", None), getattr(args, "c2pa_key", None)
    if (cert is None) != (key is None):
        raise UsageError("--c2pa-cert and --c2pa-key go together (a PEM chain and its key)")
    if cert is not None and key is not None:
        pieces["c2pa_sign"] = {"cert": str(cert.resolve()), "key": str(key.resolve())}
    given = {name: value for name, value in pieces.items() if value is not None}
    return {"output": given} if given else {}


def add_launch_options(parser: argparse.ArgumentParser) -> None:
    """What `run` and `retry` share: the cost guard, progress and logs."""
    parser.add_argument(
        "--max-tasks",
        type=int,
        dest="max_tasks",
        metavar="N",
        help="refuse to start if the run would make more than N paid submissions",
    )
    parser.add_argument(
        "--yes", action="store_true", help="do not ask before a large paid run in a terminal"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--no-latency-cache",
        action="store_true",
        help="do not read or write the per-user cache of task durations "
        "(also BATCHEDIT_LATENCY_CACHE=off); the run directory keeps its own",
    )
    parser.add_argument(
        "--max-cost",
        type=float,
        dest="max_cost",
        metavar="AMOUNT",
        help="refuse to start if the estimated cost (from the price table) is above AMOUNT",
    )
    parser.add_argument(
        "--prices",
        type=Path,
        metavar="FILE",
        help="price table (YAML or JSON) for --max-cost, instead of the job's prices:",
    )
    parser.add_argument(
        "--api-key-file",
        type=Path,
        metavar="FILE",
        help="read the API key from FILE's first line (never give a key on the command line)",
    )
    parser.add_argument(
        "--delete-uploads-after",
        choices=DELETE_AFTER,
        metavar="WHEN",
        help="run: delete the run's uploaded inputs at the service when a run finishes "
        "(uploads: {delete_after: run}); never: leave them to the service's retention",
    )
    add_nightly_options(parser)


def add_nightly_options(parser: argparse.ArgumentParser) -> None:
    """The settings of a run nobody watches (manifest/nightly.py, docs/runs.md)."""
    group = parser.add_argument_group("unattended runs")
    group.add_argument(
        "--max-spend",
        dest="max_spend",
        metavar="AMOUNT",
        help="stop submitting before the spend (from the price table) passes AMOUNT; exit 3",
    )
    group.add_argument(
        "--deadline",
        metavar="DURATION|TIME",
        help="no submit after it (90m, 2h, 06:00, or ISO 8601); exit 3, the rest pending",
    )
    group.add_argument(
        "--deadline-grace",
        dest="deadline_grace",
        metavar="DURATION",
        help="how long tasks in flight are polled past the deadline (default 10m)",
    )
    group.add_argument(
        "--metrics-file",
        type=Path,
        dest="metrics_file",
        metavar="PATH",
        help="write Prometheus metrics there (for node_exporter's textfile collector)",
    )
    group.add_argument(
        "--notify",
        action="append",
        default=None,
        metavar="URL",
        help="send a message at the end of the run to this Apprise URL (repeatable)",
    )


def setting_overrides(args: argparse.Namespace) -> dict[str, Setting]:
    """The job settings given on the command line; paths made absolute so
    that `retry` finds them from any folder."""
    given = {**manifest_overrides(args), **output_overrides(args)}
    if (when := getattr(args, "delete_uploads_after", None)) is not None:
        given["uploads"] = {"delete_after": when}
    prices = getattr(args, "prices", None)
    if isinstance(prices, Path):  # kept as the table itself, so `retry` needs no file
        given["prices"] = load_prices(prices).to_json()
    for name in SETTING_NAMES:
        value = getattr(args, name, None)
        if value is None or name in given:
            continue
        given[name] = str(Path(value).resolve()) if isinstance(value, Path) else value
    return given
