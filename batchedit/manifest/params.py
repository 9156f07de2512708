"""A row's model parameters: the friendly aspect_ratio and resolution, and `param.*`.

`param.<field>` columns (a YAML `params:` mapping and the job's `defaults:
params:` arrive here under the same names, see yaml_reader.py) name body
fields under the API's own names; aspect_ratio and resolution are mapped to
the names the row's model takes them by. For a catalogued model every name
must be one of its parameters (a typo would otherwise be paid for) and
every value is typed and checked by the catalogue; for a slug passed with
--allow-model they go through as given.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from batchedit.catalogue import ModelSpec, ParamValue, check_value, describe
from batchedit.manifest.sources import RawValue, is_empty
from batchedit.suggest import did_you_mean

PARAM_PREFIX = "param."
FRIENDLY_FIELDS = ("aspect_ratio", "resolution")


class Report(Protocol):
    """Where a problem goes: its message and field, and for a value that differs
    from row to row the kind of problem and that value (records.Problem)."""

    def __call__(
        self, message: str, field: str, /, *, kind: str | None = None, detail: str | None = None
    ) -> None: ...


Note = Callable[[str, str], None]  # (message, field): a value taken in another spelling


@dataclass(frozen=True, slots=True)
class RowParams:
    aspect_ratio: str | None = None
    image_size: str | None = None
    body: tuple[tuple[str, ParamValue], ...] = ()  # API name -> value, sorted by name


def is_param_field(name: str) -> bool:
    return name.startswith(PARAM_PREFIX)


def row_params(
    values: Mapping[str, RawValue],
    spec: ModelSpec | None,
    report: Report,
    note: Note | None = None,
) -> RowParams:
    """The row's body parameters; each problem goes to `report`, each value
    taken in another spelling (`1k` as `1K`) to `note`."""
    given: dict[str, tuple[str, RawValue]] = {}  # API name -> (label, raw value)
    friendly: dict[str, str | None] = dict.fromkeys(FRIENDLY_FIELDS)
    for name in FRIENDLY_FIELDS:
        text = _text(values.get(name))
        if not text:
            continue
        friendly[name] = text
        api_name = _friendly_target(name, spec, report)
        if api_name is not None:
            given[api_name] = (name, text)
    for key, raw in values.items():
        if not is_param_field(key) or is_empty(raw):
            continue
        api_name = key[len(PARAM_PREFIX) :].strip()
        if not api_name:
            report(f"column '{key}' names no parameter; write param.<field>", key)
        elif isinstance(raw, tuple):
            report(f"{key} is a list; give a single value", key)
        elif api_name in given:
            first = given[api_name][0]
            report(f"{first} and {key} both set {api_name}; give one of them", key)
        else:
            given[api_name] = (key, raw)
    body = _checked_body(given, spec, report, note, friendly)
    return RowParams(friendly["aspect_ratio"], friendly["resolution"], tuple(sorted(body.items())))


def _checked_body(
    given: Mapping[str, tuple[str, RawValue]],
    spec: ModelSpec | None,
    report: Report,
    note: Note | None,
    friendly: dict[str, str | None],
) -> dict[str, ParamValue]:
    """Each value checked; one taken in the catalogue's spelling is said, and
    the friendly field carries that spelling on."""
    body: dict[str, ParamValue] = {}
    for name, (label, raw) in given.items():
        value = _checked(name, label, raw, spec, report)
        if value is None:
            continue
        body[name] = value
        text = raw.strip() if isinstance(raw, str) else ""
        if isinstance(value, str) and value != text and value.casefold() == text.casefold():
            if label in friendly:
                friendly[label] = value
            if note is not None:
                note(
                    f"{label} '{text}' taken as '{value}' (allowed values match case "
                    f"included; write '{value}')",
                    label,
                )
    return body


def _friendly_target(name: str, spec: ModelSpec | None, report: Report) -> str | None:
    if spec is None:
        return None
    api_name = spec.friendly.get(name)
    if api_name is None:
        report(f"{name} is not a parameter of {spec.slug}; {_parameter_list(spec)}", name)
    return api_name


def _checked(
    name: str, label: str, raw: RawValue, spec: ModelSpec | None, report: Report
) -> ParamValue | None:
    if spec is None or raw is None or isinstance(raw, tuple):
        return None  # an unknown model is the row's problem already
    if not spec.known:
        return _loose(raw) if label.startswith(PARAM_PREFIX) else raw
    param = spec.params.get(name)
    if param is None:
        hint = did_you_mean(label, spec.params, prefix=PARAM_PREFIX) or _parameter_list(spec)
        report(f"unknown parameter '{label}' for {spec.slug}; {hint}", label)
        return None
    try:
        return check_value(param, raw, where=spec.slug)
    except ValueError as exc:
        kind = f"{label} not allowed for {spec.slug}; allowed: {describe(param)}"
        report(f"{label} {exc}", label, kind=kind, detail=str(raw).strip())
        return None


def _parameter_list(spec: ModelSpec) -> str:
    names = [f"param.{name}" for name in spec.params]
    names[:0] = [f"{friendly} ({api})" for friendly, api in spec.friendly.items()]
    if not names:
        return "it takes no parameters"
    return "its parameters: " + ", ".join(names)


def _loose(raw: str | int | float | bool) -> ParamValue:
    """A value for a model the catalogue does not know: a CSV cell that reads as a
    JSON number or true/false is sent as one, anything else as text."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, float) and not math.isfinite(value):
        return text
    return value if isinstance(value, int | float | bool) else text


def _text(value: RawValue) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return "|".join(value).strip()
    return str(value).strip()
