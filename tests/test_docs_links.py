"""The documentation holds together: every relative link in the README and the
pages under docs/ (and the jobs' READMEs) points at a file that exists and, when
it names an anchor, at a heading of that file; the README stays short and
starts with the two commands of the contract."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_README_LINES = 300

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
INLINE_LINK = re.compile(
    r"""!?\[ (?:[^\[\]] | \[[^\[\]]*\])* \]   # [text] or ![alt], one level of [] inside
        \( \s* (<[^>]*> | [^\s()]*)           # (target, or (<target>
        (?:\s+"[^"]*")? \s* \)                # an optional "title", then )
    """,
    re.VERBOSE,
)
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...


def markdown_files() -> list[Path]:
    files = [README, *sorted((ROOT / "docs").glob("*.md"))]
    files += sorted((ROOT / "jobs").glob("**/README.md"))
    return [path for path in files if path.is_file()]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered from 1."""
    lines: list[tuple[int, str]] = []
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        opening = FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        lines.append((number, line))
    return lines


def links(path: Path) -> list[tuple[int, str]]:
    """Every link target in a Markdown file, with the line it is on."""
    found: list[tuple[int, str]] = []
    for number, raw in prose_lines(path.read_text(encoding="utf-8")):
        line = INLINE_CODE.sub("", raw)  # `[a](b)` in code is an example, not a link
        targets = [match.group(1) for match in INLINE_LINK.finditer(line)]
        definition = REFERENCE_DEFINITION.match(line)
        if definition:
            targets.append(definition.group(1))
        found += [(number, target.strip("<>")) for target in targets]
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: link markup reduced to its text, lowercased,
    punctuation dropped (hyphens, underscores and spaces kept), spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings; a repeated heading gets -1, -2, ..."""
    seen: dict[str, int] = {}
    result: set[str] = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        heading = HEADING.match(line)
        if not heading:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def broken_link(source: Path, target: str) -> str | None:
    """Why a relative link does not resolve, or None when it does."""
    file_part, _, anchor = target.partition("#")
    destination = (source.parent / unquote(file_part)).resolve() if file_part else source
    if not destination.exists():
        return f"{file_part} does not exist"
    if not anchor:
        return None
    if destination.is_dir() or destination.suffix.lower() != ".md":
        return f"#{anchor} points into {file_part}, which is not a Markdown file"
    if unquote(anchor).lower() not in anchors(destination):
        return f"{destination.relative_to(ROOT)} has no heading with the anchor #{anchor}"
    return None


def relative_links() -> list[tuple[Path, int, str]]:
    return [
        (path, number, target)
        for path in markdown_files()
        for number, target in links(path)
        if target and not EXTERNAL.match(target)
    ]


def test_the_documentation_is_found() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in markdown_files()}
    assert "README.md" in names
    assert any(name.startswith("docs/") for name in names)


@pytest.mark.parametrize(
    ("source", "line", "target"),
    relative_links(),
    ids=lambda value: value.relative_to(ROOT).as_posix() if isinstance(value, Path) else str(value),
)
def test_relative_link_resolves(source: Path, line: int, target: str) -> None:
    problem = broken_link(source, target)
    assert problem is None, f"{source.relative_to(ROOT)}:{line}: ({target}): {problem}"


def test_readme_links_to_every_docs_page() -> None:
    linked = {
        (README.parent / target.partition("#")[0]).resolve()
        for _, target in links(README)
        if not EXTERNAL.match(target)
    }
    unlinked = [
        page.relative_to(ROOT).as_posix()
        for page in sorted((ROOT / "docs").glob("*.md"))
        if page.resolve() not in linked
    ]
    assert not unlinked, f"README.md does not link to {', '.join(unlinked)}"


def test_every_docs_page_links_back_to_the_readme() -> None:
    for page in sorted((ROOT / "docs").glob("*.md")):
        targets = {(page.parent / target.partition("#")[0]).resolve() for _, target in links(page)}
        assert README.resolve() in targets, f"{page.relative_to(ROOT)} has no link to the README"


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines; at most {MAX_README_LINES}: move reference to docs/"
    )


def test_readme_starts_with_make_demo_and_make_test() -> None:
    text = README.read_text(encoding="utf-8")
    first_block = re.search(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert first_block is not None, "README.md has no code block"
    commands = first_block.group(1).split()
    assert "make demo" in " ".join(commands)
    assert "make test" in " ".join(commands)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Polling", "polling"),
        ("Check the set-up: `batchedit doctor`", "check-the-set-up-batchedit-doctor"),
        ("Logs for machines: `--log-format json`", "logs-for-machines---log-format-json"),
        ("Counters: `/_sim/stats`", "counters-_simstats"),
        ("Merging the shards' reports", "merging-the-shards-reports"),
        ("See [the API](api.md)", "see-the-api"),
    ],
)
def test_slug_follows_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor
