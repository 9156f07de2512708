"""The catalogue's records: what one edit model accepts, read from its data file.

A model's data file (`data/PROVIDER--NAME.json`) says, for each thing the
public documentation leaves open, that it is open: a `null` bound or list of
values, an absent `default`. Such a rule is not checked here; the service
decides. So nothing in these records is a guess dressed up as a fact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: A value of a body parameter, as JSON carries it.
ParamValue = str | int | float | bool


class ParamKind(StrEnum):
    ENUM = "enum"  # one of `choices` (None: the values are not documented)
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    STRING = "string"
    SIZE = "size"  # "WxH" or "W*H" in pixels, within `size` bounds, or a keyword
    ANY = "any"  # the type is not documented: sent as given


@dataclass(frozen=True, slots=True)
class SizeRule:
    """`W{separator}H` pixel sizes; every bound None is undocumented."""

    separator: str  # "x" or "*"
    min_pixels: int | None = None
    max_pixels: int | None = None
    min_side_px: int | None = None
    max_side_px: int | None = None
    step_px: int | None = None  # both sides a multiple of it
    min_aspect: float | None = None  # width / height
    max_aspect: float | None = None
    keywords: tuple[str, ...] = ()  # also accepted as they are (Wan's 1K, 2K)


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One body parameter under its API name."""

    name: str
    kind: ParamKind
    choices: tuple[str, ...] | None = None  # ENUM only
    minimum: float | None = None  # INTEGER, NUMBER
    maximum: float | None = None
    max_chars: int | None = None  # STRING
    size: SizeRule | None = None  # SIZE
    default: ParamValue | None = None  # None: no documented default
    description: str = ""


@dataclass(frozen=True, slots=True)
class ImagesSpec:
    """Which body field carries the input images, and how many it takes."""

    field: str  # "image" or "images"
    min_count: int | None = 1
    max_count: int | None = None  # None: not documented
    as_string: bool = False  # a single image sent as a string, not a list (Kling)
    field_documented: bool = True
    https_only: bool = False
    max_bytes: int | None = None


#: The media endpoint's cap on one upload (modellix-api.md): every local input goes through it.
UPLOAD_MAX_BYTES = 16 * 1024 * 1024
#: What the media endpoint takes, by content.
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP")


@dataclass(frozen=True, slots=True)
class InputLimits:
    """What the service takes of one input image, so a local file is prepared
    to fit before it is uploaded (`inputs: {prepare: on}`): the bytes of one
    file (never above the upload cap), its long side or pixels where the
    provider publishes them (None: not documented), the formats it reads.
    `source` and `as_of` say where the limits were read and when."""

    max_bytes: int = UPLOAD_MAX_BYTES
    max_long_side_px: int | None = None
    max_pixels: int | None = None
    formats: tuple[str, ...] = UPLOAD_FORMATS
    source: str = "modellix-api.md, media upload"
    as_of: str = ""

    @property
    def key(self) -> str:
        """The limits as text, part of a prepared file's cache key."""
        return (
            f"b{self.max_bytes}-l{self.max_long_side_px or 0}-p{self.max_pixels or 0}-"
            + "+".join(self.formats)
        )


@dataclass(frozen=True, slots=True)
class OutputsSpec:
    """How many images one task yields, and whether each one is paid for."""

    count: int | None = 1  # without the count parameter; None: not documented
    param: str | None = None  # the parameter that sets the count ("n")
    max_count: int | None = None
    #: The count parameter counts only when these parameters have these values.
    when: tuple[tuple[str, ParamValue], ...] = ()
    at_most: bool = False  # the parameter is an upper bound (Seedream's sequential mode)
    bills_per_output: bool = False


@dataclass(frozen=True, slots=True)
class OutputSizeRule:
    """How a result's pixel size follows from the body, where that is known.

    `size_param`: the body's size is the result's (`param`, "WxH").
    `ratio_grid`: the provider's published table, size tier -> ratio -> (width,
    height); the sides vary with the ratio and the area stays about constant
    per tier (Gemini's 1K is about 1 MP at every ratio). Without a
    `size_param` the grid has one tier and every request gets it. `source`
    and `as_of` say where the table was read and when."""

    rule: str  # "ratio_grid", "size_param" or "unknown"
    param: str | None = None  # size_param: the `size` parameter
    ratio_param: str | None = None  # ratio_grid
    size_param: str | None = None
    grid: Mapping[str, Mapping[str, tuple[int, int]]] = field(default_factory=dict)
    source: str = ""
    as_of: str = ""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One edit model. `known` is False for a slug passed with --allow-model:
    then nothing but the prompt and images is checked."""

    slug: str
    submit_path: str
    images: ImagesSpec
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    #: Friendly manifest fields (aspect_ratio, resolution) -> the API name the model uses.
    friendly: Mapping[str, str] = field(default_factory=dict)
    outputs: OutputsSpec = field(default_factory=OutputsSpec)
    output_size: OutputSizeRule = field(default_factory=lambda: OutputSizeRule("unknown"))
    input_limits: InputLimits = InputLimits()
    prompt_field: str = "prompt"
    prompt_max_chars: int | None = None
    description: str = ""
    docs_url: str = ""
    type: str = "image-to-image"
    as_of: str = ""  # the date the packaged data was last checked, YYYY-MM-DD
    notes: tuple[str, ...] = ()
    known: bool = True
    source: str = "packaged"  # or "cached schema"

    @property
    def provider(self) -> str:
        return self.slug.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.slug.split("/", 1)[1]


def spec_from_data(data: Mapping[str, Any]) -> ModelSpec:
    """A ModelSpec from a data file's JSON; KeyError or ValueError if malformed
    (a packaging mistake, caught by the tests)."""
    slug = str(data["slug"])
    prompt = data.get("prompt") or {}
    return ModelSpec(
        slug=slug,
        submit_path=str(data.get("submit_path") or f"/api/v1/{slug}/async"),
        images=_images(data["images"]),
        params={name: param_from_data(name, p) for name, p in data.get("params", {}).items()},
        friendly=dict(data.get("friendly") or {}),
        outputs=_outputs(data.get("outputs") or {}),
        output_size=_output_size(data.get("output_size") or {}),
        input_limits=_input_limits(data.get("input_limits") or {}),
        prompt_field=str(prompt.get("field", "prompt")),
        prompt_max_chars=prompt.get("max_chars"),
        description=str(data.get("description", "")),
        docs_url=str(data.get("docs_url", "")),
        type=str(data.get("type", "image-to-image")),
        as_of=str(data.get("as_of", "")),
        notes=tuple(data.get("notes") or ()),
    )


def param_from_data(name: str, data: Mapping[str, Any]) -> ParamSpec:
    kind = ParamKind(data["type"])
    values = data.get("values")
    size = None
    if kind is ParamKind.SIZE:
        size = SizeRule(
            separator=str(data.get("separator", "x")),
            min_pixels=data.get("min_pixels"),
            max_pixels=data.get("max_pixels"),
            min_side_px=data.get("min_side"),
            max_side_px=data.get("max_side"),
            step_px=data.get("step"),
            min_aspect=data.get("min_aspect"),
            max_aspect=data.get("max_aspect"),
            keywords=tuple(data.get("keywords") or ()),
        )
    return ParamSpec(
        name=name,
        kind=kind,
        choices=None if values is None else tuple(str(v) for v in values),
        minimum=data.get("min"),
        maximum=data.get("max"),
        max_chars=data.get("max_chars"),
        size=size,
        default=data.get("default"),
        description=str(data.get("description", "")),
    )


def _images(data: Mapping[str, Any]) -> ImagesSpec:
    field_name = str(data["field"])
    if field_name not in ("image", "images"):
        raise ValueError(f"images.field must be image or images, not {field_name!r}")
    return ImagesSpec(
        field=field_name,
        min_count=data.get("min"),
        max_count=data.get("max"),
        as_string=data.get("shape", "array") == "string",
        field_documented=bool(data.get("field_documented", True)),
        https_only=bool(data.get("https_only", False)),
        max_bytes=data.get("max_bytes"),
    )


def _input_limits(data: Mapping[str, Any]) -> InputLimits:
    """The model's input limits; the upload cap bounds whatever the provider says."""
    formats = tuple(str(f).upper() for f in data.get("formats") or UPLOAD_FORMATS)
    if not set(formats) <= set(UPLOAD_FORMATS):
        raise ValueError(f"input_limits.formats: the media endpoint takes {UPLOAD_FORMATS}")
    return InputLimits(
        max_bytes=min(int(data.get("max_bytes") or UPLOAD_MAX_BYTES), UPLOAD_MAX_BYTES),
        max_long_side_px=data.get("max_long_side"),
        max_pixels=data.get("max_pixels"),
        formats=formats,
        source=str(data.get("source", "modellix-api.md, media upload")),
        as_of=str(data.get("as_of", "")),
    )


def _outputs(data: Mapping[str, Any]) -> OutputsSpec:
    param = data.get("param")
    count = data.get("count", data.get("default"))
    return OutputsSpec(
        count=count if count is not None or param is not None else 1,
        param=param,
        max_count=data.get("max"),
        when=tuple((str(k), v) for k, v in (data.get("when") or {}).items()),
        at_most=bool(data.get("at_most", False)),
        bills_per_output=bool(data.get("bills_per_output", False)),
    )


def _output_size(data: Mapping[str, Any]) -> OutputSizeRule:
    rule = str(data.get("rule", "unknown"))
    if rule not in ("ratio_grid", "size_param", "unknown"):
        raise ValueError(f"output_size.rule {rule!r}")
    grid = {
        str(tier): {str(ratio): _pixel_size(text) for ratio, text in sizes.items()}
        for tier, sizes in (data.get("grid") or {}).items()
    }
    if rule == "ratio_grid" and (not grid or (data.get("size_param") is None and len(grid) != 1)):
        raise ValueError("output_size.grid: one tier per size, or exactly one without size_param")
    return OutputSizeRule(
        rule=rule,
        param=data.get("param"),
        ratio_param=data.get("ratio_param"),
        size_param=data.get("size_param"),
        grid=grid,
        source=str(data.get("source", "")),
        as_of=str(data.get("as_of", "")),
    )


def _pixel_size(text: object) -> tuple[int, int]:
    """`"1584x672"` -> (1584, 672); ValueError for anything else."""
    width, sep, height = str(text).partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or "0" in (width[:1], height[:1]):
        raise ValueError(f"output_size.grid: {text!r} is not WIDTHxHEIGHT")
    return int(width), int(height)
