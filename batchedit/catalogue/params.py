"""One parameter value against its rule: typed, checked, or refused with the allowed values.

The manifest's side reads text (a CSV cell) or YAML scalars, so `check_value`
turns "42" into 42 for an integer and "true" into True for a boolean; the
simulator's side checks the JSON body as sent and passes `strict=True`, so
a string where the API wants a number is a 400 there, as at the service.
"""

from __future__ import annotations

import contextlib
import math
import re

from batchedit.catalogue.spec import ParamKind, ParamSpec, ParamValue, SizeRule
from batchedit.suggest import did_you_mean, same_but_case

_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
_INTEGER = re.compile(r"[+-]?\d+")
_SIDE = r"([1-9]\d{0,5})"


def check_value(
    param: ParamSpec, raw: object, *, strict: bool = False, where: str = ""
) -> ParamValue:
    """The value to send; ValueError with a message naming the allowed values
    (and `where`, the model, when given), to follow the field's name."""
    kind = param.kind
    for_ = f" for {where}" if where else ""
    if kind is ParamKind.INTEGER:
        return _check_number(param, _as_int(param, raw, strict, for_), for_)
    if kind is ParamKind.NUMBER:
        return _check_number(param, _as_float(param, raw, strict, for_), for_)
    if kind is ParamKind.BOOLEAN:
        return _as_bool(raw, strict, for_)
    if kind is ParamKind.ANY:
        if isinstance(raw, str | int | float | bool):
            return raw
        raise ValueError(f"must be a single value{for_} (got {raw!r})")
    if not isinstance(raw, str) or (strict and not raw):
        raise ValueError(f"must be {describe(param)}{for_} (got {raw!r})")
    text = raw if strict else raw.strip()
    if kind is ParamKind.ENUM:
        if param.choices is not None and text not in param.choices:
            # A manifest's `1k` is the `1K` it names, when no other value folds to
            # it too (the caller says it took it); the service's JSON gets no such grace.
            same = None if strict else same_but_case(text, param.choices)
            if same is not None:
                return same
            hint = did_you_mean(text, param.choices)
            hint = f" {hint}" if hint else ""
            raise ValueError(
                f"'{text}' is not allowed{for_};{hint} allowed: {', '.join(param.choices)}"
            )
        return text
    if kind is ParamKind.SIZE:
        assert param.size is not None  # spec_from_data builds a rule for every size
        check_size(param.size, text, where)
        return text
    if param.max_chars is not None and len(text) > param.max_chars:
        raise ValueError(f"is {len(text)} characters{for_}; at most {param.max_chars} are allowed")
    return text


def describe(param: ParamSpec) -> str:
    """What the parameter accepts, in words, for messages and `batchedit models`."""
    kind = param.kind
    if kind is ParamKind.ENUM:
        if param.choices is None:
            return "text (allowed values not documented; the service decides)"
        return "one of " + ", ".join(param.choices)
    if kind in (ParamKind.INTEGER, ParamKind.NUMBER):
        what = "a whole number" if kind is ParamKind.INTEGER else "a number"
        return what + _range_words(param.minimum, param.maximum)
    if kind is ParamKind.BOOLEAN:
        return "true or false"
    if kind is ParamKind.SIZE:
        assert param.size is not None
        return describe_size(param.size)
    if kind is ParamKind.STRING:
        limit = "" if param.max_chars is None else f" of at most {param.max_chars} characters"
        return "text" + limit
    return "any value (type not documented; sent as given)"


def describe_size(rule: SizeRule) -> str:
    sep = rule.separator
    words = [f"W{sep}H in pixels (e.g. 2048{sep}2048)"]
    if rule.min_pixels is not None or rule.max_pixels is not None:
        words.append("total pixels" + _range_words(rule.min_pixels, rule.max_pixels))
    if rule.min_side_px is not None or rule.max_side_px is not None:
        words.append("each side" + _range_words(rule.min_side_px, rule.max_side_px))
    if rule.step_px is not None:
        words.append(f"sides multiples of {rule.step_px}")
    if rule.min_aspect is not None or rule.max_aspect is not None:
        words.append("width/height" + _range_words(rule.min_aspect, rule.max_aspect))
    if rule.keywords:
        words.append("or one of " + ", ".join(rule.keywords))
    if len(words) == 1 and not rule.keywords:
        words.append("bounds not documented (the service decides)")
    return ", ".join(words)


def parse_size(text: str, separator: str) -> tuple[int, int] | None:
    """`"2048x1152"` -> (2048, 1152) for separator "x"; None if not that shape."""
    match = re.fullmatch(_SIDE + re.escape(separator) + _SIDE, text)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def check_size(rule: SizeRule, text: str, where: str = "") -> tuple[int, int] | None:
    """The (width, height) of a W{sep}H size within the rule's bounds, None for a
    keyword; ValueError otherwise, saying which bound failed."""
    if text in rule.keywords:
        return None
    for_ = f" for {where}" if where else ""
    size = parse_size(text, rule.separator)
    if size is None:
        other = "*" if rule.separator == "x" else "x"
        hint = f" (W{rule.separator}H, not W{other}H)" if other in text else ""
        raise ValueError(f"'{text}' is not a size{for_}{hint}; allowed: {describe_size(rule)}")
    width, height = size
    problem = _size_problem(rule, width, height)
    if problem is not None:
        raise ValueError(f"'{text}' {problem}{for_}; allowed: {describe_size(rule)}")
    return size


def _size_problem(rule: SizeRule, width: int, height: int) -> str | None:
    pixels = width * height
    if rule.min_pixels is not None and pixels < rule.min_pixels:
        return f"has {pixels} pixels, fewer than {rule.min_pixels}"
    if rule.max_pixels is not None and pixels > rule.max_pixels:
        return f"has {pixels} pixels, more than {rule.max_pixels}"
    for side in (width, height):
        if rule.min_side_px is not None and side < rule.min_side_px:
            return f"has a side of {side} px, below {rule.min_side_px}"
        if rule.max_side_px is not None and side > rule.max_side_px:
            return f"has a side of {side} px, above {rule.max_side_px}"
        if rule.step_px is not None and side % rule.step_px:
            return f"has a side of {side} px, not a multiple of {rule.step_px}"
    aspect = width / height
    if rule.min_aspect is not None and aspect < rule.min_aspect:
        return f"is narrower than width/height {_num(rule.min_aspect)}"
    if rule.max_aspect is not None and aspect > rule.max_aspect:
        return f"is wider than width/height {_num(rule.max_aspect)}"
    return None


def _range_words(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" from {_num(low)} to {_num(high)}"
    if low is not None:
        return f" of at least {_num(low)}"
    if high is not None:
        return f" of at most {_num(high)}"
    return " (bounds not documented)"


def _num(value: float) -> str:
    """A bound as written in the docs: 2147483647, not 2.14748e+09."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _as_int(param: ParamSpec, raw: object, strict: bool, for_: str) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, float) and not strict and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and not strict and _INTEGER.fullmatch(raw.strip()):
        return int(raw.strip())
    raise ValueError(f"must be {describe(param)}{for_} (got {raw!r})")


def _as_float(param: ParamSpec, raw: object, strict: bool, for_: str) -> float:
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        return raw
    if isinstance(raw, str) and not strict:
        with contextlib.suppress(ValueError):  # not a number: refused below, named
            value = float(raw.strip())
            if math.isfinite(value):
                return value
    raise ValueError(f"must be {describe(param)}{for_} (got {raw!r})")


def _check_number(param: ParamSpec, value: float, for_: str) -> int | float:
    low, high = param.minimum, param.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{_num(value)} is out of range{for_}; allowed: {describe(param)}")
    return value


def _as_bool(raw: object, strict: bool, for_: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and not strict:
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"must be true or false{for_} (got {raw!r})")
