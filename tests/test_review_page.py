"""The review page as HTML: every value from a manifest, a report or a note
is escaped by the template (autoescape), wherever on the page it lands, and
the rows' JSON cannot close its script element. No browser needed: the page
is parsed and its elements counted."""

from __future__ import annotations

import base64
import io
import json
import re
import tokenize
from html.parser import HTMLParser
from pathlib import Path

from browser import open_page
from PIL import Image
from support import write_image

import batchedit.report
from batchedit.records import ErrorCategory, OutputFile, ReportRecord, RowError, Status
from batchedit.report.review import RunReport, write_review
from batchedit.report.review_page import PageHeader, RowView, Tile, web_link, write_page
from batchedit.report.summary import LastRun
from batchedit.state.rundir import RunPaths

#: Python 3.12 splits f-strings into tokens; 3.11 keeps them whole as STRING.
FSTRING_MIDDLE = getattr(tokenize, "FSTRING_MIDDLE", -1)
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&"


class Elements(HTMLParser):
    """The tags of a page, in order, and the text of its JSON script."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.json_text = ""
        self._in_json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)
        self._in_json = tag == "script" and ("type", "application/json") in attrs

    def handle_endtag(self, tag: str) -> None:
        self._in_json = False

    def handle_data(self, data: str) -> None:
        if self._in_json:
            self.json_text += data


def hostile_page(*, live: bool) -> str:
    output = OutputFile("outputs/x.png", "a" * 64, 10, 4, 5, "png")
    record = ReportRecord(
        id=HOSTILE,
        row=1,
        status=Status.FAILED,
        model=HOSTILE,
        prompt=HOSTILE,
        images=(HOSTILE,),
        params={"aspectRatio": HOSTILE, HOSTILE: 1},
        fields={HOSTILE: HOSTILE},
        outputs=(output,),
        error=RowError(ErrorCategory.SERVER, HOSTILE, 500),
    )
    tile = Tile(
        HOSTILE, href="x.png", thumb="t.jpg", width=4, height=5, note=HOSTILE, detail=HOSTILE
    )
    view = RowView(record, (tile,), (tile,), state="rejected", note=HOSTILE, checks=(HOSTILE,))
    header = PageHeader(
        HOSTILE,
        HOSTILE,
        (HOSTILE,),
        1,
        {Status.FAILED: 1},
        {ErrorCategory.SERVER: 1},
        checks={HOSTILE: 1},
    )
    out = io.StringIO()
    write_page(out, header, [view], live=live)
    return out.getvalue()


def test_every_value_on_the_page_is_escaped() -> None:
    for live in (False, True):
        html = hostile_page(live=live)
        parsed = Elements()
        parsed.feed(html)
        # The page's own two scripts (the JSON, the script), and no element of the data's.
        assert parsed.tags.count("script") == 2
        assert parsed.tags.count("img") == 2 + 4  # two thumbnails, the comparison's four
        assert not [name for name, _ in parsed.attributes if name.startswith("on")]
        assert "<script>alert" not in html and "<img src=x" not in html
        assert HOSTILE not in html
        rows = json.loads(parsed.json_text)  # the JSON is whole: nothing closed its element
        assert rows[0]["id"] == rows[0]["prompt"] == rows[0]["note"] == HOSTILE


def test_no_html_is_built_in_python_strings_in_report() -> None:
    """HTML lives in the templates (escaped by default), never in an f-string."""
    tag = re.compile(r"<(/?)(html|head|body|div|span|p|a|img|button|script|style|figure|article)\b")
    found = []
    for path in sorted(Path(batchedit.report.__file__).parent.glob("*.py")):
        with open(path, "rb") as source:
            for token in tokenize.tokenize(source.readline):
                is_text = token.type == tokenize.STRING or token.type == FSTRING_MIDDLE
                if is_text and tag.search(token.string):
                    found.append(f"{path.name}:{token.start[0]}")
    assert found == []


def test_only_http_links_and_relative_files_are_links() -> None:
    for url in (
        "https://example.com/a.png",
        "http://example.com/a.png",
        "outputs/x.png",
        "../a.png",
    ):
        assert web_link(url) == url
    for url in (
        "javascript:alert(1)",
        "JavaScript://%0aalert(1)",
        " java\tscript:alert(1)",
        "\x01javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "data:image/png;base64,iVBORw0KGgo=",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "//evil.example/x.png",
        "\\\\evil.example/x.png",
        "https:no-host",
        "",
    ):
        assert web_link(url) is None, url


def remote_inputs_run(folder: Path) -> RunReport:
    """A run whose rows name https, javascript:, data: and local inputs, each with
    a result on disk."""
    (folder / "run" / "outputs").mkdir(parents=True)
    write_image(folder / "local.png")
    pixel = io.BytesIO()
    Image.new("RGB", (8, 8), "orange").save(pixel, "PNG")
    data_uri = "data:image/png;base64," + base64.b64encode(pixel.getvalue()).decode()
    records = []
    given = {
        "remote": "https://images.example.com/shoe.png",
        "script": "javascript://%0aalert(document.domain)",
        "inline": data_uri,
        "local": "local.png",
    }
    for n, (row_id, image) in enumerate(given.items(), start=1):
        output = write_image(folder / "run" / "outputs" / f"{row_id}.png", colour="gold")
        records.append(
            ReportRecord(
                id=row_id,
                row=n,
                status=Status.SUCCEEDED,
                model="m",
                prompt="edit",
                images=(image,),
                params={},
                fields={},
                outputs=(OutputFile(f"outputs/{row_id}.png", "b" * 64, 1, 64, 48, "png"),),
            )
        )
        assert output.is_file()
    manifest = str(folder / "rows.csv")
    return RunReport(RunPaths(folder / "run"), tuple(records), LastRun(manifest=manifest))


def test_the_static_page_links_out_to_remote_inputs_and_never_loads_them(tmp_path: Path) -> None:
    run = remote_inputs_run(tmp_path)
    page_path = tmp_path / "page" / "review.html"
    write_review(run, page_path)
    html = page_path.read_text()
    parsed = Elements()
    parsed.feed(html)
    links = [value for name, value in parsed.attributes if name == "href"]
    sources = [value for name, value in parsed.attributes if name == "src"]
    assert "https://images.example.com/shoe.png" in links  # a link out
    assert not [src for src in sources if src and "://" in src]  # never an <img> of it
    assert not [link for link in links if link and not web_link(link)]
    assert "javascript" not in " ".join(str(link) for link in links)
    assert "not an http(s) link" in html  # the javascript: input, as text
    rows = {row["id"]: row for row in json.loads(parsed.json_text)}
    assert rows["remote"]["in"][0]["f"] is None  # the comparison has nothing to load
    assert rows["inline"]["in"][0]["t"] and rows["inline"]["in"][0]["f"] is None
    assert rows["local"]["in"][0]["f"] == "../local.png"

    # In a browser: the grid and every row's comparison ask for files only.
    with open_page(1400, 1000) as page:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(page_path.as_uri())
        page.click("[data-view=grid]")
        page.wait_for_selector(".card")
        for n in range(len(run.records)):
            page.click(f".card[data-i='{n}'] .pic")
            page.click("#c-close")
    assert requested and all(url.startswith("file://") for url in requested), requested
