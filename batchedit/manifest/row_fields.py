"""A row's fields checked one by one: what RowValidator (rows.py) asks of each.

Each check adds its problems to the row's `Checked` and returns what it could
read, so one pass finds every problem of a row. Cheap and offline: no file
is opened here (local images are rows.py's).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from batchedit.catalogue import ModelSpec
from batchedit.manifest.columns import ColumnMap
from batchedit.manifest.params import is_param_field
from batchedit.manifest.reader import RawValue
from batchedit.manifest.sources import is_empty
from batchedit.manifest.template import TemplateError, render_template
from batchedit.records import FieldValue, ImageRef, Problem

MAX_IMAGE_COLUMNS = 14
IMAGE_COLUMNS = tuple(f"image_{n}" for n in range(1, MAX_IMAGE_COLUMNS + 1))
KNOWN_FIELDS = frozenset(
    ("id", "prompt", "image", "aspect_ratio", "resolution", "model") + IMAGE_COLUMNS
)
_SINGLE_FIELDS = ("id", "prompt", "model", "aspect_ratio", "resolution")
_IMAGE_COLUMN = re.compile(r"image_(\d+)")


@dataclass(slots=True)
class Checked:
    """What one row's check has worked out so far, and what went wrong."""

    file: str
    line: int
    problems: list[Problem] = field(default_factory=list)

    def add(
        self,
        message: str,
        field_name: str | None = None,
        *,
        kind: str | None = None,
        detail: str | None = None,
    ) -> None:
        """A problem; `kind` and `detail` when the message names something that
        differs from row to row (a file, a value), so such rows group as one."""
        self.problems.append(Problem(self.file, self.line, message, field_name, kind, detail))


def text_of(value: RawValue) -> str:
    """A single field as text; a list reads as its items joined by '|'."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return "|".join(value).strip()
    return str(value).strip()


def render_id(columns: ColumnMap, values: dict[str, RawValue], checked: Checked) -> None:
    """The job's id template, filled in from the row, as the row's id."""
    try:
        rendered = columns.render_id(values)
    except TemplateError as exc:
        checked.add(str(exc), "id")
        rendered = ""
    if rendered is not None:
        values["id"] = rendered


def check_single_values(values: Mapping[str, RawValue], checked: Checked) -> None:
    for name in _SINGLE_FIELDS:
        if isinstance(values.get(name), tuple):
            checked.add(f"{name} is a list; give a single value", name)


def check_prompt(values: Mapping[str, RawValue], checked: Checked) -> str | None:
    """The rendered prompt, or None when it cannot be rendered."""
    template = values.get("prompt")
    if is_empty(template):
        checked.add("missing prompt: give a prompt column, or a prompt in defaults:", "prompt")
        return None
    try:
        prompt = render_template(text_of(template), values, require_values=True).strip()
    except TemplateError as exc:
        checked.add(str(exc), "prompt")
        return None
    if not prompt:
        checked.add("prompt is empty once the template is filled in from this row", "prompt")
    return prompt


def image_list(values: Mapping[str, RawValue], checked: Checked) -> tuple[str, ...]:
    """Every image as given: `image` (split on '|', or a YAML list), then image_1..14."""
    given: list[str] = []
    image = values.get("image")
    parts = image if isinstance(image, tuple) else text_of(image).split("|")
    given.extend(part.strip() for part in parts if part.strip())
    for column in IMAGE_COLUMNS:
        value = values.get(column)
        if isinstance(value, tuple):
            checked.add(f"{column} takes one image; list several under image", column)
        elif not is_empty(value):
            given.append(text_of(value))
    return tuple(given)


def check_count(count: int, spec: ModelSpec, checked: Checked) -> None:
    most = spec.images.max_count
    if count == 0:
        checked.add(
            "no input image: give image (an https:// URL or a local file) or image_1..image_14",
            "image",
        )
    elif most is not None and count > most:
        checked.add(f"{count} images, but {spec.slug} takes at most {most}", "image")


def check_image_rules(
    given: tuple[str, ...], images: tuple[ImageRef | None, ...], spec: ModelSpec, checked: Checked
) -> None:
    """What the model asks of each image: https URLs only (a local file is uploaded
    and sent as one), and a size cap on the files of `images` it will read."""
    rule = spec.images
    if rule.https_only and any(text.lower().startswith("data:") for text in given):
        checked.add(
            f"{spec.slug} takes https:// image URLs only, not data: URIs; "
            "give the image as a URL or a local file",
            "image",
        )
    if rule.max_bytes is None:
        return
    for image in images:
        if image is not None and image.path is not None:
            try:
                size = image.path.stat().st_size
            except OSError:
                continue  # gone since its check: the upload will say so
            if size > rule.max_bytes:
                checked.add(
                    f"image file '{image.given}' is {size} bytes; {spec.slug} reads images "
                    f"of at most {rule.max_bytes} bytes",
                    "image",
                    kind=f"image file larger than the {rule.max_bytes} bytes {spec.slug} reads",
                    detail=f"{image.given}, {size} bytes",
                )


def check_prompt_length(prompt: str | None, spec: ModelSpec, checked: Checked) -> None:
    most = spec.prompt_max_chars
    if prompt is not None and most is not None and len(prompt) > most:
        checked.add(
            f"prompt is {len(prompt)} characters once filled in; {spec.slug} takes at most {most}",
            "prompt",
            kind=f"prompt longer than the {most} characters {spec.slug} takes, once filled in",
            detail=f"{len(prompt)} characters",
        )


def row_fields(values: Mapping[str, RawValue], checked: Checked) -> dict[str, FieldValue]:
    """The other columns, for the report; lists and stray image_N columns are flagged."""
    fields: dict[str, FieldValue] = {}
    for name, value in values.items():
        if name in KNOWN_FIELDS or is_param_field(name):
            continue
        match = _IMAGE_COLUMN.fullmatch(name)
        if match and int(match.group(1)) > MAX_IMAGE_COLUMNS:
            checked.add(
                f"column {name}: at most {MAX_IMAGE_COLUMNS} image columns "
                "(image_1..image_14) are read",
                name,
            )
        if isinstance(value, tuple):
            checked.add(f"field '{name}' is a list; only image may list several values", name)
            continue
        fields[name] = value
    return fields
