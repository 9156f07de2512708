"""The value checks of job-file settings (numbers, flags, paths, the CSV
delimiter, the model slugs, the shard, the cost cap): each raises ValueError
with the setting's name and what it accepts, which job.py turns into a
FILE:LINE message or a usage error."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from batchedit.catalogue import current_catalogue, is_model_slug
from batchedit.manifest.shard import Shard, parse_shard

_DELIMITER_SPELLINGS = {",": ",", ";": ";", "\t": "\t", "tab": "\t", "\\t": "\t"}


def check_delimiter(value: object) -> str:
    if isinstance(value, str) and value.lower() in _DELIMITER_SPELLINGS:
        return _DELIMITER_SPELLINGS[value.lower()]
    raise ValueError(f"delimiter must be ',', ';' or 'tab' (got {value!r})")


def whole_number(name: str, what: str, *, minimum: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be {what} (got {value!r})")
        return value

    return check


def positive_number(name: str, what: str) -> Callable[[object], float]:
    def check(value: object) -> float:
        number = as_number(value)
        if number is None or number <= 0:
            raise ValueError(f"{name} must be a positive number of {what} (got {value!r})")
        return number

    return check


def as_number(value: object) -> float | None:
    """A finite number, from a number or its text (CSV and the command line
    give text); None for anything else, booleans included, for the caller to
    refuse in its own words."""
    if isinstance(value, str):
        with suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def check_bool(name: str) -> Callable[[object], bool]:
    def check(value: object) -> bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{name} must be true or false (got {value!r})")

    return check


#: When a run's uploads are deleted at the service (`uploads: {delete_after: ...}`).
DELETE_AFTER = ("run", "never")


@dataclass(frozen=True, slots=True)
class UploadsPolicy:
    """`uploads:`: delete the run's uploaded inputs at the service at the end of
    each run that finished (`delete_after: run`), or leave them to the
    service's retention (`never`, the default)."""

    delete_after: str = "never"

    @property
    def after_run(self) -> bool:
        return self.delete_after == "run"


@dataclass(frozen=True, slots=True)
class InputsPolicy:
    """`inputs:`: prepare each local input to what the model takes before it
    is uploaded (`prepare: on`, the default: input_prep.py), or send files as
    they are and refuse what the service would (`off`)."""

    prepare: bool = True


#: The `inputs` setting's line in docs/job-files.md (settings.py declares it).
INPUTS_DOC = (
    "`{prepare: off}`: send local images as they are, refusing what the service would; "
    "`on` (default): prepare each to what the model takes before upload (see "
    "[inputs](job-files.md#local-inputs-are-prepared-before-upload-inputs))"
)


def parse_inputs(value: object) -> InputsPolicy:
    if isinstance(value, InputsPolicy):
        return value
    if isinstance(value, dict) and set(value) <= {"prepare"}:
        prepare = value.get("prepare", True)
        if prepare in (True, "on"):
            return InputsPolicy(True)
        if prepare in (False, "off"):
            return InputsPolicy(False)
    raise ValueError(f"inputs must be a mapping {{prepare: on}} (or off), got {value!r}")


def parse_uploads(value: object) -> UploadsPolicy:
    if isinstance(value, UploadsPolicy):
        return value
    if isinstance(value, dict) and set(value) <= {"delete_after"}:
        when = value.get("delete_after") or "never"
        if when in DELETE_AFTER:
            return UploadsPolicy(str(when))
    raise ValueError(f"uploads must be a mapping {{delete_after: run}} (or never), got {value!r}")


def check_path(name: str) -> Callable[[object], Path]:
    def check(value: object) -> Path:
        if isinstance(value, Path):
            return value
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a path (got {value!r})")
        return Path(value.strip())

    return check


def check_model(value: object) -> str:
    """A model slug's shape; whether it is known, or allowed, is checked once all
    settings are read (see _check_model_allowed)."""
    if not isinstance(value, str) or not is_model_slug(value.strip()):
        raise ValueError(current_catalogue().unknown_model_message(str(value).strip()))
    return value.strip()


def check_allow_models(value: object) -> frozenset[str]:
    items = [value] if isinstance(value, str) else value
    if isinstance(items, frozenset | list | tuple) and all(
        isinstance(item, str) and is_model_slug(item.strip()) for item in items
    ):
        return frozenset(str(item).strip() for item in items)
    raise ValueError(f"allow_models must be a list of provider/name model slugs (got {value!r})")


def check_shard(value: object) -> Shard:
    """A Shard, or the text `K/N` (as the command line and a replayed retry give it)."""
    if isinstance(value, Shard):
        return value
    if not isinstance(value, str):
        raise ValueError(f"shard must be K/N, such as 0/4 (got {value!r})")
    return parse_shard(value, environ={})


def check_max_cost(value: object) -> float:
    number = as_number(value)
    if number is None or number < 0:
        raise ValueError(
            f"max_cost must be an amount in the price table's currency, 0 or more (got {value!r})"
        )
    return number
