"""The review page's HTML: one self-contained file, no network.

Two views of the same rows. The list is static HTML written while the report
is streamed, so it costs the browser one parse; `content-visibility: auto` and
lazy images keep the off-screen rows of a 5,000-row page from costing layout
or bandwidth. The grid is drawn by the script from a JSON copy of the rows,
and only the cards near the viewport exist at all, so a 1,000-row run stays
responsive at any thumbnail size. The CSS and script are package files
(`assets/`), inlined. `live` pages (served by `batchedit review`) record
decisions; a static page shows them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from html import escape
from importlib import resources
from typing import IO, Any

from batchedit.records import ErrorCategory, ReportRecord, Status

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
    note: str = ""
    checks: tuple[str, ...] = ()  # failed output checks
    changed: bool = False  # finished in the last run


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
    return resources.files("batchedit.report").joinpath("assets", name).read_text("utf-8")


def write_page(
    out: IO[Any], header: PageHeader, rows: Iterable[RowView], *, live: bool = False
) -> None:
    title = escape(f"Review · {header.title}")
    out.write(
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>\n{_asset('review.css')}</style>\n</head>\n"
        f'<body class="{"live" if live else "static"}">\n'
    )
    out.write(_header_html(header))
    out.write('<main id="rows">\n')
    data = []
    for number, view in enumerate(rows):
        out.write(_row_html(view, number))
        data.append(_row_data(view))
    out.write('</main>\n<div id="grid" hidden></div>\n')
    out.write('<p id="empty" hidden>No row matches this filter and search.</p>\n')
    out.write(_asset("review_dialogs.html"))
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    out.write(f'<script type="application/json" id="data">{_script_safe(payload)}</script>\n')
    out.write(f"<script>{_asset('review.js')}</script>\n</body>\n</html>\n")


def _script_safe(text: str) -> str:
    """JSON inside a <script> element: no `</script>` or `<!--` may appear in it."""
    return text.replace("<", "\\u003c")


def _row_data(view: RowView) -> dict[str, Any]:
    """What the grid, the comparison and the decisions need of a row."""
    record = view.record
    error = record.error
    return {
        "id": record.id,
        "status": record.status.value,
        "state": view.state,
        "note": view.note,
        "sha": record.outputs[0].sha256 if record.outputs else "",
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
        "f": tile.href,
        "w": tile.width,
        "h": tile.height,
        "n": tile.note,
        "d": tile.detail,
    }


def _header_html(header: PageHeader) -> str:
    buttons = [_filter_button("all", "All", header.rows, pressed=True)]
    attention = header.rows - header.statuses.get(Status.SUCCEEDED, 0)
    buttons.append(_filter_button("attention", "Needs attention", attention))
    buttons.extend(
        _filter_button(status.value, status.value.capitalize(), header.statuses.get(status, 0))
        for status in STATUS_ORDER
        if header.statuses.get(status, 0) or status in (Status.SUCCEEDED, Status.FAILED)
    )
    chips = "".join(
        f'<button type="button" class="chip" data-search-for="{escape(category)}">'
        f"{escape(category)} <b>{count}</b></button>"
        for category, count in sorted(header.categories.items(), key=lambda kv: -kv[1])
    )
    categories = f'<div class="cats"><span>Errors:</span>{chips}</div>' if chips else ""
    facts = " · ".join(escape(fact) for fact in header.facts)
    return (
        "<header>\n"
        f"<h1>{escape(header.title)} <small>{escape(header.subtitle)}</small></h1>\n"
        f'<p class="facts">{facts}</p>\n'
        f'<div class="bar"><nav class="filters" aria-label="Filter by status">{"".join(buttons)}'
        '</nav><input id="q" type="search" placeholder="Search ids, prompts, errors…" '
        'aria-label="Search ids, prompts and errors" autocomplete="off">'
        '<span id="shown" aria-live="polite"></span></div>\n'
        f"{_review_bar(header)}{categories}</header>\n"
    )


def _review_bar(header: PageHeader) -> str:
    """The review filters, the view switch and the thumbnail size."""
    buttons = [_filter_button("any", "Any decision", header.rows, pressed=True, group="review")]
    undecided = header.states.get("undecided", 0) + header.states.get("stale", 0)
    for name, label, count in (
        ("undecided", "Undecided", undecided),
        ("approved", "Approved", header.states.get("approved", 0)),
        ("rejected", "Rejected", header.states.get("rejected", 0)),
        ("changed", "Changed in the last run", header.changed),
    ):
        buttons.append(_filter_button(name, label, count, group="review"))
    for flag, count in sorted(header.checks.items()):
        buttons.append(_filter_button(f"check:{flag}", flag, count, group="review"))
    return (
        '<div class="bar review"><nav class="filters" aria-label="Filter by decision">'
        f"{''.join(buttons)}</nav>"
        '<span class="views" role="group" aria-label="View">'
        '<button type="button" data-view="list" aria-pressed="true">List</button>'
        '<button type="button" data-view="grid" aria-pressed="false">Grid</button></span>'
        '<label class="size">Size <input id="size" type="range" min="100" max="360" step="10" '
        'value="180" aria-label="Thumbnail size"></label>'
        '<button type="button" id="keys" title="Keyboard shortcuts (?)">?</button></div>\n'
    )


def _filter_button(
    name: str, label: str, count: int, *, pressed: bool = False, group: str = "status"
) -> str:
    return (
        f'<button type="button" data-{"filter" if group == "status" else "review"}="'
        f'{escape(name)}" aria-pressed="{str(pressed).lower()}">'
        f'<i class="dot {escape(name.split(":")[0])}"></i>{escape(label)} <b>{count}</b></button>'
    )


def _row_html(view: RowView, number: int) -> str:
    record = view.record
    status = record.status.value
    search = " ".join(
        str(part)
        for part in (
            record.id,
            record.prompt,
            status,
            *view.checks,
            *_error_words(record),
            *record.fields.values(),
        )
        if part is not None
    ).lower()
    outputs = view.outputs or (Tile(caption="", note=NO_OUTPUT[record.status]),)
    return (
        f'<article class="row" data-i="{number}" data-status="{status}" '
        f'data-search="{escape(search)}">'
        f'<div class="imgs in">{"".join(map(_tile_html, view.inputs)) or _none("no input image")}'
        '</div><div class="arrow" aria-hidden="true">→</div>'
        f'<div class="imgs out">{"".join(map(_tile_html, outputs))}</div>'
        f"{_info_html(record, _review_html(view))}</article>\n"
    )


def _error_words(record: ReportRecord) -> tuple[str, ...]:
    error = record.error
    return () if error is None else (error.category.value, error.message)


def _none(note: str) -> str:
    return _tile_html(Tile(caption="", note=note))


def _tile_html(tile: Tile) -> str:
    caption = escape(tile.caption)
    detail = f"<span>{escape(tile.detail)}</span>" if tile.detail else ""
    if tile.thumb is not None:
        scale = min(1.0, SHOWN_PX / max(tile.width, tile.height, 1))
        width, height = max(1, round(tile.width * scale)), max(1, round(tile.height * scale))
        image = (
            f'<img src="{escape(tile.thumb)}" loading="lazy" decoding="async" '
            f'width="{width}" height="{height}" alt="{caption}">'
        )
        if tile.href is not None:
            image = f'<a href="{escape(tile.href)}" target="_blank" rel="noopener">{image}</a>'
    elif tile.href is not None:
        image = (
            f'<a class="missing remote" href="{escape(tile.href)}" target="_blank" '
            f'rel="noopener noreferrer">{escape(tile.note)}<br>open ↗</a>'
        )
    else:
        image = f'<div class="missing">{escape(tile.note)}</div>'
    title = f' title="{caption}"' if caption else ""
    return f"<figure>{image}<figcaption{title}>{caption}{detail}</figcaption></figure>"


def _review_html(view: RowView) -> str:
    """The row's decision, its failed checks, its note, and (on a live page) the
    buttons to change them."""
    flags = "".join(f'<span class="flag">{escape(flag)}</span>' for flag in view.checks)
    return (
        f'<p class="review"><span class="decision" data-state="{view.state}">{view.state}</span>'
        f'{flags}<span class="note">{escape(view.note)}</span><span class="acts">'
        '<button type="button" data-act="approved">Approve</button>'
        '<button type="button" data-act="rejected">Reject</button>'
        '<button type="button" data-act="note">Note…</button></span></p>'
    )


def _info_html(record: ReportRecord, review: str) -> str:
    status = record.status.value
    parts = [
        f'<div class="info"><h2>{escape(record.id) or "<i>no id</i>"} '
        f'<span class="badge">{status}</span></h2>'
    ]
    parts.append(review)
    if record.prompt:
        parts.append(f'<p class="prompt">{escape(record.prompt)}</p>')
    if record.error is not None and record.status is not Status.SUCCEEDED:
        http = f" (HTTP {record.error.http_status})" if record.error.http_status else ""
        parts.append(
            f'<p class="error"><b>{escape(record.error.category.value)}</b>{http} '
            f"{escape(record.error.message)}</p>"
        )
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
    parts.append(f'<p class="facts">{" · ".join(escape(fact) for fact in facts)}</p>')
    fields = [(name, value) for name, value in record.fields.items() if value not in (None, "")]
    if fields:
        items = "".join(
            f"<dt>{escape(name)}</dt><dd>{escape(str(value))}</dd>" for name, value in fields
        )
        parts.append(f"<details><summary>fields</summary><dl>{items}</dl></details>")
    parts.append("</div>")
    return "".join(parts)


#: Parameters whose value says what it is on its own.
_PLAIN_PARAMS = frozenset({"aspectRatio", "imageSize", "aspect_ratio", "resolution", "size"})


def _param_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)
