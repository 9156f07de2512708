"""Prompt templates: `{column}` takes that row's value; `{{` and `}}` are braces.

A column the template names must be there and, in a prompt, hold a value:
an empty cell would send "Put the  cap on white", so the row is invalid.
`{column?}` marks a column optional: empty (or absent), it reads as nothing.

Deliberately smaller than str.format: no attributes, indexes, conversions or
format specs, so a prompt can never reach into Python objects, and every
mistake is reported per row in words a spreadsheet user can act on.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping

from batchedit.suggest import did_you_mean

_FORMATTER = string.Formatter()
_MAX_COLUMNS_SHOWN = 20


class TemplateError(ValueError):
    """A template that cannot be filled in; the message says how to fix it."""


OPTIONAL_MARK = "?"


def _parse(template: str) -> list[tuple[str, str | None]]:
    """(literal text, column name or None) pairs, checked for forbidden forms;
    an optional column's name keeps its trailing '?'."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise TemplateError(_unbalanced(str(exc))) from exc
    parts: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is not None:
            _check_name(name, spec, conversion)
        parts.append((literal, name))
    return parts


def _parse_as(template: str, what: str) -> list[tuple[str, str | None]]:
    try:
        return _parse(template)
    except TemplateError as exc:
        raise TemplateError(f"{what} {exc}") from None


def _unbalanced(reason: str) -> str:
    brace = "}" if "'}'" in reason and "before" not in reason else "{"
    return (
        f"template has an unbalanced '{brace}'; "
        "write '{{' or '}}' for a literal brace, '{column}' for a column's value"
    )


def _check_name(name: str, spec: str | None, conversion: str | None) -> None:
    if not name:
        raise TemplateError(
            "template has an empty '{}'; put a column name inside, "
            "or write '{{' and '}}' for literal braces"
        )
    if conversion:
        raise TemplateError(
            f"template has '{{{name}!{conversion}}}'; only plain '{{column}}' is allowed"
        )
    if spec:
        raise TemplateError(
            f"template has '{{{name}:{spec}}}'; only plain '{{column}}' is allowed "
            "(write '{{' and '}}' for literal braces)"
        )
    if name == OPTIONAL_MARK or name.count(OPTIONAL_MARK) > 1 or OPTIONAL_MARK in name[:-1]:
        raise TemplateError(
            f"template has '{{{name}}}'; write '{{column}}', or '{{column?}}' for a column "
            "that may be empty"
        )
    if "." in name or "[" in name:
        raise TemplateError(
            f"template has '{{{name}}}'; only plain column names are allowed, without '.' or '['"
        )


def template_fields(template: str, *, what: str = "prompt") -> tuple[str, ...]:
    """The column names a template uses, each once, in order of first use."""
    names: dict[str, None] = {}
    for _, name in _parse_as(template, what):
        if name is not None:
            names.setdefault(name.removesuffix(OPTIONAL_MARK), None)
    return tuple(names)


def render_value(value: object) -> str:
    """How a value reads inside a prompt: None is empty, a list reads as in a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, tuple | list):
        return "|".join(render_value(item) for item in value)
    return str(value)


def render_template(
    template: str,
    values: Mapping[str, object],
    *,
    what: str = "prompt",
    render: Callable[[object], str] | None = None,
    require_values: bool = False,
) -> str:
    """Fill in a template from one row's values (its columns merged over the defaults).
    `what` names the template in messages; `render` turns a value into text
    (output names fold each value into a safe file name). With `require_values`
    (prompts), a named column that is empty in the row is a problem unless the
    template writes it `{column?}`."""
    pieces: list[str] = []
    for literal, marked in _parse_as(template, what):
        pieces.append(literal)
        if marked is None:
            continue
        name = marked.removesuffix(OPTIONAL_MARK)
        optional = name != marked
        value = values.get(name)
        if name not in values and not optional:
            hint = did_you_mean(name, values)
            raise TemplateError(
                f"{what} template names column '{name}', which this row does not have "
                + (f"({hint})" if hint else f"(columns: {_list_columns(values)})")
            )
        if optional and not render_value(value).strip():
            continue
        if require_values and not render_value(value).strip():
            raise TemplateError(
                f"{what} template names column '{name}', which is empty in this row; fill it "
                f"in, or write '{{{name}?}}' in the template if it may be empty"
            )
        pieces.append((render or render_value)(value))
    return "".join(pieces)


def _list_columns(names: Iterable[str]) -> str:
    shown = list(names)
    if not shown:
        return "none"
    text = ", ".join(shown[:_MAX_COLUMNS_SHOWN])
    return text + ", ..." if len(shown) > _MAX_COLUMNS_SHOWN else text
