"""The YAML manifest reader, and the YAML plumbing the job-file reader shares.

Rows are composed one node at a time from the parser's events and dropped
once built, so a large YAML manifest streams like a CSV one. YAML 1.1's
surprises (`NO` as false, `4:5` as a number) are kept as the text written.
A problem inside one row is that row's problem; a file that cannot be parsed
at all raises SourceError at its line, and so does a second YAML document
(`---` and more rows after the first list): its rows are never silently
dropped, nor silently added.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, cast

import yaml

from batchedit.errors import SourceError
from batchedit.manifest.sources import RawRow, RawValue, open_source
from batchedit.manifest.yaml_words import template_in_quotes
from batchedit.manifest.yaml_words import yaml_error as yaml_error  # job.py's too

_STARTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_ENDS = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
_MERGE_TAG = "tag:yaml.org,2002:merge"
#: A row's (or defaults') mapping of model parameters, read as `param.<name>` fields.
PARAMS_KEY = "params"


def _loader_class() -> type[yaml.SafeLoader]:
    """libyaml's parser under PyYAML's composer when PyYAML has it: the same nodes
    and marks, several times faster on the passes over a large manifest."""
    if not yaml.__with_libyaml__:
        return yaml.SafeLoader
    from yaml._yaml import CParser
    from yaml.composer import Composer
    from yaml.constructor import SafeConstructor
    from yaml.resolver import Resolver

    class FastLoader(CParser, Composer, SafeConstructor, Resolver):
        def __init__(self, stream: BinaryIO) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    return cast("type[yaml.SafeLoader]", FastLoader)


_LOADER = _loader_class()


@contextmanager
def yaml_loader(path: Path) -> Iterator[yaml.SafeLoader]:
    """A loader on the file; any YAML error inside becomes a SourceError at its line."""
    stream = open_source(path)
    loader = _LOADER(stream)
    try:
        yield loader
    except yaml.YAMLError as exc:
        raise yaml_error(str(path), exc) from exc
    finally:
        loader.dispose()
        stream.close()


def line_of(item: object, offset: int = 1) -> int:
    """The 1-based line of a node or event (offset 1) or of a mark (offset 0)."""
    mark = getattr(item, "start_mark", None) if offset else item
    return int(getattr(mark, "line", 0)) + 1


def key_lines(node: yaml.Node) -> dict[str, int]:
    """Each key of a mapping node and the line it stands on."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(name.value): line_of(name) for name, _ in node.value}


def key_line(node: yaml.MappingNode, key: str) -> int:
    for key_node, _ in node.value:
        if key_node.value == key:
            return line_of(key_node)
    return line_of(node)


def next_event(loader: yaml.SafeLoader, *, peek: bool = False) -> yaml.Event:
    method = loader.peek_event if peek else loader.get_event
    event: yaml.Event = method()  # type: ignore[no-untyped-call]
    return event


def start_document(loader: yaml.SafeLoader, label: str) -> yaml.Event:
    """Step past the stream and document starts; the event of the top-level node."""
    next_event(loader)
    if loader.check_event(yaml.StreamEndEvent):
        raise SourceError(label, None, "is empty; expected a list of rows")
    next_event(loader)
    event = next_event(loader, peek=True)
    if not isinstance(event, _STARTS):
        message = "must be a list of rows, or a mapping with rows: and optional defaults:"
        raise SourceError(label, line_of(event), message)
    return event


def skip_node(loader: yaml.SafeLoader) -> None:
    """Consume one node's events without building it: the cheap pass over rows."""
    depth = 0
    while True:
        event = next_event(loader)
        depth += isinstance(event, _STARTS) - isinstance(event, _ENDS)
        if depth == 0:
            return


def compose_next(loader: yaml.SafeLoader) -> yaml.Node:
    node = loader.compose_node(None, 0)
    assert node is not None  # only None at the end of a document, which callers check
    return node


def yaml_defaults(path: Path) -> dict[str, RawValue]:
    """The manifest's own defaults, and a check of its top-level shape."""
    label = str(path)
    with yaml_loader(path) as loader:
        top = start_document(loader, label)
        if isinstance(top, yaml.SequenceStartEvent):
            return {}
        next_event(loader)
        defaults: dict[str, RawValue] = {}
        seen: list[str] = []
        while not loader.check_event(yaml.MappingEndEvent) and len(seen) < 2:
            key_node = compose_next(loader)
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else ""
            if key not in ("rows", "defaults") or key in seen:
                message = (
                    f"'{key}:' is given twice"
                    if key in seen
                    else (
                        f"unknown key '{key}'; a YAML manifest is a list of rows, or a mapping "
                        "with rows: and optional defaults: (a job file needs a manifest: key)"
                    )
                )
                raise SourceError(label, line_of(key_node), message)
            seen.append(key)
            if key == "defaults":
                defaults = defaults_from_node(loader, compose_next(loader), label)
            elif isinstance(next_event(loader, peek=True), yaml.SequenceStartEvent):
                skip_node(loader)  # the cheap first pass, when defaults: comes after rows:
            else:
                raise SourceError(label, line_of(key_node), "rows: must be a list of mappings")
        if "rows" not in seen:
            raise SourceError(label, line_of(top), "has no rows: list")
        return defaults


def yaml_rows(path: Path) -> Iterator[RawRow]:
    with yaml_loader(path) as loader:
        if isinstance(start_document(loader, str(path)), yaml.MappingStartEvent):
            next_event(loader)
            # open_manifest checked that rows: is there; defaults: is composed, not
            # skipped, so that rows may use its anchors.
            while str(getattr(compose_next(loader), "value", "")) != "rows":
                compose_next(loader)
            mapping = True
        else:
            mapping = False
        next_event(loader)  # the start of the list of rows
        index = 0
        while not loader.check_event(yaml.SequenceEndEvent):
            index += 1
            row = _yaml_row(loader, index, compose_next(loader))
            loader.constructed_objects = {}  # or the loader would keep every row built
            yield row
        next_event(loader)  # the end of the list of rows
        if mapping:
            while not loader.check_event(yaml.MappingEndEvent):
                compose_next(loader)  # a key after rows: (defaults:) and its value
                skip_node(loader)
            next_event(loader)
        end_of_document(loader, str(path))


def end_of_document(loader: yaml.SafeLoader, label: str) -> None:
    """Step past the end of the first document; a second one is an error at its line."""
    next_event(loader)  # the end of the document
    if loader.check_event(yaml.StreamEndEvent):
        return
    event = next_event(loader, peek=True)
    raise SourceError(
        label,
        line_of(event),
        "holds a second YAML document (after '---'); a manifest is one document: "
        "put every row in one list",
    )


def _yaml_row(loader: yaml.SafeLoader, index: int, node: yaml.Node) -> RawRow:
    if not isinstance(node, yaml.MappingNode):
        kind = "list" if isinstance(node, yaml.SequenceNode) else "single value"
        return RawRow(index, line_of(node), {}, (f"row is a {kind}, not a mapping",))
    pairs, problems = mapping_pairs(loader, node)
    values: dict[str, RawValue] = {}
    for key, value in _fields(loader, pairs, problems):
        values[key] = value
    return RawRow(index, line_of(node), values, tuple(problems))


def _fields(
    loader: yaml.SafeLoader, pairs: dict[str, yaml.Node], problems: list[str]
) -> Iterator[tuple[str, RawValue]]:
    """Each field's value; a `params:` mapping becomes `param.<name>` fields, the
    same names a CSV's parameter columns have."""
    for key, value_node in pairs.items():
        if key == PARAMS_KEY and isinstance(value_node, yaml.MappingNode):
            inner, inner_problems = mapping_pairs(loader, value_node)
            problems.extend(f"params: {problem}" for problem in inner_problems)
            for name, node in inner.items():
                value, problem = field_value(loader, f"params: {name}", node)
                if problem is None:
                    yield f"param.{name}", value
                else:
                    problems.append(problem)
            continue
        value, problem = field_value(loader, key, value_node)
        if problem is None:
            yield key, value
        else:
            problems.append(problem)


def mapping_pairs(
    loader: yaml.SafeLoader, node: yaml.MappingNode
) -> tuple[dict[str, yaml.Node], list[str]]:
    """key -> value node, with `<<: *base` merge keys applied (a row's own keys win),
    and the problems: a key given twice, a key that is not text."""
    own = Counter(str(key.value) for key, _ in node.value if key.tag != _MERGE_TAG)
    problems = [f"field '{key}' is given twice" for key, count in own.items() if count > 1]
    try:
        loader.flatten_mapping(node)
    except yaml.YAMLError as exc:
        problems.append(f"cannot merge keys: {getattr(exc, 'problem', exc)}")
    pairs: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and str(key_node.value):
            pairs[str(key_node.value)] = value_node
        else:
            problems.append("a field name must be plain text")
    return pairs, problems


def field_value(loader: yaml.SafeLoader, key: str, node: yaml.Node) -> tuple[RawValue, str | None]:
    """A field's value, or why it cannot be one: a list becomes a tuple of str,
    a mapping is a problem."""
    if isinstance(node, yaml.ScalarNode):
        return _scalar(loader, node, key)
    if not isinstance(node, yaml.SequenceNode):
        return None, template_in_quotes(key, node) or (
            f"field '{key}' is a mapping; give a single value (or a list, for image; "
            "a mapping only under params:)"
        )
    items: list[str] = []
    for item in node.value:
        if not isinstance(item, yaml.ScalarNode):
            return None, f"field '{key}' is a list of lists or mappings; list plain values"
        value, problem = _scalar(loader, item, key)
        if problem is not None:
            return None, problem
        items.append("" if value is None else str(value))
    return tuple(items), None


def _scalar(
    loader: yaml.SafeLoader, node: yaml.ScalarNode, key: str
) -> tuple[RawValue, str | None]:
    try:
        value = loader.construct_object(node)
    except yaml.YAMLError as exc:
        return None, f"field '{key}' cannot be read: {getattr(exc, 'problem', exc)}"
    text = str(node.value)
    if value is None or isinstance(value, str):
        return value, None
    if isinstance(value, bool):
        # YAML 1.1 reads yes/no/on/off as booleans (country: NO); keep those as written.
        return (value if text.lower() in ("true", "false") else text), None
    if isinstance(value, int | float):
        # 4:5 is 245 in YAML 1.1 and 007 is 7: keep numbers only when they read back as written.
        return (value if str(value) == text else text), None
    return text, None  # dates, binary and the like stay as written


def defaults_from_node(loader: yaml.SafeLoader, node: yaml.Node, label: str) -> dict[str, RawValue]:
    """A `defaults:` mapping; any problem in it is one for every row, so it raises."""
    if isinstance(node, yaml.ScalarNode) and loader.construct_object(node) is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise SourceError(label, line_of(node), "defaults: must be a mapping")
    pairs, problems = mapping_pairs(loader, node)
    if problems:
        raise SourceError(label, line_of(node), f"defaults: {problems[0]}")
    defaults: dict[str, RawValue] = {}
    for key, value_node in pairs.items():  # one at a time: a problem is said at its line
        defaults.update(_fields(loader, {key: value_node}, problems))
        if problems:
            raise SourceError(label, line_of(value_node), f"defaults: {problems[0]}")
    loader.constructed_objects = {}
    return defaults


def top_level_keys(path: Path) -> tuple[str, ...] | None:
    """The keys of a YAML file's top-level mapping (None for a list), read from
    events only, so telling a job file from a large manifest costs little."""
    with yaml_loader(path) as loader:
        if isinstance(start_document(loader, str(path)), yaml.SequenceStartEvent):
            return None
        next_event(loader)
        keys: list[str] = []
        while not loader.check_event(yaml.MappingEndEvent):
            key = compose_next(loader)
            keys.append(str(key.value) if isinstance(key, yaml.ScalarNode) else "")
            skip_node(loader)
        return tuple(keys)
