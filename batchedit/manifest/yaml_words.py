"""YAML's mistakes said in the user's words, at the line PyYAML's mark names.

PyYAML says what its grammar met: "found character that cannot start any
token", "mapping values are not allowed here", "expected <block end>". What
the user wrote was a tab, or a prompt template with a colon or braces in it,
which is exactly what prompts hold. This module reads the line the mark points
at and, when it is one of those, says what to do, quoting the user's own text
back in quotes; any other mistake keeps PyYAML's words, at its line.

The file is read again only on this error path, and only up to that line.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import yaml

from batchedit.errors import SourceError

TAB_MESSAGE = "tabs are not allowed for indentation in YAML; use spaces"
#: `key: value` on one line, with an optional `- ` of a list item before it.
_KEY_VALUE = re.compile(r"^\s*(?:-\s+)*(?P<key>[^\s:#'\"{\[][^:#]*?):[ \t]+(?P<value>.+?)\s*$")
_COMMENT = re.compile(r"\s+#.*$")


def yaml_error(label: str, exc: yaml.YAMLError) -> SourceError:
    """The SourceError for a file PyYAML could not read: at the mark's line, in
    the user's words where the line shows what happened."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return SourceError(label, None, f"is not valid YAML: {exc}")
    mark = exc.problem_mark or exc.context_mark
    line = 0 if mark is None else int(mark.line)
    column = 0 if mark is None else int(mark.column)
    text = _source_line(Path(label), line)
    if text is not None:
        said = _in_words(text, column)
        if said is not None:
            return SourceError(label, line + 1, said)
    detail = " ".join(part for part in (exc.context, exc.problem) if part)
    return SourceError(label, line + 1, f"is not valid YAML: {detail}")


def _in_words(text: str, column: int) -> str | None:
    """What the user should do about this line (the mark at `column`), or None
    when it shows nothing known."""
    indent = text[: len(text) - len(text.lstrip(" \t-"))]
    if "\t" in indent or text[column : column + 1] == "\t":
        return TAB_MESSAGE
    match = _KEY_VALUE.match(text)
    if match is None:
        return None
    key, value = match.group("key"), _COMMENT.sub("", match.group("value"))
    if value[:1] in ("'", '"'):
        if value.rstrip()[-1:] == value[0] and value.count(value[0]) == 2:
            return None  # a quoted value, closed: the mistake is elsewhere
        why = "a quoted value ends at its closing quote, and YAML reads the rest as structure"
    elif ": " in value or value.endswith(":"):
        why = "YAML reads ': ' inside a value as the start of a mapping"
    elif value[:1] in ("{", "["):
        why = f"YAML reads a value starting with '{value[0]}' as structure"
    else:
        return None
    return f"{why}; put the template in quotes: {key}: {quoted(value)}"


def template_in_quotes(key: str, node: yaml.Node) -> str | None:
    """For a value YAML composed as a flow mapping (`prompt: {Handle}`): the
    advice to quote it, with the text rebuilt from the node; None otherwise."""
    if not isinstance(node, yaml.MappingNode) or not node.flow_style:
        return None
    parts: list[str] = []
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or not isinstance(value_node, yaml.ScalarNode):
            return None
        name = str(key_node.value)
        parts.append(name if value_node.value in ("", None) else f"{name}: {value_node.value}")
    text = "{" + ", ".join(parts) + "}"
    return (
        f"field '{key}' is a mapping to YAML (a value starting with '{{' is read as one); "
        f"put the template in quotes: {key}: {quoted(text)}"
    )


def quoted(value: str) -> str:
    """`value` as a YAML quoted scalar: single quotes when it holds double ones."""
    if '"' in value and "'" not in value:
        return f"'{value}'"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _source_line(path: Path, line: int) -> str | None:
    """Line `line` (0-based) of the file, or None when it cannot be read."""
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as stream:
            found = next(itertools.islice(stream, line, line + 1), None)
    except OSError:
        return None
    return None if found is None else found.rstrip("\r\n")
