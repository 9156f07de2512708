"""Problems of the job or of the manifest's header: found once, before any row.

A catalog without an `id` column, a typo in the job's `defaults:` or a prompt
template naming a column nobody has would make every row invalid, each with
the same message: three hundred rows, nine hundred lines. Such a problem
belongs to the job, not to the rows, so it is found here, once, from the
header and the settings alone, and the message says how to fix it (the
header's columns, the `--column FIELD=COLUMN` that maps one).

`open_rows` raises JobProblems when there are any: `validate` prints them,
`run` refuses with exit 2 before it creates anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from batchedit.catalogue import current_catalogue
from batchedit.errors import SourceError
from batchedit.manifest.columns import ColumnMap
from batchedit.manifest.params import FRIENDLY_FIELDS, is_param_field, row_params
from batchedit.manifest.reader import Manifest, RawValue
from batchedit.manifest.template import TemplateError, template_fields
from batchedit.records import Problem
from batchedit.suggest import did_you_mean

MAX_COLUMNS_SHOWN = 12
#: Header words that suggest the column to map, per field (matched case-insensitively).
_HINTS: dict[str, tuple[str, ...]] = {
    "id": ("id", "sku", "handle", "key", "code"),
    "prompt": ("prompt", "instruction", "edit"),
    "image": ("image", "photo", "picture", "img", "url", "src"),
}
_FIELD_WHAT = {
    "id": "a unique id per row",
    "prompt": "the edit instruction (or give prompt: under defaults:)",
    "image": "the input image (an https URL or a local path)",
}


class JobProblems(SourceError):
    """Problems of the job or the header: every row would fail the same way."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first.file, first.line, first.message + more)
        self.problems = tuple(problems)


def header_problems(
    manifest: Manifest,
    columns: ColumnMap,
    defaults: Mapping[str, RawValue],
    model: str,
    allowed_models: frozenset[str],
    *,
    where: Mapping[str, tuple[str, int]],
) -> list[Problem]:
    """What is wrong for every row at once; an empty list when nothing is.
    `where` names the file and line each default was given on."""
    problems: list[Problem] = []
    if manifest.kind == "csv":
        problems.extend(_missing_fields(manifest, columns, defaults))
        problems.extend(_template_columns(manifest, columns, defaults, where))
    # Only a CSV says up front that no row names a model of its own; a YAML or
    # JSONL row may, and then its own rows' problems say what is wrong.
    per_row_model = "model" in manifest.columns or "model" in columns.sources
    if manifest.kind == "csv" and not per_row_model:
        default_model = defaults.get("model")
        chosen = default_model.strip() if isinstance(default_model, str) else model
        problems.extend(_bad_defaults(defaults, chosen, allowed_models, where))
    return problems


def _available(
    manifest: Manifest, columns: ColumnMap, defaults: Mapping[str, RawValue]
) -> set[str]:
    """Every name a row will have a value under: header, mapped fields, defaults."""
    names = set(manifest.columns) | set(defaults)
    names.update(field for field, sources in columns.sources.items() if sources)
    if columns.id_template is not None:
        names.add("id")
    return names


def _missing_fields(
    manifest: Manifest, columns: ColumnMap, defaults: Mapping[str, RawValue]
) -> list[Problem]:
    names = _available(manifest, columns, defaults)
    has_image = "image" in names or any(name.startswith("image_") for name in names)
    missing = [name for name in ("id", "prompt") if name not in names]
    if not has_image:
        missing.append("image")
    if not missing:
        return []
    fixes = "; ".join(
        f"--column {name}={_guess(name, manifest.columns)} ({_FIELD_WHAT[name]})"
        for name in missing
    )
    return [
        Problem(
            str(manifest.path),
            1,
            f"the header has no {', '.join(missing)} column (its columns: "
            f"{_shown(manifest.columns)}); say which column to read: {fixes}, "
            "or columns: in the job file",
            missing[0],
        )
    ]


def _guess(name: str, header: Sequence[str]) -> str:
    """The header column that looks most like `name`, else a placeholder."""
    for hint in _HINTS[name]:
        for column in header:
            if hint in column.lower():
                return column if column.isidentifier() else f"'{column}'"
    return "COLUMN"


def _template_columns(
    manifest: Manifest,
    columns: ColumnMap,
    defaults: Mapping[str, RawValue],
    where: Mapping[str, tuple[str, int]],
) -> list[Problem]:
    """A prompt template in defaults naming a column that no row can have."""
    template = defaults.get("prompt")
    if not isinstance(template, str) or "prompt" in manifest.columns:
        return []
    if "prompt" in columns.sources:
        return []
    try:
        used = template_fields(template)
    except TemplateError as exc:
        return [Problem(*_at(where, "prompt", manifest), f"defaults: {exc}", "prompt")]
    names = _available(manifest, columns, defaults)
    absent = [name for name in used if name not in names]
    if not absent:
        return []
    listed = ", ".join(f"'{name}'" for name in absent)
    hints = [hint for name in absent if (hint := did_you_mean(name, sorted(names)))]
    fix = (
        "; ".join(hints)
        if hints
        else f"its columns: {_shown(manifest.columns)}; rename it in the template or map it "
        "with --column"
    )
    return [
        Problem(
            *_at(where, "prompt", manifest),
            f"defaults: prompt template names {listed}, which {manifest.path} does not have; {fix}",
            "prompt",
        )
    ]


def _bad_defaults(
    defaults: Mapping[str, RawValue],
    model: str,
    allowed_models: frozenset[str],
    where: Mapping[str, tuple[str, int]],
) -> list[Problem]:
    """A parameter in defaults (aspect_ratio, resolution, param.*) that the
    job's model does not take, checked as a row's would be."""
    spec = current_catalogue().spec_for(model, allowed_models)
    if spec is None:
        return []
    given = {
        name: value
        for name, value in defaults.items()
        if name in FRIENDLY_FIELDS or is_param_field(name)
    }
    problems: list[Problem] = []

    def report(
        message: str, field: str, /, *, kind: str | None = None, detail: str | None = None
    ) -> None:
        file, line = where.get(field, ("defaults", 1))
        problems.append(Problem(file, line, f"defaults: {message}", field, kind, detail))

    row_params(given, spec, report)
    return problems


def _at(where: Mapping[str, tuple[str, int]], name: str, manifest: Manifest) -> tuple[str, int]:
    return where.get(name, (str(manifest.path), 1))


def _shown(columns: Sequence[str]) -> str:
    if not columns:
        return "none"
    shown = ", ".join(columns[:MAX_COLUMNS_SHOWN])
    more = len(columns) - MAX_COLUMNS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")
