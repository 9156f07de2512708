"""The review page's HTML, CSS and script: one self-contained file, no network.

Rows are written as static HTML while the report is streamed, so the page
costs the browser one parse however it is filtered afterwards. Filtering by
status is one attribute on the list and CSS rules (no per-row work at all);
the text search walks the rows once per keystroke pause and touches only the
rows whose visibility changes; `content-visibility: auto` and lazy images keep
the off-screen rows of a 5,000-row page from costing layout or bandwidth.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html import escape
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


@dataclass(frozen=True, slots=True)
class PageHeader:
    title: str
    subtitle: str
    facts: tuple[str, ...]  # short phrases for the line under the title
    rows: int
    statuses: Mapping[Status, int]
    categories: Mapping[ErrorCategory, int]


def write_page(out: IO[Any], header: PageHeader, rows: Iterable[RowView]) -> None:
    out.write(_HEAD.replace("{title}", escape(f"Review · {header.title}")))
    out.write(_header_html(header))
    out.write('<main id="rows" data-filter="all">\n')
    for view in rows:
        out.write(_row_html(view))
    out.write("</main>\n")
    out.write('<p id="empty" hidden>No row matches this filter and search.</p>\n')
    out.write(f"<script>{_SCRIPT}</script>\n</body>\n</html>\n")


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
        f"{categories}</header>\n"
    )


def _filter_button(name: str, label: str, count: int, *, pressed: bool = False) -> str:
    return (
        f'<button type="button" data-filter="{name}" aria-pressed="{str(pressed).lower()}">'
        f'<i class="dot {name}"></i>{label} <b>{count}</b></button>'
    )


def _row_html(view: RowView) -> str:
    record = view.record
    status = record.status.value
    search = " ".join(
        str(part)
        for part in (
            record.id,
            record.prompt,
            status,
            *_error_words(record),
            *record.fields.values(),
        )
        if part is not None
    ).lower()
    outputs = view.outputs or (Tile(caption="", note=NO_OUTPUT[record.status]),)
    return (
        f'<article class="row" data-status="{status}" data-search="{escape(search)}">'
        f'<div class="imgs in">{"".join(map(_tile_html, view.inputs)) or _none("no input image")}'
        '</div><div class="arrow" aria-hidden="true">→</div>'
        f'<div class="imgs out">{"".join(map(_tile_html, outputs))}</div>'
        f"{_info_html(record)}</article>\n"
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


def _info_html(record: ReportRecord) -> str:
    status = record.status.value
    parts = [
        f'<div class="info"><h2>{escape(record.id) or "<i>no id</i>"} '
        f'<span class="badge">{status}</span></h2>'
    ]
    if record.prompt:
        parts.append(f'<p class="prompt">{escape(record.prompt)}</p>')
    if record.error is not None and record.status is not Status.SUCCEEDED:
        http = f" (HTTP {record.error.http_status})" if record.error.http_status else ""
        parts.append(
            f'<p class="error"><b>{escape(record.error.category.value)}</b>{http} '
            f"{escape(record.error.message)}</p>"
        )
    facts = [f"row {record.row}"]
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


_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
:root{--bg:#f5f6f8;--card:#fff;--ink:#1c2130;--muted:#667085;--line:#e3e6eb;
--succeeded:#12a150;--failed:#e5383b;--unknown:#e08a00;--invalid:#7a5af8;--pending:#8a94a6;
--attention:#e5383b;--all:#1c2130}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
background:var(--bg);color:var(--ink)}
header{position:sticky;top:0;z-index:2;background:rgba(255,255,255,.97);
border-bottom:1px solid var(--line);padding:14px 24px 12px;box-shadow:0 1px 3px rgba(0,0,0,.04)}
h1{font-size:19px;margin:0;font-weight:650}
h1 small{color:var(--muted);font-weight:400;font-size:13px;margin-left:8px}
header .facts{color:var(--muted);margin:3px 0 10px}
.bar{display:flex;flex-wrap:wrap;gap:10px;align-items:center}
.filters{display:flex;flex-wrap:wrap;gap:6px}
.filters button,.chip{border:1px solid var(--line);background:#fff;border-radius:999px;
padding:4px 12px;font:inherit;color:var(--ink);cursor:pointer}
.filters button:hover,.chip:hover{border-color:#b9c0cc}
.filters button[aria-pressed=true]{background:var(--ink);border-color:var(--ink);color:#fff}
.filters b,.chip b{margin-left:4px;font-weight:650}
.dot{display:inline-block;width:8px;height:8px;border-radius:50%;margin-right:6px;
background:var(--c,var(--muted))}
.dot.all{display:none}
.dot.succeeded{--c:var(--succeeded)}.dot.failed,.dot.attention{--c:var(--failed)}
.dot.unknown{--c:var(--unknown)}.dot.invalid{--c:var(--invalid)}.dot.pending{--c:var(--pending)}
#q{flex:1;min-width:220px;max-width:440px;padding:6px 10px;border:1px solid var(--line);
border-radius:8px;font:inherit}
#shown{color:var(--muted)}
.cats{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin-top:9px;color:var(--muted)}
.chip{font-size:12px;padding:2px 10px;background:#fff5f5;border-color:#f6d2d2;color:#a12a2c}
main{padding:16px 24px 40px;display:flex;flex-direction:column;gap:12px}
.row{display:grid;grid-template-columns:minmax(0,1fr) 22px minmax(0,1fr) minmax(260px,1.25fr);
gap:14px;align-items:start;background:var(--card);border:1px solid var(--line);
border-left:4px solid var(--c);border-radius:10px;padding:12px 14px;
content-visibility:auto;contain-intrinsic-size:auto 230px}
.row[hidden]{display:none}
.row[data-status=succeeded]{--c:var(--succeeded)}.row[data-status=failed]{--c:var(--failed)}
.row[data-status=unknown]{--c:var(--unknown)}.row[data-status=invalid]{--c:var(--invalid)}
.row[data-status=pending]{--c:var(--pending)}
#rows[data-filter=attention] .row[data-status=succeeded],
#rows[data-filter=succeeded] .row:not([data-status=succeeded]),
#rows[data-filter=failed] .row:not([data-status=failed]),
#rows[data-filter=unknown] .row:not([data-status=unknown]),
#rows[data-filter=invalid] .row:not([data-status=invalid]),
#rows[data-filter=pending] .row:not([data-status=pending]){display:none}
.imgs{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;max-width:180px}
figure img{display:block;max-width:180px;height:auto;border-radius:6px;background:#eef0f3;
box-shadow:0 0 0 1px rgba(0,0,0,.06)}
figure a:hover img{box-shadow:0 0 0 2px var(--c)}
figcaption{font-size:12px;color:var(--muted);margin-top:4px;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap}
figcaption span{display:block}
.missing{display:flex;align-items:center;justify-content:center;text-align:center;
width:180px;height:120px;border:1.5px dashed #cfd4dc;border-radius:6px;color:var(--muted);
font-size:12px;padding:8px;
background:repeating-linear-gradient(45deg,#fafbfc 0 8px,#f3f5f8 8px 16px)}
.out .missing{color:var(--c);border-color:var(--c)}
a.remote{text-decoration:none;color:#3559c7}
.arrow{color:#b4bbc7;font-size:20px;align-self:center;text-align:center}
.info{min-width:0}
.info h2{font-size:15px;margin:0 0 4px;overflow-wrap:anywhere}
.badge{font-size:11px;font-weight:600;text-transform:uppercase;letter-spacing:.03em;
color:#fff;background:var(--c);border-radius:999px;padding:1px 8px;margin-left:6px;
vertical-align:2px}
.prompt{margin:4px 0;white-space:pre-wrap;overflow-wrap:anywhere}
.error{margin:6px 0;background:#fff4f4;border:1px solid #f6d2d2;color:#a12a2c;
border-radius:6px;padding:6px 8px;overflow-wrap:anywhere}
.row[data-status=invalid] .error{background:#f6f3ff;border-color:#ddd3fe;color:#5b3cc4}
.row[data-status=unknown] .error{background:#fff8eb;border-color:#fbe0b0;color:#93540a}
.info .facts{color:var(--muted);font-size:12px;margin:4px 0}
details{font-size:12px;color:var(--muted)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;margin:4px 0}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
#empty{text-align:center;color:var(--muted);padding:40px}
@media (max-width:900px){.row{grid-template-columns:1fr}.arrow{display:none}}
</style>
</head>
<body>
"""

_SCRIPT = """
(() => {
  const list = document.getElementById("rows");
  const rows = Array.from(list.children);
  const keys = rows.map((row) => row.dataset.search);
  const statuses = rows.map((row) => row.dataset.status);
  const buttons = document.querySelectorAll("[data-filter]");
  const search = document.getElementById("q");
  const shown = document.getElementById("shown");
  const empty = document.getElementById("empty");
  let filter = "all";
  let timer = 0;
  const wanted = (status) =>
    filter === "all" || (filter === "attention" ? status !== "succeeded" : status === filter);
  function apply() {
    const words = search.value.toLowerCase().split(/\\s+/).filter(Boolean);
    let count = 0;
    for (let i = 0; i < rows.length; i++) {
      const hit = words.every((word) => keys[i].includes(word));
      if (rows[i].hidden === hit) rows[i].hidden = !hit;
      if (hit && wanted(statuses[i])) count++;
    }
    list.dataset.filter = filter;
    shown.textContent = count + " of " + rows.length + " shown";
    empty.hidden = count > 0;
  }
  for (const button of buttons) {
    button.addEventListener("click", () => {
      filter = button.dataset.filter;
      for (const other of buttons) other.setAttribute("aria-pressed", String(other === button));
      apply();
    });
  }
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(apply, 120);
  });
  for (const chip of document.querySelectorAll("[data-search-for]")) {
    chip.addEventListener("click", () => {
      search.value = chip.dataset.searchFor;
      apply();
    });
  }
  apply();
})();
"""
