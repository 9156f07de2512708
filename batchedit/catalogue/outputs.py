"""What one task yields: how many images, and of what pixel size, where that is known.

Both follow from the body the row sends: `n` (or Seedream's sequential
count) for the number, the size or ratio parameters for the pixels. The plan
and the cost guard count images from here; the simulator renders them; the
pollers refuse a task's answer listing more results than `max_outputs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from batchedit.catalogue.params import parse_size
from batchedit.catalogue.spec import ModelSpec, ParamValue


@dataclass(frozen=True, slots=True)
class OutputCount:
    """Images a task makes: `count` exactly, or at most when `at_most`; None when
    the model's documentation does not say (the plan then counts one)."""

    count: int | None
    at_most: bool = False

    @property
    def planned(self) -> int:
        return 1 if self.count is None else self.count


def outputs_for(spec: ModelSpec, params: Mapping[str, ParamValue]) -> OutputCount:
    outputs = spec.outputs
    active = outputs.param is not None and all(
        params.get(name, _default(spec, name)) == value for name, value in outputs.when
    )
    if not active or outputs.param is None:
        return OutputCount(outputs.count)
    value = params.get(outputs.param)
    if isinstance(value, int) and not isinstance(value, bool):
        return OutputCount(value, outputs.at_most)
    if outputs.when:  # switched on, count not given: as many as the model may make
        return OutputCount(outputs.max_count, at_most=True)
    return OutputCount(outputs.count)


def billed_units(spec: ModelSpec, params: Mapping[str, ParamValue]) -> int:
    """What one submit is billed for: its output count where the model bills per
    output (at most, for an upper bound), else one task's worth. The plan's
    paid images and the run's spend both count with it."""
    return outputs_for(spec, params).planned if spec.outputs.bills_per_output else 1


#: Results a task may list when nothing documents its count (a model sent with
#: --allow-model): the most any catalogued model makes (15, Seedream's
#: sequential mode), rounded up.
UNDOCUMENTED_MAX_OUTPUTS = 16


def max_outputs(spec: ModelSpec, params: Mapping[str, ParamValue]) -> int:
    """The most result images one task of this request may list: its count
    (`n`, or the model's fixed count), else the model's maximum. A task's answer
    listing more does not follow the protocol, and none of it is fetched."""
    if not spec.known:
        count = params.get("n")
        if isinstance(count, int) and not isinstance(count, bool) and count > 0:
            return count
        return UNDOCUMENTED_MAX_OUTPUTS
    counted = outputs_for(spec, params)
    if counted.count is not None:
        return counted.count
    return spec.outputs.max_count or UNDOCUMENTED_MAX_OUTPUTS


def output_pixel_size(spec: ModelSpec, params: Mapping[str, ParamValue]) -> tuple[int, int] | None:
    """(width, height) of each result, when the catalogue can tell: the size
    the body names, or the provider's grid entry for its ratio and size."""
    rule = spec.output_size
    if rule.rule == "size_param" and rule.param is not None:
        text = params.get(rule.param, _default(spec, rule.param))
        param = spec.params.get(rule.param)
        separator = param.size.separator if param is not None and param.size else "x"
        if isinstance(text, str):
            return parse_size(text, separator) or parse_size(text, "*" if separator == "x" else "x")
        return None
    if rule.rule == "ratio_grid" and rule.ratio_param:
        ratio = params.get(rule.ratio_param, _default(spec, rule.ratio_param))
        if rule.size_param is None:
            tier = next(iter(rule.grid.values()), None)  # one grid for every request
        else:
            size = params.get(rule.size_param, _default(spec, rule.size_param))
            tier = rule.grid.get(str(size)) if size is not None else None
        if tier is None or not isinstance(ratio, str):
            return None
        return tier.get(ratio)
    return None


def parse_ratio(aspect_ratio: str) -> tuple[int, int]:
    """`"4:5"` -> `(4, 5)`; raises ValueError for anything else."""
    left, sep, right = aspect_ratio.partition(":")
    if not sep:
        raise ValueError(f"not an aspect ratio: {aspect_ratio!r}")
    width, height = int(left), int(right)
    if width <= 0 or height <= 0:
        raise ValueError(f"not an aspect ratio: {aspect_ratio!r}")
    return width, height


def ratio_size(aspect_ratio: str, long_side_px: int) -> tuple[int, int]:
    """Pixel size with the long side fixed and the short side rounded from the ratio."""
    ratio_w, ratio_h = parse_ratio(aspect_ratio)
    if ratio_w >= ratio_h:
        return long_side_px, max(1, round(long_side_px * ratio_h / ratio_w))
    return max(1, round(long_side_px * ratio_w / ratio_h)), long_side_px


def _default(spec: ModelSpec, name: str) -> ParamValue | None:
    param = spec.params.get(name)
    return None if param is None else param.default
