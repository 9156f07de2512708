"""The JSONL manifest reader: one JSON object a line, in either of two forms.

- batchedit's own row: `{"id": "a", "prompt": "...", "image": [...], "params": {...}}`,
  the fields of a CSV row, with `params` read as `param.<name>` fields;
- the official Modellix CLI's batch task: `{"modelSlug": "...", "body": {...}}`,
  so a file written for `modellix model batch` runs as it is. The body's
  `prompt` and `image` (or `images`) become the row's; every other body
  field a `param.<field>`. The id is the line's `id` key when it has one,
  else its line number; any other key is ignored, as the official CLI
  ignores it.

Streamed a line at a time; a line that is not a JSON object, or holds a
value no row field can take, is that line's problem, never the file's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import closing
from pathlib import Path

from batchedit.manifest.sources import RawRow, RawValue, decoded_lines

JSONL_SUFFIXES = (".jsonl", ".ndjson")
_IMAGE_FIELDS = ("image", "images")


def jsonl_rows(path: Path) -> Iterator[RawRow]:
    index = 0
    with closing(decoded_lines(path)) as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            index += 1
            yield _row(index, number, text)


def _row(index: int, line: int, text: str) -> RawRow:
    try:
        data = json.loads(text)
    except ValueError as exc:
        return RawRow(index, line, {}, (f"not a JSON object: {exc}",))
    if not isinstance(data, dict):
        return RawRow(
            index, line, {}, (f"a line must be a JSON object, not {type(data).__name__}",)
        )
    if "modelSlug" in data or "body" in data:
        return _official_row(index, line, data)
    values: dict[str, RawValue] = {}
    problems: list[str] = []
    for key, value in data.items():
        if key == "params" and isinstance(value, dict):
            _add_params(value, values, problems)
        else:
            _add(str(key), value, values, problems)
    return RawRow(index, line, values, tuple(problems))


def _official_row(index: int, line: int, data: Mapping[str, object]) -> RawRow:
    """`{"modelSlug": ..., "body": {...}}`, as the official CLI's batch file has it."""
    # Other keys are ignored, as the official CLI ignores them: the file runs as it is.
    problems: list[str] = []
    given_id = data.get("id")
    values: dict[str, RawValue] = {"id": str(line if given_id in (None, "") else given_id)}
    slug = data.get("modelSlug")
    if not isinstance(slug, str) or not slug.strip():
        problems.append("modelSlug must be a provider/name model slug")
    else:
        values["model"] = slug.strip()
    body = data.get("body")
    if not isinstance(body, dict):
        problems.append("body must be a JSON object holding the request's fields")
        return RawRow(index, line, values, tuple(problems))
    present = [name for name in _IMAGE_FIELDS if name in body]
    if len(present) > 1:
        problems.append("body has both image and images; give the images under one of them")
    for key, value in body.items():
        if key == "prompt":
            _add("prompt", value, values, problems)
        elif key in _IMAGE_FIELDS:
            _add("image", value, values, problems)
        else:
            _add(f"param.{key}", value, values, problems, label=f"body.{key}")
    return RawRow(index, line, values, tuple(problems))


def _add_params(
    params: Mapping[str, object], values: dict[str, RawValue], problems: list[str]
) -> None:
    for name, value in params.items():
        _add(f"param.{name}", value, values, problems, label=f"params.{name}")


def _add(
    key: str,
    value: object,
    values: dict[str, RawValue],
    problems: list[str],
    *,
    label: str | None = None,
) -> None:
    shown = label or key
    if value is None or isinstance(value, str | int | float | bool):
        values[key] = value
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        values[key] = tuple(value)
    else:
        problems.append(
            f"field '{shown}' is a {type(value).__name__}; give a single value "
            "(or a list of strings, for image)"
        )
