"""The job's `columns:` mapping: a catalog's own column names read as batchedit's fields.

Exports from a shop or a PIM name things their own way (`Variant SKU`,
`Image Src`); rather than ask for an edited copy, the job says which column is
which. `image` may take several columns (used in order, empty cells skipped),
and `id` may be a template (`"{Handle}-{Option1 Value}"`) for catalogs whose
rows have no single id column. The source columns stay available to templates
and in the report's `fields`, under their own names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from batchedit.manifest.sources import RawValue
from batchedit.manifest.template import TemplateError, render_template, template_fields

#: The fields a column may be mapped to: the row's own, then those the shop
#: feeds of `export` read (report/publish/feeds.py), kept in the report's `fields`.
MAPPABLE_FIELDS = (
    "id",
    "prompt",
    "image",
    "aspect_ratio",
    "resolution",
    "model",
    "handle",
    "sku",
    "alt_text",
    "offer_id",
)


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """field -> the columns it is read from; `id_template` replaces an id column."""

    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    id_template: str | None = None

    def __bool__(self) -> bool:
        return bool(self.sources) or self.id_template is not None

    def over(self, base: ColumnMap) -> ColumnMap:
        """This mapping laid over `base`, field by field (the command line's over the job's)."""
        sources = {**base.sources, **self.sources}
        id_template = self.id_template
        if id_template is None and "id" not in self.sources:
            id_template = base.id_template
        if id_template is not None:
            sources.pop("id", None)
        return ColumnMap(sources, id_template)

    def columns_used(self) -> tuple[str, ...]:
        """Every column the mapping reads, for checking against a CSV header."""
        used = [column for columns in self.sources.values() for column in columns]
        if self.id_template is not None:
            used.extend(template_fields(self.id_template, what="id"))
        return tuple(dict.fromkeys(used))

    def as_options(self) -> tuple[str, ...]:
        """The mapping as `--column FIELD=COLUMN` arguments, for a command that
        reads a file with these columns without the job file (a fix list)."""
        options: list[str] = []
        if self.id_template is not None:
            options += ["--column", f"id={self.id_template}"]
        for name, columns in self.sources.items():
            for column in columns:
                options += ["--column", f"{name}={column}"]
        return tuple(options)

    def apply(self, row: Mapping[str, RawValue]) -> dict[str, RawValue]:
        """The row with each mapped field read from its columns; the row's own
        columns are kept, so templates and the report still see them."""
        values = dict(row)
        for name, columns in self.sources.items():
            present = [row[column] for column in columns if column in row]
            if not present:
                continue
            if len(columns) == 1:
                values[name] = present[0]
            else:
                values[name] = tuple(_parts(present))
        return values

    def render_id(self, values: Mapping[str, RawValue]) -> str | None:
        """The id from the template, or None when there is no template.
        Raises TemplateError (with 'id template' in its message) for a missing column."""
        if self.id_template is None:
            return None
        return render_template(self.id_template, values, what="id").strip()


def _parts(values: list[RawValue]) -> list[str]:
    parts: list[str] = []
    for value in values:
        items = value if isinstance(value, tuple) else str(value or "").split("|")
        parts.extend(item.strip() for item in items if item.strip())
    return parts


def parse_columns(value: object) -> ColumnMap:
    """A `columns:` mapping from the job file or the command line; raises
    ValueError saying what is allowed."""
    if isinstance(value, ColumnMap):
        return value
    if value is None:
        return ColumnMap()
    if not isinstance(value, Mapping):
        raise ValueError(
            "columns must be a mapping of field: column name, e.g. {id: sku, image: photo_url}"
        )
    sources: dict[str, tuple[str, ...]] = {}
    id_template: str | None = None
    for name, given in value.items():
        if name not in MAPPABLE_FIELDS:
            raise ValueError(
                f"columns: cannot map '{name}'; mappable fields: {', '.join(MAPPABLE_FIELDS)}"
            )
        columns = _column_names(str(name), given)
        if name == "id" and "{" in columns[0]:
            try:
                template_fields(columns[0], what="id")
            except TemplateError as exc:
                raise ValueError(f"columns: {exc}") from exc
            id_template = columns[0]
        else:
            sources[str(name)] = columns
    return ColumnMap(sources, id_template)


def _column_names(name: str, given: object) -> tuple[str, ...]:
    if isinstance(given, str) and given.strip():
        text = given.strip()
        if "{" in text and name != "id":
            raise ValueError(
                f"columns: {name} names a column, not a template; only id may be a "
                "template (a prompt is always one: put it in defaults:)"
            )
        return (text,)
    if (
        name == "image"
        and isinstance(given, list | tuple)
        and given
        and all(isinstance(item, str) and item.strip() for item in given)
    ):
        return tuple(item.strip() for item in given)
    several = " (or, for image, a list of column names)" if name == "image" else ""
    raise ValueError(f"columns: {name} must be a column name{several}, got {given!r}")


def parse_column_option(items: list[str]) -> dict[str, object]:
    """`--column FIELD=COLUMN` options as a mapping; repeating `image=` lists columns."""
    mapping: dict[str, object] = {}
    for item in items:
        name, sep, column = item.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise ValueError(f"--column takes FIELD=COLUMN (e.g. id=sku), got {item!r}")
        name = name.strip()
        if name == "image" and name in mapping:
            previous = mapping[name]
            listed = list(previous) if isinstance(previous, list) else [previous]
            mapping[name] = [*listed, column.strip()]
        else:
            mapping[name] = column.strip()
    return mapping
