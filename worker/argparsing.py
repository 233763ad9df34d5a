"""The command line's own words (usage, section titles, ``-h``, argparse's errors) in the reader's language.

argparse takes its words from the process-wide ``gettext`` domain; changing that would change
every other program in the process. Instead the parser and its help formatter here are given a
:class:`~worker.i18n.Translator` and use it for each word they print, and argparse's error
messages are recognised and translated where they are shown (:meth:`LocalParser.error`).

The language is known before the settings are read: ``--lang`` found in the arguments by hand
(argparse has not run yet), else the environment, else Indonesian.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from functools import partial
from typing import Mapping, NoReturn, Sequence

from worker.i18n import N_, Translator, choose_language, translator

# argparse's English error texts (CPython 3.11-3.13), each with the catalog template that says it in our words.
# Checked in order; "argument X: ..." wraps another message, which is translated in turn.
_ARGPARSE_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^argument (?P<argument>.+?): (?P<message>.+)$", re.S), N_("{argument}: {message}")),
    (re.compile(r"^the following arguments are required: (?P<names>.+)$"),
     N_("this is missing: {names}")),
    (re.compile(r"^unrecognized arguments: (?P<words>.+)$"), N_("not understood: {words}")),
    (re.compile(r"^invalid choice: (?P<value>.+?) \(choose from (?P<choices>.+)\)$"),
     N_("{value} is not one of the choices ({choices})")),
    (re.compile(r"^expected one argument$"), N_("a value is needed after it")),
    (re.compile(r"^expected at least one argument$"), N_("at least one value is needed after it")),
    (re.compile(r"^invalid (?P<type>\w+) value: (?P<value>.+)$"), N_("{value} is not valid here")),
    (re.compile(r"^ambiguous option: (?P<option>\S+) could match (?P<matches>.+)$"),
     N_("{option} could mean {matches}; write it out in full")),
)


def argv_language(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Translator:
    """The translator for help and usage errors: ``--lang X`` / ``--lang=X`` in ``argv``, else the
    environment, else Indonesian (the settings are not read for help). An unknown ``--lang`` is
    ignored here; the parsed arguments report it."""
    flag = None
    for index, word in enumerate(argv):
        if word == "--":
            break
        if word == "--lang" and index + 1 < len(argv):
            flag = argv[index + 1]
        elif word.startswith("--lang="):
            flag = word.split("=", 1)[1]
    env = os.environ if environ is None else environ
    try:
        return translator(choose_language(flag, env))
    except ValueError:
        return translator(choose_language(None, env))


def argparse_message(t: Translator, message: str) -> str:
    """One of argparse's English error messages in ``t``'s language (unknown ones stay as they are)."""
    for pattern, template in _ARGPARSE_ERRORS:
        found = pattern.match(message)
        if found:
            params = dict(found.groupdict())
            if "message" in params:
                params["message"] = argparse_message(t, params["message"])
            return t._(template, **params)
    return message


class LocalFormatter(argparse.HelpFormatter):
    """argparse's help layout with "usage:" in the parser's language."""

    def __init__(self, prog: str, *, t: Translator, **kwargs) -> None:
        super().__init__(prog, **kwargs)
        self.t = t  # says "usage:"

    def add_usage(self, usage, actions, groups, prefix=None) -> None:
        """The usage line, prefixed in the reader's language unless argparse asked for no prefix."""
        super().add_usage(usage, actions, groups, self.t._("usage: ") if prefix is None else prefix)


class LocalParser(argparse.ArgumentParser):
    """An ArgumentParser whose section titles, ``-h`` text, usage and errors follow ``t``."""

    def __init__(self, *args, t: Translator, **kwargs) -> None:
        kwargs["add_help"] = False  # our own -h below, with its text translated
        kwargs.setdefault("formatter_class", partial(LocalFormatter, t=t))  # argparse calls it with prog=
        super().__init__(*args, **kwargs)
        self.t = t  # the reader's language
        self._positionals.title = t._("positional arguments")
        self._optionals.title = t._("options")
        self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS,
                          help=t._("show this help message and exit"))

    def add_subparsers(self, **kwargs):
        """Subcommands built as LocalParsers in the same language."""
        parent_t = self.t

        class _Sub(LocalParser):  # a subcommand's parser gets the parent's language without being told
            def __init__(self, *a, **kw) -> None:
                kw.setdefault("t", parent_t)
                super().__init__(*a, **kw)

        kwargs.setdefault("parser_class", _Sub)
        return super().add_subparsers(**kwargs)

    def error(self, message: str) -> NoReturn:
        """Usage, then argparse's complaint in the reader's words; exit 2."""
        self.print_usage(sys.stderr)
        self.exit(2, self.t._("{prog}: error: {message}", prog=self.prog,
                              message=argparse_message(self.t, message)) + "\n")
