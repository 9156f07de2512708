"""The review page's HTML: one self-contained file, no network.

Two views of the same rows. The list is static HTML written while the report
is streamed, so it costs the browser one parse; `content-visibility: auto` and
lazy images keep the off-screen rows of a 5,000-row page from costing layout
or bandwidth. The grid is drawn by the script from a JSON copy of the rows,
and only the cards near the viewport exist at all, so a 1,000-row run stays
responsive at any thumbnail size. The markup is a Jinja2 template
(`templates/`) with autoescape on, so every value the page shows is escaped
by default; the CSS and script are package files (`assets/`), inlined.
`live` pages (served by `batchedit review`) record decisions; a static page
shows them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import IO, Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from batchedit.records import ErrorCategory, ReportRecord, RowError, Status

STATUS_ORDER = (Status.SUCCEEDED, Status.FAILED, Status.UNKNOWN, Status.INVALID, Status.PENDING)
NO_OUTPUT = {
    Status.FAILED: "no output: failed",
    Status.UNKNOWN: "outcome unknown",
    Status.INVALID: "not sent: invalid row",
    Status.PENDING: "not finished yet",
    Status.SUCCEEDED: "no output file",
}
SHOWN_PX = 180  # the tile's largest side, in CSS pixels


@dataclass(frozen=True, slots=True)
class Tile:
    """One picture on the page: a thumbnail linking to the full file, or why not."""

    caption: str
    href: str | None = None  # the full-size file (relative URL) or a remote URL
    thumb: str | None = None  # the thumbnail, relative to the page
    width: int = 0
    height: int = 0
    note: str = ""  # shown instead of a thumbnail
    detail: str = ""  # e.g. "1024×1280 PNG", under the caption


@dataclass(frozen=True, slots=True)
class RowView:
    record: ReportRecord
    inputs: tuple[Tile, ...]
    outputs: tuple[Tile, ...]
    state: str = "undecided"  # decisions.ReviewState: undecided, approved, rejected, stale
    note: str = ""  # the note of the decision in force
    previous_note: str = ""  # a stale decision's note: shown, never carried over
    checks: tuple[str, ...] = ()  # failed output checks
    changed: bool = False  # finished in the last run
    choice: int = 1  # the candidate export publishes (1-based), of several outputs


@dataclass(frozen=True, slots=True)
class PageHeader:
    title: str
    subtitle: str
    facts: tuple[str, ...]  # short phrases for the line under the title
    rows: int
    statuses: Mapping[Status, int]
    categories: Mapping[ErrorCategory, int]
    states: Mapping[str, int] = field(default_factory=dict)  # review state: rows
    checks: Mapping[str, int] = field(default_factory=dict)  # check flag: rows
    changed: int = 0  # rows finished in the last run


@cache
def _asset(name: str) -> str:
    """The package's own CSS or script (the template inlines it as it is)."""
    return resources.files("batchedit.report").joinpath("assets", name).read_text("utf-8")


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("batchedit.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a misspelt name fails the page, not blanks a field
        keep_trailing_newline=True,
    )
    environment.filters["web_link"] = web_link
    environment.filters["shown_size"] = _shown_size
    environment.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "separators": (",", ":")}
    return environment


def web_link(url: str | None) -> str | None:
    """`url` if the page may link to it, else None (shown as plain text): a
    relative link to a file beside the page or on the review server, or an
    http(s) URL. Never `javascript:`, `data:` or any other scheme, and never a
    `//host` link that would leave the page's own origin."""
    if url is None:
        return None
    # Browsers drop these before reading a scheme: "java\tscript:" is javascript:.
    cleaned = url.strip("".join(map(chr, range(0x21)))).translate(_URL_IGNORED)
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return None
    if parts.scheme:
        return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None
    return None if cleaned.startswith(("/", "\\")) or not cleaned else url


_URL_IGNORED = str.maketrans("", "", "\t\n\r")


def write_page(
    out: IO[Any], header: PageHeader, rows: Iterable[RowView], *, live: bool = False
) -> None:
    """Stream the page to `out`: the list as rows come, their JSON at the end."""
    data: list[dict[str, Any]] = []

    def row_views() -> Iterable[_RowHtml]:
        for number, view in enumerate(rows):
            data.append(_row_data(view))
            yield _row_html(view, number)

    page = (
        _environment()
        .get_template("review.html")
        .generate(
            header=header,
            status_buttons=_status_buttons(header),
            review_buttons=_review_buttons(header),
            categories=sorted(header.categories.items(), key=lambda kv: -kv[1]),
            rows=row_views(),
            data=data,  # filled as the rows are written, read after the last
            live=live,
            css=_asset("review.css"),
            script=_asset("review.js"),
        )
    )
    out.writelines(page)


def _row_data(view: RowView) -> dict[str, Any]:
    """What the grid, the comparison and the decisions need of a row."""
    record = view.record
    error = record.error
    return {
        "id": record.id,
        "status": record.status.value,
        "state": view.state,
        "note": view.note,
        "was": view.previous_note,
        "sha": record.outputs[0].sha256 if record.outputs else "",
        "choice": view.choice,
        "changed": view.changed,
        "checks": list(view.checks),
        "prompt": record.prompt or "",
        "error": "" if error is None or record.status is Status.SUCCEEDED else error.message,
        "in": [_tile_data(tile) for tile in view.inputs],
        "out": [_tile_data(tile) for tile in view.outputs] or [{"n": NO_OUTPUT[record.status]}],
    }


def _tile_data(tile: Tile) -> dict[str, Any]:
    return {
        "c": tile.caption,
        "t": tile.thumb,
        # What the comparison shows large: only a picture with a local thumbnail,
        # so a remote input is never loaded into an <img> (it stays a link out).
        "f": web_link(tile.href) if tile.thumb is not None else None,
        "w": tile.width,
        "h": tile.height,
        "n": tile.note,
        "d": tile.detail,
    }


@dataclass(frozen=True, slots=True)
class _Button:
    """A filter button: `data-GROUP="NAME"`, a coloured dot, a label and a count."""

    group: str  # "filter" (by status) or "review" (by decision, check, last run)
    name: str
    label: str
    count: int
    pressed: bool = False

    @property
    def dot(self) -> str:
        return self.name.split(":")[0]


def _status_buttons(header: PageHeader) -> list[_Button]:
    attention = header.rows - header.statuses.get(Status.SUCCEEDED, 0)
    buttons = [
        _Button("filter", "all", "All", header.rows, pressed=True),
        _Button("filter", "attention", "Needs attention", attention),
    ]
    buttons.extend(
        _Button("filter", status.value, status.value.capitalize(), header.statuses.get(status, 0))
        for status in STATUS_ORDER
        if header.statuses.get(status, 0) or status in (Status.SUCCEEDED, Status.FAILED)
    )
    return buttons


def _review_buttons(header: PageHeader) -> list[_Button]:
    """The review filters: by decision, by the last run, by failed check."""
    undecided = header.states.get("undecided", 0) + header.states.get("stale", 0)
    buttons = [_Button("review", "any", "Any decision", header.rows, pressed=True)]
    buttons.extend(
        _Button("review", name, label, count)
        for name, label, count in (
            ("undecided", "Undecided", undecided),
            ("approved", "Approved", header.states.get("approved", 0)),
            ("rejected", "Rejected", header.states.get("rejected", 0)),
            ("changed", "Changed in the last run", header.changed),
        )
    )
    buttons.extend(
        _Button("review", f"check:{flag}", flag, count)
        for flag, count in sorted(header.checks.items())
    )
    return buttons


@dataclass(frozen=True, slots=True)
class _RowHtml:
    """A row as the list shows it: the view, and what the template derives from it."""

    view: RowView
    number: int
    search: str  # lower-cased words the search box matches
    outputs: tuple[Tile, ...]  # or one tile saying why there is none
    error: RowError | None  # shown for rows that did not succeed
    facts: tuple[str, ...]
    fields: tuple[tuple[str, str], ...]
    no_input: Tile = Tile(caption="", note="no input image")


def _row_html(view: RowView, number: int) -> _RowHtml:
    record = view.record
    search = " ".join(
        str(part)
        for part in (
            record.id,
            record.prompt,
            record.status.value,
            *view.checks,
            *_error_words(record),
            *record.fields.values(),
        )
        if part is not None
    ).lower()
    shown_error = record.error if record.status is not Status.SUCCEEDED else None
    return _RowHtml(
        view=view,
        number=number,
        search=search,
        outputs=view.outputs or (Tile(caption="", note=NO_OUTPUT[record.status]),),
        error=shown_error,
        facts=_facts(record),
        fields=tuple(
            (name, str(value)) for name, value in record.fields.items() if value not in (None, "")
        ),
    )


def _error_words(record: ReportRecord) -> tuple[str, ...]:
    error = record.error
    return () if error is None else (error.category.value, error.message)


def _shown_size(tile: Tile) -> tuple[int, int]:
    """The thumbnail's size in CSS pixels, its largest side at most SHOWN_PX."""
    scale = min(1.0, SHOWN_PX / max(tile.width, tile.height, 1))
    return max(1, round(tile.width * scale)), max(1, round(tile.height * scale))


def _facts(record: ReportRecord) -> tuple[str, ...]:
    # The file line, as validation names it; the data row beside it.
    where = f"line {record.line} (row {record.row})" if record.line else f"row {record.row}"
    facts = [where]
    if record.latency_s is not None:
        facts.append(f"{record.latency_s:.1f} s")
    if record.attempts:
        facts.append(f"{record.attempts} paid attempt{'s' if record.attempts > 1 else ''}")
    # A ratio or size reads alone ("4:5", "2K"); any other parameter by its name ("n=2").
    facts.extend(
        str(value) if name in _PLAIN_PARAMS else f"{name}={_param_text(value)}"
        for name, value in record.params.items()
    )
    if record.model:
        facts.append(record.model)
    return tuple(facts)


#: Parameters whose value says what it is on its own.
_PLAIN_PARAMS = frozenset({"aspectRatio", "imageSize", "aspect_ratio", "resolution", "size"})


def _param_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)
