"""Read YAML into plain Python values while remembering the line of every key.

PyYAML's own constructors would turn ``2027-02-30`` into a crash and lose line numbers,
so we compose the node tree and build the values ourselves: scalars stay as YAML resolved
them (int, float, bool, null), except timestamps, which stay text for the checker to parse.
A key written twice is recorded as a problem, not raised, so the checker still reports
everything else in the same run.

The file is edited by people and read by a worker that runs for months, so it is bounded
before anything is built: aliases (``*name``) are refused, because nested aliases expand
exponentially (the "billion laughs" file of 342 bytes), and nesting deeper than
MAX_DEPTH is refused before PyYAML's recursive composer could raise RecursionError.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from worker.config.yamlmistakes import BREAKS, describe
from worker.errors import Problem, SettingsError
from worker.i18n import N_

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed: 10x faster, same events and marks
MAX_DEPTH = 20  # sections and lists nested deeper than this are refused (the shipped file uses 4)


@dataclass
class Located:
    """A parsed document plus the 1-based line of each key path."""

    value: object  # the document as dicts, lists and scalars
    lines: dict[str, int] = field(default_factory=dict)  # "topics[1].date" -> line
    problems: list[Problem] = field(default_factory=list)  # found while reading (repeated keys)

    def line(self, path: str) -> int | None:
        """Line of ``path``, or of its nearest parent that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None


def join_path(parent: str, key: str | int) -> str:
    """Key path of ``key`` under ``parent``; list items are numbered from 1 for people."""
    if isinstance(key, int):
        return f"{parent}[{key + 1}]"
    return f"{parent}.{key}" if parent else str(key)


def load_yaml(text: str, file_name: str, loader: type = LOADER) -> Located:
    """Parse ``text``; a YAML syntax error, an alias or too deep nesting becomes a SettingsError naming the line
    where the mistake is, in plain words (see :mod:`worker.config.yamlmistakes`)."""
    try:
        check_bounds(text, file_name, loader)
        node = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise SettingsError([describe(text, exc, file_name)]) from None
    located = Located(None)
    if node is not None:
        located.value = _build(node, "", located, file_name)
    return located


def check_bounds(text: str, file_name: str, loader: type = LOADER) -> None:
    """Walk the event stream (flat, no recursion): refuse aliases and nesting deeper than MAX_DEPTH."""
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, yaml.AliasEvent):
            raise SettingsError([Problem(
                file_name, line, "", N_("the value *{name} starts with a star, which YAML reads as a reference to "
                                        "another value (not allowed in this file); write the value out in full, "
                                        "or put it in quotes if the star is part of the text"),
                {"name": event.anchor}, **_quoted_at(text, event.start_mark))])
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise SettingsError([Problem(file_name, line, "", N_(
                    "this is nested more than {limit} levels deep, and the settings need at most 4; check the "
                    "indentation and the brackets"), {"limit": MAX_DEPTH}, **_quoted_at(text, event.start_mark))])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _quoted_at(text: str, mark: yaml.Mark | None) -> dict:
    """The Problem fields that quote the line of ``mark`` with a caret at its column."""
    if mark is None:
        return {}
    lines = BREAKS.split(text)
    excerpt = lines[mark.line] if mark.line < len(lines) else ""
    return {"column": mark.column + 1, "excerpt": excerpt} if excerpt else {}


def _build(node: yaml.Node, path: str, located: Located, file_name: str) -> object:
    if isinstance(node, yaml.MappingNode):
        result: dict[str, object] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = join_path(path, key)
            line = key_node.start_mark.line + 1
            if key in result:
                # Keep the first value so its lines stay right; the file is refused anyway,
                # and the rest of it is still checked.
                located.problems.append(Problem(file_name, line, child, N_(
                    "this key appears twice (first on line {first}); keep only one"), {"first": located.lines[child]}))
                continue
            located.lines[child] = line
            result[key] = _build(value_node, child, located, file_name)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            child = join_path(path, index)
            located.lines[child] = item.start_mark.line + 1
            items.append(_build(item, child, located, file_name))
        return items
    return _scalar(node)


def _scalar(node: yaml.Node) -> object:
    text = node.value
    if node.tag == _NULL:
        return None
    if node.tag == _BOOL:
        return text.lower() in ("true", "yes", "on")
    if node.tag == _INT:
        if ":" in text:  # YAML 1.1 reads 10:30 as base-60 630; we want the time as written
            return text
        try:
            return int(text.replace("_", ""), 0)
        except ValueError:
            return text
    if node.tag == _FLOAT:
        try:
            return float(text.replace("_", ""))
        except ValueError:
            return text
    return text
