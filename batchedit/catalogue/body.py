"""The request body of one edit, built for its model and checked against it.

`build_body` is the one place that knows which field carries the prompt and
the images (`image` or `images`, a list or, for a one-image model, a string);
`check_body` is what the simulator answers 400 from. Both read the same
ModelSpec, so a body batchedit builds from a valid row always passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from batchedit.catalogue.params import check_value
from batchedit.catalogue.spec import ModelSpec, ParamValue


class BodyError(ValueError):
    """A body the model would refuse; the message names the field and what it takes."""


@dataclass(frozen=True, slots=True)
class CheckedBody:
    prompt: str
    images: tuple[str, ...]
    params: Mapping[str, ParamValue]


def build_body(
    spec: ModelSpec,
    prompt: str,
    image_urls: Sequence[str],
    params: Mapping[str, ParamValue],
) -> dict[str, Any]:
    """The JSON body of a submit: prompt and images under the model's field names,
    then the row's parameters (already under their API names)."""
    images: str | list[str] = list(image_urls)
    if spec.images.as_string and len(image_urls) == 1:
        images = image_urls[0]
    return {spec.prompt_field: prompt, spec.images.field: images, **params}


def check_body(spec: ModelSpec, body: object) -> CheckedBody:
    """The body's parts if `spec` accepts it; BodyError naming the first field it refuses."""
    if not isinstance(body, dict):
        raise BodyError("the body must be a JSON object")
    prompt = body.get(spec.prompt_field)
    if not isinstance(prompt, str) or not prompt:
        raise BodyError(f"{spec.prompt_field} is required and must be a non-empty string")
    if spec.prompt_max_chars is not None and len(prompt) > spec.prompt_max_chars:
        raise BodyError(
            f"{spec.prompt_field} is {len(prompt)} characters; {spec.slug} takes at most "
            f"{spec.prompt_max_chars}"
        )
    images = _check_images(spec, body.get(spec.images.field))
    params: dict[str, ParamValue] = {}
    for name, value in body.items():
        if name in (spec.prompt_field, spec.images.field):
            continue
        param = spec.params.get(name)
        if param is None:
            allowed = ", ".join([spec.prompt_field, spec.images.field, *spec.params])
            raise BodyError(f"unknown field {name!r} for {spec.slug}; allowed: {allowed}")
        try:
            params[name] = check_value(param, value, strict=True)
        except ValueError as exc:
            raise BodyError(f"{name} {exc}") from None
    return CheckedBody(prompt, images, params)


def _check_images(spec: ModelSpec, value: object) -> tuple[str, ...]:
    rule = spec.images
    entries = [value] if isinstance(value, str) else value
    low = rule.min_count or 1
    high = rule.max_count
    if not isinstance(entries, list) or not low <= len(entries) <= (high or len(entries)):
        count = f"{low} to {high}" if high is not None else f"at least {low}"
        raise BodyError(f"{rule.field} is required: an array of {count} image URLs for {spec.slug}")
    for index, entry in enumerate(entries):
        if not isinstance(entry, str) or not entry:
            raise BodyError(f"{rule.field}[{index}] must be an image URL string")
    return tuple(entries)
