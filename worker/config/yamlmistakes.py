"""A YAML syntax mistake in words staff understand, on the line where it really is.

PyYAML and libyaml say where they *noticed* a problem, often lines after the mistake, and in
parser terms ("could not find expected ':'", "expected <block end>, but found '<scalar>'").
A forgotten colon on line 48 is noticed on line 49; a quote left open on line 47 is noticed
where the next quote closes it, on line 53. This module reads the text around the parser's
marks, names the mistake a person made (a missing colon, an open quote, a tab, a line indented
wrongly, a list item where a key was expected, ...), points at it, and writes the line as it
should be. The parser's own words are kept in :attr:`Problem.detail` for ``check --verbose``.

Pure: the text and the parser's exception in, a :class:`~worker.errors.Problem` out. The two
parsers word their messages differently (libyaml: "did not find expected key"; PyYAML:
"expected <block end>, but found '-'") but put their marks in the same places, so the
diagnosis leans on the marks and the text, and on the wording only where both agree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from worker.errors import Problem
from worker.i18n import N_

BREAKS = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")  # the line breaks YAML counts, so marks and lines agree
_NOT_ALLOWED = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")  # YAML refuses these
_KEY = re.compile(r"^(\s*)((?:-\s+)*)([^\s#'\"\-\[\]{}][^#]*?):(?:\s|$)")  # indent, "- " items, the key, its colon
_DASH_KEY = re.compile(r"^(\s*)-([A-Za-z_][\w-]*\s*:)")  # "-date: ..." (no space after the dash)
_COLON_NO_SPACE = re.compile(r"^(\s*(?:-\s+)?)([A-Za-z_][\w-]*):([^\s:/])")  # "title:Webinar" (not "https://")
_QUOTE_START = re.compile(r"^\s*(?:-\s+)*(?:[^\s'\"#][^#]*?:\s+)?(['\"])")  # a value that opens with a quote


@dataclass(frozen=True)
class Mistake:
    """Where a mistake is (0-based line and column) and what to say about it."""

    line: int  # 0-based line of the mistake
    column: int | None  # 0-based column the caret points at, None for the whole line
    message: str  # an English template marked with N_
    params: dict = field(default_factory=dict)  # the template's placeholders
    suggestion: str = ""  # the line as it should be written, "" when unsure


def describe(text: str, exc: yaml.YAMLError, file_name: str) -> Problem:
    """The Problem for parser error ``exc`` raised on ``text``: the real line, plain words, a fix."""
    lines = BREAKS.split(text)
    detail = _raw(exc)
    hidden = _NOT_ALLOWED.search(text) if isinstance(exc, yaml.reader.ReaderError) else None
    if hidden:
        starts = [0] + [b.end() for b in BREAKS.finditer(text, 0, hidden.start())]
        number, column = len(starts) - 1, hidden.start() - starts[-1]
        line = lines[number]
        return Problem(file_name, number + 1, "", N_("this line holds an invisible control character (code {code}) "
                                                     "that the settings file cannot take; delete it (retype the "
                                                     "text around the caret)"),
                       {"code": f"U+{ord(hidden.group()):04X}"}, column=column + 1, excerpt=line,
                       suggestion=_NOT_ALLOWED.sub("", line), detail=detail)
    if not isinstance(exc, yaml.MarkedYAMLError) or (exc.problem_mark is None and exc.context_mark is None):
        return Problem(file_name, None, "", N_("the settings file cannot be read as a whole; compare it with the "
                                               "shipped settings.yaml"), detail=detail)
    try:
        mistake = diagnose(lines, exc)
    except (IndexError, ValueError, TypeError, AttributeError):  # a heuristic must never turn a mistake into a crash
        mistake = _unknown(exc.problem_mark or exc.context_mark)
    excerpt = lines[mistake.line] if 0 <= mistake.line < len(lines) else ""
    return Problem(file_name, mistake.line + 1, "", mistake.message, mistake.params,
                   column=None if mistake.column is None else mistake.column + 1,
                   excerpt=excerpt, suggestion=mistake.suggestion, detail=detail)


def diagnose(lines: list[str], exc: yaml.MarkedYAMLError) -> Mistake:
    """Name the mistake behind ``exc``: lexical slips first (they confuse everything after them), then by the
    parser's situation."""
    problem, context = exc.problem or "", exc.context or ""
    mark = exc.problem_mark or exc.context_mark
    start = exc.context_mark or mark
    for found in (_tab(lines, exc), _open_quote(lines, mark.line), _dash_without_space(lines, mark.line)):
        if found:
            return found
    if "nesting depth" in problem:
        return Mistake(mark.line, None, N_("the settings are nested too deeply here; check the indentation and "
                                           "the brackets"))
    if "expected ':'" in problem:
        return _missing_colon(lines, start.line)
    if "mapping values are not allowed" in problem:
        return _colon(lines, mark)
    if "flow sequence" in context or "flow mapping" in context:
        return _open_bracket(lines, start, mark)
    if "cannot start any token" in problem:
        return _bad_start(lines, mark.line, mark.column)
    if context.startswith(("while scanning an anchor", "while scanning an alias", "while scanning a block scalar")):
        return _bad_start(lines, start.line, start.column)
    if "escape" in problem:
        return _backslash(lines, mark)
    if "quoted scalar" in context:
        return _stray_quote(lines, start)
    if "document start" in problem:
        return _first_line_indented(lines, mark)
    if "single document" in context:
        return Mistake(mark.line, 0, N_("the line --- starts a second part of the file, but the settings are one "
                                        "part; remove this line"))
    if "block mapping" in context or "block collection" in context:
        return _misplaced(lines, start, mark, "block collection" in context)
    return _unknown(mark)


# -- the mistakes -------------------------------------------------------------------
def _tab(lines: list[str], exc: yaml.MarkedYAMLError) -> Mistake | None:
    """A tab where YAML wants spaces: at the mark, or in the indentation of the mark's line."""
    mark = exc.problem_mark or exc.context_mark
    line = _at(lines, mark.line)
    indent = line[:len(line) - len(line.lstrip(" \t"))]
    if _char(lines, mark.line, mark.column) == "\t":
        column = mark.column
    elif "\t" in indent:
        column = indent.index("\t")
    else:
        return None
    if column < len(indent):
        fixed = " " * _sibling_indent(lines, mark.line) + line.lstrip(" \t")
    else:
        fixed = line[:column] + " " + line[column + 1:].lstrip(" \t")
    return Mistake(mark.line, column, N_("this line contains a tab; the settings file takes spaces only (press the "
                                         "space bar instead of Tab)"), suggestion=fixed)


def _open_quote(lines: list[str], until: int) -> Mistake | None:
    """A quote opened at the start of a value on or before line ``until`` and not closed before it."""
    number = 0
    while number <= until and number < len(lines):
        line = lines[number]
        match = _QUOTE_START.match(line)
        if not match or line.lstrip().startswith("#"):
            number += 1
            continue
        quote, opened = match.group(1), match.start(1)
        end_line = _closing_quote(lines, number, opened)
        if end_line == number:
            number += 1
        elif end_line is not None and end_line < until:
            number = end_line + 1  # a value over several lines, closed before the trouble: legal
        else:
            body = line[opened:]
            comment = re.search(r"\s#", body)
            cut = opened + comment.start() if comment else len(line.rstrip())
            fixed = line[:cut].rstrip() + quote + line[cut:]
            return Mistake(number, opened, N_("the quote {quote} that opens this value is never closed; put a "
                                              "second {quote} at the end of the value"), {"quote": quote}, fixed)
    return None


def _closing_quote(lines: list[str], number: int, opened: int) -> int | None:
    """Line of the quote that closes the one at ``lines[number][opened]`` (None: none before the end)."""
    quote = lines[number][opened]
    column = opened + 1
    while number < len(lines):
        line = lines[number]
        while column < len(line):
            char = line[column]
            if quote == '"' and char == "\\":
                column += 2
                continue
            if char == quote:
                if quote == "'" and line[column + 1:column + 2] == "'":
                    column += 2  # '' is a quote inside single quotes
                    continue
                return number
            column += 1
        number, column = number + 1, 0
    return None


def _dash_without_space(lines: list[str], until: int) -> Mistake | None:
    """``-date: 2027-01-14``: the dash of a list item glued to its key."""
    for number in range(min(until + 1, len(lines))):
        match = _DASH_KEY.match(lines[number])
        if match:
            dash = len(match.group(1))
            fixed = lines[number][:dash + 1] + " " + lines[number][dash + 1:]
            return Mistake(number, dash, N_("a dash (-) that starts a list item must be followed by a space"),
                           suggestion=fixed)
    return None


def _missing_colon(lines: list[str], number: int) -> Mistake:
    """"could not find expected ':'": the parser's context mark is on the line that lacks it."""
    line = _at(lines, number)
    glued = _COLON_NO_SPACE.match(line)
    if glued:
        colon = glued.end(2)
        return Mistake(number, colon + 1, N_("after the colon (:) that follows '{key}' there must be a space"),
                       {"key": glued.group(2)}, line[:colon + 1] + " " + line[colon + 1:])
    above, below = _previous(lines, number), _next(lines, number)
    parent = below is not None and _indent(lines[below]) > _indent(line)  # a section name: its keys follow, indented
    if not parent and above is not None and _indent(lines[above]) > _indent(line):
        wanted = _indent(lines[above]) + (2 if lines[above].rstrip().endswith(":") else 0)
        return Mistake(number, _indent(line), N_("this line continues the text above it but is indented less than "
                                                 "line {above}; indent it like that line"),
                       {"above": above + 1}, " " * wanted + line.lstrip())
    return _colon_after_first_word(lines, number)


def _colon_after_first_word(lines: list[str], number: int) -> Mistake:
    """A ``name value`` line (or a lone ``name``) whose colon was forgotten."""
    line = _at(lines, number)
    word = re.match(r"(\s*(?:-\s+)?)(\S+)", line)
    if not word:
        return _unknown_line(number)
    end = word.end(2)
    fixed = line[:end] + ":" + (line[end:] if line[end:].strip() else "")
    return Mistake(number, end, N_("the colon (:) after '{key}' is missing; write a colon right after the name"),
                   {"key": word.group(2)}, fixed)


def _colon(lines: list[str], mark: yaml.Mark) -> Mistake:
    """"mapping values are not allowed": a colon the parser did not expect, at ``mark``."""
    line = _at(lines, mark.line)
    key = _KEY.match(line)
    if key and mark.column > key.end(3):
        return _quote_value(lines, mark.line, key, mark.column,
                            N_("the value of '{key}' contains a colon followed by a space, which YAML reads as a "
                               "new key; put the whole value in quotes"))
    above = _previous(lines, mark.line)
    if above is not None and not _KEY.match(lines[above]) and _indent(lines[above]) <= _indent(line):
        # "name value" with its colon forgotten, then this line: YAML took both for one long text
        return _colon_after_first_word(lines, above)
    if above is not None and _indent(line) > _key_column(lines[above]):
        return _reindent(lines, mark.line, _key_column(lines[above]), above)
    return _unknown(mark)


def _open_bracket(lines: list[str], start: yaml.Mark, mark: yaml.Mark) -> Mistake:
    """A ``[`` or ``{`` list whose closing bracket is missing on its line."""
    line = _at(lines, start.line)
    opener = _char(lines, start.line, start.column)
    closer = {"[": "]", "{": "}"}.get(opener)
    if closer is None or closer in line[start.column:]:
        return _unknown(mark)
    comment = re.search(r"\s#", line[start.column:])
    cut = start.column + comment.start() if comment else len(line.rstrip())
    return Mistake(start.line, start.column, N_("the bracket {opener} opened here is not closed; end the list with "
                                                "{closer} on the same line"), {"opener": opener, "closer": closer},
                   line[:cut].rstrip() + closer + line[cut:])


def _bad_start(lines: list[str], number: int, column: int) -> Mistake:
    """A value beginning with a character YAML reserves (@, `, %, &, *, |, >, !)."""
    char = _char(lines, number, column)
    line = _at(lines, number)
    key = _KEY.match(line)
    if key and column > key.end(3):
        return _quote_value(lines, number, key, column, N_("a value cannot begin with {char}; put the whole value "
                                                           "in quotes"), {"char": char})
    return Mistake(number, column, N_("a line cannot begin with {char} here; remove it or put the text in quotes"),
                   {"char": char})


def _backslash(lines: list[str], mark: yaml.Mark) -> Mistake:
    """``"C:\\kunci\\akun.json"``: a backslash inside double quotes starts an escape code."""
    line = _at(lines, mark.line)
    column = line.rfind("\\", 0, mark.column + 1)
    opened = line.rfind('"', 0, max(column, 0))
    closed = line.find('"', column + 1) if column >= 0 else -1
    fixed = ""
    if 0 <= opened < column < closed and "'" not in line[opened:closed]:
        fixed = line[:opened] + "'" + line[opened + 1:closed] + "'" + line[closed + 1:]
    return Mistake(mark.line, column if column >= 0 else mark.column,
                   N_("inside double quotes a backslash (\\) starts a special code; put this value in single "
                      "quotes (') instead"), suggestion=fixed)


def _misplaced(lines: list[str], start: yaml.Mark, mark: yaml.Mark, in_list: bool) -> Mistake:
    """Something the parser did not expect where a key (or a list item) should be."""
    line = _at(lines, mark.line)
    indent = _indent(line)
    key = _KEY.match(line)
    if mark.column > indent and key and mark.column > key.end(3):
        return _after_value(lines, mark, key)
    if mark.column > indent:
        return _unknown(mark)
    if line[indent:indent + 2] in ("- ", "-") and not in_list:
        return Mistake(mark.line, indent, N_("this line starts with a dash (-), which begins a list item, but a "
                                             "'key: value' line is expected here; remove the dash"),
                       suggestion=line[:indent] + line[indent + 1:].lstrip(" "))
    if in_list and indent == start.column and key:
        first = _KEY.match(_at(lines, start.line))
        blank_above = mark.line > 0 and not lines[mark.line - 1].strip()
        if blank_above or (first and first.group(3) == key.group(3)):
            return Mistake(mark.line, indent, N_("a new entry of this list starts with a dash and a space (- ), "
                                                 "like the entry on line {first}"), {"first": start.line + 1},
                           line[:indent] + "- " + line[indent:])
    below = _next(lines, mark.line)
    if (not in_list and start.line < mark.line and indent < start.column and _opens_section(lines, start.line)
            and below is not None and _indent(lines[below]) == indent):
        # the section's first line set a column its other lines do not follow: that first line is off
        return Mistake(start.line, _indent(lines[start.line]), N_(
            "this line is indented more than the lines after it (line {below}); lines of one group start in the "
            "same column"), {"below": mark.line + 1}, " " * indent + lines[start.line].lstrip())
    above = _previous(lines, mark.line)
    if above is None:
        return _unknown(mark)
    if not _KEY.match(lines[above]) and _indent(lines[above]) <= indent and not _opens_text(lines, above):
        return _colon_after_first_word(lines, above)  # "name value": taken as the value of the section above
    return _reindent(lines, mark.line, _key_column(lines[above]), above)


def _opens_text(lines: list[str], number: int) -> bool:
    """True when ``lines[number]`` is a list item or a line of a block of text (``description: >-``)."""
    stripped = lines[number].lstrip()
    if stripped.startswith(("-", "[", "{", "\"", "'")):
        return True
    parent = _previous(lines, number)
    return parent is not None and bool(re.search(r":\s*[|>][-+0-9]*\s*(#.*)?$", lines[parent]))


def _stray_quote(lines: list[str], start: yaml.Mark) -> Mistake:
    """A quote the parser took as the start of a text that never ends (a stray one, mid-value)."""
    line = _at(lines, start.line)
    quote = _char(lines, start.line, start.column)
    return Mistake(start.line, start.column, N_("this quote {quote} is never closed; remove it, or put the whole "
                                                "value in the other kind of quotes"), {"quote": quote},
                   line[:start.column] + line[start.column + 1:])


def _first_line_indented(lines: list[str], mark: yaml.Mark) -> Mistake:
    """The file's first line is indented and a later one is not: the first is the odd one out."""
    first = _next(lines, -1)
    if first is None or first >= mark.line or _indent(lines[first]) <= _indent(_at(lines, mark.line)):
        return _unknown(mark)
    return Mistake(first, 0, N_("this line is indented more than the lines after it (line {below}); lines of one "
                                "group start in the same column"), {"below": mark.line + 1},
                   " " * _indent(_at(lines, mark.line)) + lines[first].lstrip())


def _after_value(lines: list[str], mark: yaml.Mark, key: re.Match) -> Mistake:
    """More on the line after a value that already ended: a closing quote or bracket came too early."""
    line = _at(lines, mark.line)
    value_at = key.end(0) + len(line[key.end(0):]) - len(line[key.end(0):].lstrip())
    first = line[value_at:value_at + 1]
    rest = line[mark.column:].split(" #")[0].rstrip()
    if first in "\"'" and rest in ("\"", "'"):  # "value"' : one stray quote after a closed value
        return _stray_quote(lines, yaml.Mark("", 0, mark.line, mark.column, None, None))
    if first in "\"'":
        return _quote_value(lines, mark.line, key, mark.column,
                            N_("there is more text after the closing quote {quote}; put the whole value in the "
                               "other kind of quotes"), {"quote": first}, start=value_at)
    if first in "[{" and rest and set(rest) <= set("]}"):
        return Mistake(mark.line, mark.column, N_("there is a bracket {bracket} too many at the end of this line; "
                                                  "remove it"), {"bracket": rest[0]},
                       line[:mark.column] + line[mark.column + len(rest):])
    if first in "[{":
        return _quote_value(lines, mark.line, key, value_at, N_("a value that begins with {bracket} is read as a "
                                                                "list; put the whole value in quotes"),
                            {"bracket": first}, start=value_at)
    return _unknown(mark)


# -- helpers ------------------------------------------------------------------------
def _quote_value(lines: list[str], number: int, key: re.Match, column: int, message: str,
                 params: dict | None = None, start: int | None = None) -> Mistake:
    """A Mistake whose fix is the value of ``key`` written in quotes (a trailing comment stays outside)."""
    line = _at(lines, number)
    value_at = start if start is not None else key.end(0) + len(line[key.end(0):]) - len(line[key.end(0):].lstrip())
    value, comment = line[value_at:], ""
    split = re.search(r"\s+#", value)
    if split and value[:1] not in "\"'":
        value, comment = value[:split.start()], value[split.start():]
    value = value.rstrip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]  # "Bedah Buku "Laskar Pelangi"": the outer pair was meant as the quotes
    if "'" not in value:
        quoted = f"'{value}'"
    else:
        quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return Mistake(number, column, message, {"key": key.group(3), **(params or {})},
                   line[:value_at] + quoted + comment)


def _reindent(lines: list[str], number: int, wanted: int, above: int) -> Mistake:
    """A line indented differently from the line above it, which it should line up with.

    The first line of a section sets the column of the section; when it is that line which is off (the
    lines after it agree with each other), the parser complains about the second line, so the first is
    named instead.
    """
    line = _at(lines, number)
    below = _next(lines, number)
    if below is not None and _key_column(lines[below]) == _key_column(line) and _opens_section(lines, above):
        shift = _key_column(line) - _key_column(lines[above])
        if shift < 0:
            message = N_("this line is indented more than the lines after it (line {below}); lines of one group "
                         "start in the same column")
        else:
            message = N_("this line is indented less than the lines after it (line {below}); lines of one group "
                         "start in the same column")
        return Mistake(above, _indent(lines[above]), message, {"below": number + 1},
                       " " * max(0, _indent(lines[above]) + shift) + lines[above].lstrip())
    if _indent(line) > wanted:
        message = N_("this line is indented more than line {above}; lines of one group start in the same column")
    else:
        message = N_("this line is indented less than line {above}; lines of one group start in the same column")
    return Mistake(number, _indent(line), message, {"above": above + 1}, " " * wanted + line.lstrip())


def _unknown(mark: yaml.Mark) -> Mistake:
    return Mistake(mark.line, mark.column, N_("the file cannot be read from here on; check the colons (:), quotes "
                                              "and indentation on this line and the line above it"))


def _unknown_line(number: int) -> Mistake:
    return Mistake(number, None, N_("the file cannot be read from here on; check the colons (:), quotes and "
                                    "indentation on this line and the line above it"))


def _previous(lines: list[str], number: int) -> int | None:
    """The nearest line above ``number`` with content (not blank, not only a comment)."""
    for above in range(min(number, len(lines)) - 1, -1, -1):
        stripped = lines[above].strip()
        if stripped and not stripped.startswith("#"):
            return above
    return None


def _opens_section(lines: list[str], number: int) -> bool:
    """True when ``lines[number]`` is the first line under a ``name:`` line that has no value of its own."""
    parent = _previous(lines, number)
    if parent is None:
        return False
    head = re.sub(r"\s+#.*$", "", lines[parent]).rstrip()
    return head.endswith(":") and _indent(lines[parent]) < _indent(lines[number])


def _next(lines: list[str], number: int) -> int | None:
    """The nearest line below ``number`` with content (not blank, not only a comment)."""
    for below in range(number + 1, len(lines)):
        stripped = lines[below].strip()
        if stripped and not stripped.startswith("#"):
            return below
    return None


def _sibling_indent(lines: list[str], number: int) -> int:
    """The indentation a line at ``number`` most likely wanted: its previous content line's key column."""
    above = _previous(lines, number)
    if above is None:
        return 0
    return _key_column(lines[above]) + (2 if lines[above].rstrip().endswith(":") else 0)


def _key_column(line: str) -> int:
    """Column of the key on ``line`` (after any ``- ``), or of its first character."""
    match = _KEY.match(line)
    return len(match.group(1)) + len(match.group(2)) if match else _indent(line)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _at(lines: list[str], number: int) -> str:
    return lines[number] if 0 <= number < len(lines) else ""


def _char(lines: list[str], number: int, column: int) -> str:
    line = _at(lines, number)
    return line[column] if 0 <= column < len(line) else ""


def _raw(exc: yaml.YAMLError) -> str:
    """The parser's message on one line, with 1-based positions (what ``--verbose`` shows)."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return " ".join(str(exc).split())
    parts = []
    for words, mark in ((exc.context, exc.context_mark), (exc.problem, exc.problem_mark)):
        if words:
            parts.append(f"{words} (line {mark.line + 1}, column {mark.column + 1})" if mark else words)
    return "; ".join(parts)
