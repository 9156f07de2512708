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
from batchedit.manifest.channels import PROFILES
from batchedit.manifest.naming import AI_LABELS, C2PA_CHOICES, PROVENANCE
from batchedit.manifest.settings import SETTINGS, plain
from batchedit.records import ErrorCategory, Status
from batchedit.state.invocation import Setting

#: The statuses `retry --status` accepts.
RETRYABLE = (Status.FAILED, Status.UNKNOWN, Status.PENDING)


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


def add_setting_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """The flags of the job settings `command` takes, from their one declaration
    (manifest/settings.py); each lands under the setting's name, None when not given."""
    group = parser.add_argument_group("job settings (the command line wins over the job file)")
    for name, spec in SETTINGS.items():
        if spec.flag is None or command not in spec.commands:
            continue
        options: dict[str, object] = {"dest": name, "default": None, "help": plain(spec.doc)}
        if spec.switch:
            options["action"] = "store_true"
        else:
            options["metavar"] = spec.metavar
            options["type"] = Path if spec.path else str
            if spec.repeat:
                options["action"] = "append"
        group.add_argument(spec.flag, **options)  # type: ignore[arg-type]


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
        "--profile",
        choices=tuple(PROFILES),
        help="shape and check outputs for a sales channel (docs/publishing.md)",
    )


def output_overrides(args: argparse.Namespace) -> dict[str, Setting]:
    """--output-name, --output-format, --quality, --keep-original, the
    labelling options and --profile: the pieces of `output:` given, laid over the job
    file's by apply_overrides."""
    pieces: dict[str, Setting] = {
        "name": getattr(args, "output_name", None),
        "format": getattr(args, "output_format", None),
        "quality": getattr(args, "quality", None),
        "keep_original": getattr(args, "keep_original", None),
        "ai_label": getattr(args, "ai_label", None),
        "provenance": getattr(args, "provenance", None),
        "c2pa": getattr(args, "c2pa", None),
        "profile": getattr(args, "profile", None),
    }
    cert, key = getattr(args, "c2pa_cert", None), getattr(args, "c2pa_key", None)
    if (cert is None) != (key is None):
        raise UsageError("--c2pa-cert and --c2pa-key go together (a PEM chain and its key)")
    if cert is not None and key is not None:
        pieces["c2pa_sign"] = {"cert": str(cert.resolve()), "key": str(key.resolve())}
    given = {name: value for name, value in pieces.items() if value is not None}
    return {"output": given} if given else {}


def add_launch_options(parser: argparse.ArgumentParser) -> None:
    """What `run` and `retry` share beside settings: the question, progress, the key."""
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
        "--api-key-file",
        type=Path,
        metavar="FILE",
        help="read the API key from FILE's first line (never give a key on the command line)",
    )


def setting_overrides(args: argparse.Namespace) -> dict[str, Setting]:
    """The job settings given on the command line, as the job file would give
    them (JSON values, so `retry` can replay them): paths made absolute so that
    `retry` finds them from any folder."""
    given = output_overrides(args)
    for name, spec in SETTINGS.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        if isinstance(value, Path):
            value = value.resolve()
        try:
            converted = value if spec.from_flag is None else spec.from_flag(value)
        except ValueError as exc:
            raise UsageError(f"{spec.flag}: {exc}") from exc
        given[name] = _json_value(converted)
    return given


def _json_value(value: object) -> Setting:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
