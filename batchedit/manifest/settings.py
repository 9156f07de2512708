"""Every job setting, declared once: a field of `JobSettings` whose metadata
says how it is checked, which command-line flag gives it, and what it means.

The job-file reader (job.py), the flags of `run`, `retry`, `plan` and
`validate` (cli/options.py `add_setting_flags`), the Python API's keyword
arguments (through `apply_overrides`) and docs/job-files.md's table
(`settings_table`, kept equal by a test) all read it: adding a setting
touches its field here and the code that uses it. Dataclass fields with
metadata rather than msgspec Structs: the settings already are a frozen
dataclass read across the package, and their checks make rich values (a
`Shard`, a `Deadline`) with messages naming the setting.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchedit.catalogue import DEFAULT_MODEL
from batchedit.manifest.columns import ColumnMap, parse_column_option, parse_columns
from batchedit.manifest.guards import (
    FailureBrake,
    UnknownBudget,
    parse_failure_brake,
    parse_unknown_budget,
)
from batchedit.manifest.naming import OutputSpec, parse_output
from batchedit.manifest.nightly import (
    DEFAULT_DEADLINE_GRACE_S,
    Deadline,
    check_deadline_grace,
    check_max_spend,
    check_notify,
    parse_deadline,
)
from batchedit.manifest.prices import PriceTable, parse_prices, prices_from_flag
from batchedit.manifest.setting_checks import (
    INPUTS_DOC,
    InputsPolicy,
    UploadsPolicy,
    check_allow_models,
    check_bool,
    check_delimiter,
    check_max_cost,
    check_model,
    check_path,
    check_shard,
    parse_inputs,
    parse_uploads,
    positive_number,
    whole_number,
)
from batchedit.manifest.shard import Shard, shard_from_flag
from batchedit.records import FieldValue

Check = Callable[[object], object]
#: Half an hour: far beyond any edit model's published time, short enough for a night.
DEFAULT_TASK_TIMEOUT_S = 1800.0
#: The commands whose flags a setting has.
RUN, RETRY, PLAN, VALIDATE = "run", "retry", "plan", "validate"
_METADATA_KEY = "batchedit.setting"


@dataclass(frozen=True, slots=True)
class Setting:
    """How one setting is given and checked: the same check for the job file,
    the command line and Python, so the three cannot disagree."""

    check: Check  # raises ValueError naming the setting and what it accepts
    doc: str  # one line for docs/job-files.md (Markdown); --help shows it plain
    flag: str | None = None  # "--concurrency"; None: job file and Python only
    metavar: str | None = None
    commands: frozenset[str] = frozenset({RUN})
    switch: bool = False  # a flag without a value: given is true
    repeat: bool = False  # the flag may repeat; its values come as a list
    path: bool = False  # the flag names a file, made absolute so `retry` finds it
    structured: bool = False  # a mapping or a list in the job file, not one value
    #: The flag's value as the job file would give it (a table read from its
    #: file, `K/N` with K read from the job array now), or None: as it is.
    from_flag: Callable[[Any], object] | None = None


def setting(default: Any = dataclasses.MISSING, *, factory: Any = None, **spec: Any) -> Any:
    """A `JobSettings` field declared as a setting (see `Setting`)."""
    metadata = {_METADATA_KEY: Setting(**spec)}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


_LAUNCH = frozenset({RUN, RETRY})
_SOURCE = frozenset({RUN, PLAN, VALIDATE})
_GUARD = frozenset({RUN, RETRY, PLAN})


@dataclass(frozen=True, slots=True)
class JobSettings:
    """What to run, with which model, into which run directory, and how."""

    source: Path  # what the user named: a job file or a bare manifest
    manifest: Path = setting(
        check=check_path("manifest"),
        doc="the manifest",
        flag="--manifest",
        metavar="FILE",
        path=True,
    )
    model: str = setting(
        DEFAULT_MODEL,
        check=check_model,
        flag="--model",
        metavar="SLUG",
        commands=frozenset({RUN, PLAN}),
        doc="default model for rows without their own `model`",
    )
    output_dir: Path | None = setting(
        None,
        check=check_path("output_dir"),
        flag="--out",
        metavar="DIR",
        path=True,
        commands=frozenset({RUN, PLAN}),
        doc="the run directory (required, from one or the other; see "
        "[the run directory](runs.md#the-run-directory))",
    )
    concurrency: int = setting(
        8,
        flag="--concurrency",
        metavar="N",
        commands=_LAUNCH,
        check=whole_number("concurrency", "a positive whole number of tasks in flight", minimum=1),
        doc="tasks in flight at the service (default 8)",
    )
    shard: Shard | None = setting(
        None,
        check=check_shard,
        flag="--shard",
        metavar="K/N",
        from_flag=shard_from_flag,
        commands=frozenset({RUN, PLAN}),
        doc="only the rows whose id hashes to shard K of N; a bare N takes K from "
        "`JOB_COMPLETION_INDEX`, `AWS_BATCH_JOB_ARRAY_INDEX` or `SLURM_ARRAY_TASK_ID` "
        "(see [shards](scale.md#past-one-machine-shards))",
    )
    poll_interval_s: float | None = setting(
        None,
        check=positive_number("poll_interval_s", "seconds"),
        flag="--poll-interval",
        metavar="S",
        doc="poll every S seconds (the official tools poll every 2); by default polls are "
        "placed where tasks are learned to finish (see [Polling](api.md#polling))",
    )
    columns: ColumnMap = setting(
        factory=ColumnMap,
        check=parse_columns,
        flag="--column",
        metavar="FIELD=COLUMN",
        repeat=True,
        structured=True,
        commands=_SOURCE,
        from_flag=parse_column_option,
        doc="read a field from a column of your own naming (see "
        "[`columns:`](#your-own-column-names-columns); repeatable)",
    )
    delimiter: str | None = setting(
        None,
        check=check_delimiter,
        flag="--delimiter",
        metavar="D",
        commands=_SOURCE,
        doc="CSV delimiter `,` `;` or `tab` (default: told from the header line)",
    )
    allow_models: frozenset[str] = setting(
        frozenset(),
        check=check_allow_models,
        flag="--allow-model",
        metavar="SLUG",
        repeat=True,
        structured=True,
        commands=_SOURCE,
        doc="send a model slug batchedit does not know (repeatable; see "
        "[unknown models](#models-batchedit-does-not-know))",
    )
    max_tasks: int | None = setting(
        None,
        flag="--max-tasks",
        metavar="N",
        commands=_GUARD,
        check=whole_number("max_tasks", "a whole number of paid submissions, 0 or more", minimum=0),
        doc="the cost guard: refuse to start, sending nothing, if the run would make more "
        "than N paid submissions (see [the cost guard](runs.md#the-plan-and-the-cost-guard))",
    )
    max_cost: float | None = setting(
        None,
        check=check_max_cost,
        flag="--max-cost",
        metavar="AMOUNT",
        commands=_GUARD,
        doc="the cost guard in money: refuse to start if the estimated cost is above AMOUNT "
        "(needs a price table; see [the plan](plan.md))",
    )
    prices: PriceTable | None = setting(
        None,
        check=parse_prices,
        flag="--prices",
        metavar="FILE",
        path=True,
        structured=True,
        commands=_GUARD,
        from_flag=prices_from_flag,
        doc="the price table, per model and size, in your currency (see "
        "[the plan](plan.md#the-price-table))",
    )
    output: OutputSpec = setting(
        factory=OutputSpec,
        check=parse_output,
        structured=True,
        doc="output names, formats, labels and channel profile: `{name, format, quality, "
        "keep_original, ai_label, provenance, c2pa, c2pa_sign, profile, pad}`; on the command "
        "line one flag a piece (below; see [Output names and formats](#output-names-and-formats))",
    )
    strict_checks: bool = setting(
        False,
        check=check_bool("strict_checks"),
        flag="--strict-checks",
        switch=True,
        doc="a result of the wrong size or shape, blank, or breaking its channel profile's rules, "
        "fails its row (`download`) instead of succeeding with `checks` "
        "(see [checks](outputs.md#every-result-checked))",
    )
    rate_limit: float | None = setting(
        None,
        check=positive_number("rate_limit", "requests per second"),
        flag="--rate-limit",
        metavar="R",
        doc="API requests per second, shared by every submit, poll and upload of the run "
        "(default: learned from the service's answers; see "
        "[the request budget](api.md#the-request-budget))",
    )
    max_unknown: UnknownBudget = setting(
        UnknownBudget(),
        check=parse_unknown_budget,
        flag="--max-unknown",
        metavar="N|P%",
        doc="the budget of submits with an unknown outcome before the run stops (exit 3): a "
        "count, or a share of the planned submits (default 2%, at least 5; 0: no budget; see "
        "[guards](guards.md#unknown-outcomes-the-breaker-and-the-budget))",
    )
    halt_on_failure: FailureBrake | None = setting(
        FailureBrake(),
        check=parse_failure_brake,
        flag="--halt-on-failure",
        metavar="RATE[/WINDOW]",
        doc="the failure brake: stop submitting when more than RATE of the last WINDOW "
        "finished tasks failed (default `0.5/20`; `off`; see "
        "[guards](guards.md#the-failure-brake))",
    )
    #: A task stuck in a status the service never leaves is not polled for ever.
    task_timeout: float | None = setting(
        DEFAULT_TASK_TIMEOUT_S,
        check=positive_number("task_timeout", "seconds"),
        flag="--task-timeout",
        metavar="S",
        doc="seconds from submit after which a still-running task's row ends `failed` / "
        "`timeout`, keeping its task id: a later run polls it again, free, with a new "
        "deadline (default 1800, half an hour)",
    )
    request_timeout_s: float = setting(
        120.0,
        check=positive_number("request_timeout_s", "seconds"),
        flag="--request-timeout",
        metavar="S",
        doc="each API request's and result download's total deadline, from connect to the "
        "last byte (default 120; see [hardening](hardening.md#what-the-service-sends-is-bounded))",
    )
    max_wait_s: float = setting(
        600.0,
        check=positive_number("max_wait_s", "seconds"),
        flag="--max-wait",
        metavar="S",
        doc="the longest wait the service may ask for (`Retry-After`, `X-RateLimit-Reset`); "
        "beyond it the run stops with exit 3 and says when to come back (default 600)",
    )
    allow_private_downloads: bool = setting(
        False,
        check=check_bool("allow_private_downloads"),
        flag="--allow-private-downloads",
        switch=True,
        doc="fetch results from plain http and private addresses too (default: public https "
        "only; see [hardening](hardening.md#what-is-trusted-and-what-is-not))",
    )
    uploads: UploadsPolicy = setting(
        UploadsPolicy(),
        check=parse_uploads,
        flag="--delete-uploads-after",
        metavar="WHEN",
        structured=True,
        commands=_LAUNCH,
        from_flag=lambda when: {"delete_after": when},
        doc="`{delete_after: run}`: delete the run's uploaded inputs at the service at the "
        "end of each run that finished; `never` (default): leave them to the service's "
        "retention (see [deleting uploads](api.md#deleting-uploads-at-the-service))",
    )
    inputs: InputsPolicy = setting(
        InputsPolicy(), check=parse_inputs, structured=True, doc=INPUTS_DOC
    )
    max_spend: float | None = setting(
        None,
        check=check_max_spend,
        flag="--max-spend",
        metavar="AMOUNT",
        commands=_LAUNCH,
        doc=(
            "the spend cap, enforced while the run pays: the submit that would pass it is "
            "not sent, exit 3 (needs a price table; see "
            "[the spend cap](runs.md#the-spend-cap---max-spend))"
        ),
    )
    deadline: Deadline | None = setting(
        None,
        check=parse_deadline,
        flag="--deadline",
        metavar="DURATION|TIME",
        commands=_LAUNCH,
        doc=(
            "no submit after it (`90m`, `2h`, `06:00`, ISO 8601); tasks in flight are polled "
            "for the grace, then left for the next run; exit 3 (see "
            "[a deadline](runs.md#a-deadline---deadline))"
        ),
    )
    deadline_grace: float = setting(
        DEFAULT_DEADLINE_GRACE_S,
        check=check_deadline_grace,
        flag="--deadline-grace",
        metavar="DURATION",
        commands=_LAUNCH,
        doc="how long tasks in flight are polled past the deadline (default `10m`)",
    )
    metrics_file: Path | None = setting(
        None,
        check=check_path("metrics_file"),
        flag="--metrics-file",
        metavar="PATH",
        path=True,
        commands=_LAUNCH,
        doc=(
            "Prometheus metrics, for node_exporter's textfile collector, every 15 s and at the "
            "end (see [metrics](runs.md#metrics-for-monitoring---metrics-file)); relative to "
            "the job file"
        ),
    )
    notify: tuple[str, ...] = setting(
        (),
        check=check_notify,
        flag="--notify",
        metavar="URL",
        repeat=True,
        structured=True,
        commands=_LAUNCH,
        doc=(
            "an Apprise URL for one message at the end of the run (repeatable; a list in the "
            "job file; see [a message at the end](runs.md#a-message-at-the-end---notify))"
        ),
    )
    # Not settings: what the job file's `defaults:` give, what `retry` added to
    # prompts, and where each default stands in the job file (for messages).
    defaults: Mapping[str, FieldValue | tuple[str, ...]] = field(default_factory=dict)
    prompt_suffixes: Mapping[str, str] = field(default_factory=dict)  # id: text `retry` added
    default_lines: Mapping[str, int] = field(default_factory=dict, compare=False)


#: Every setting, in declaration order: name -> how it is given and checked.
SETTINGS: Mapping[str, Setting] = {
    each.name: each.metadata[_METADATA_KEY]
    for each in dataclasses.fields(JobSettings)
    if _METADATA_KEY in each.metadata
}


def settings_table() -> str:
    """The Markdown rows of docs/job-files.md's settings table: flag, job-file
    key, meaning, one row per setting (a test keeps the docs equal to it)."""
    rows = ["| option | job-file key | meaning |", "| --- | --- | --- |"]
    for name, spec in SETTINGS.items():
        flag = ""
        if spec.flag is not None:
            flag = f"`{spec.flag}`" if spec.switch else f"`{spec.flag} {spec.metavar}`"
        cells = (flag, f"`{name}`", spec.doc)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"


def plain(doc: str) -> str:
    """A setting's doc as --help shows it: links as their text, no backticks
    (and `%` doubled, as --help's format strings want)."""
    return re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", doc).replace("`", "").replace("%", "%%")
