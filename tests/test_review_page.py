"""The review page as HTML: every value from a manifest, a report or a note
is escaped by the template (autoescape), wherever on the page it lands, and
the rows' JSON cannot close its script element. No browser needed: the page
is parsed and its elements counted."""

from __future__ import annotations

import io
import json
import re
import tokenize
from html.parser import HTMLParser
from pathlib import Path

import batchedit.report
from batchedit.records import ErrorCategory, OutputFile, ReportRecord, RowError, Status
from batchedit.report.review_page import PageHeader, RowView, Tile, write_page

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
