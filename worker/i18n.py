"""The language staff read: which one to use, and every message translated into it.

Messages are written in English in the code, as ``str.format`` templates with named
placeholders, and looked up in the gettext catalog ``worker/locale/<lang>/LC_MESSAGES/
webinar_worker.mo`` (managed with Babel: ``python -m worker.catalogs``). Indonesian is
the default; English is the source language and needs no catalog.

Three ways to mark a message:

- ``t._("Sent {count} mails", count=n)`` where the text is shown at once;
- ``N_("...")`` where the text is stored first and shown later (a settings
  :class:`~worker.errors.Problem`, a :class:`~worker.errors.WorkerError`): the object
  keeps the English template and its parameters, and ``t.problem(p)`` / ``t.error(exc)``
  translate it when it is shown;
- ``Text(N_("..."), params)`` where a reason must travel as a plain ``str`` (why an integration
  is not configured, a step's error in a tick report): it is the English text, and keeps its
  template so ``t.error(text)`` still shows it in the reader's language.

Only the standard library is imported here: every command loads this module, and
``check`` must start fast.
"""
from __future__ import annotations

import gettext
import os
from pathlib import Path
from typing import Mapping

DOMAIN = "webinar_worker"  # the catalog's file name
LOCALE_DIR = Path(__file__).parent / "locale"  # <lang>/LC_MESSAGES/webinar_worker.mo
LANGUAGES = ("id", "en")  # what --lang accepts; "en" is the source language
DEFAULT_LANGUAGE = "id"  # the staff's language
_ENV_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")  # gettext's order of precedence


def N_(message: str) -> str:  # noqa: N802 (the gettext convention Babel extracts)
    """Mark ``message`` for the catalog without translating it now (it is translated where it is shown)."""
    return message


def language_from_locale(value: str | None) -> str | None:
    """``"en_US.UTF-8"`` -> ``"en"``, ``"id_ID"`` -> ``"id"``; None for C, POSIX, empty or unsupported."""
    if not value:
        return None
    for part in value.split(":"):  # LANGUAGE may list several: "id:en"
        code = part.split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
        if code == "in":  # the old ISO code for Indonesian, still used by some systems
            code = "id"
        if code in LANGUAGES:
            return code
    return None


def choose_language(flag: str | None, environ: Mapping[str, str], settings_locale: str | None = None) -> str:
    """The language to speak: ``--lang``, else the environment (LANGUAGE, LC_ALL, LC_MESSAGES, LANG),
    else the settings' ``series.locale``, else Indonesian.

    A "C" or "POSIX" locale (servers, containers) says nothing about the reader, so it is skipped.
    """
    if flag:
        chosen = language_from_locale(flag)
        if chosen is None:
            from worker.errors import UsageError  # a ValueError that keeps its template for translation

            raise UsageError(N_("--lang {value}: expected one of {choices}"), value=repr(flag),
                             choices=", ".join(LANGUAGES))
        return chosen
    for name in _ENV_VARS:
        chosen = language_from_locale(environ.get(name))
        if chosen:
            return chosen
    return language_from_locale(settings_locale) or DEFAULT_LANGUAGE


class Text(str):
    """A message filled in (in English, so it works wherever a ``str`` does) that keeps its template
    and params, so :meth:`Translator.error` can still show it in the reader's language.

    For reasons stored as plain strings, e.g. why an integration is not configured.
    """

    template: str  # the English template, looked up in the catalog when shown
    params: dict  # its placeholders' values
    prefix: str  # put before the message in every language ("zoom: ")

    def __new__(cls, template: str, params: Mapping[str, object] | None = None, prefix: str = "") -> "Text":
        """``Text(N_("... {name}"), {"name": value})``."""
        params = dict(params or {})
        made = super().__new__(cls, prefix + (template.format(**params) if params else template))
        made.template, made.params, made.prefix = template, params, prefix
        return made

    @classmethod
    def of(cls, exc: BaseException) -> "Text":
        """An exception's message, translatable later when it kept its template (a WorkerError does)."""
        template = getattr(exc, "template", None)
        if template is None:
            return cls(str(exc))
        return cls(template, getattr(exc, "params", None), getattr(exc, "prefix", ""))


class Translator:
    """Translates and fills in messages for one language."""

    def __init__(self, language: str, catalog: gettext.NullTranslations):
        self.language = language  # "id" or "en"
        self._catalog = catalog  # the compiled gettext catalog (a NullTranslations for English)

    def _(self, message: str, /, **params: object) -> str:
        """``message`` in this language, with ``{name}`` placeholders filled from ``params``."""
        text = self._catalog.gettext(message)
        return text.format(**params) if params else text

    def n_(self, singular: str, plural: str, count: int, /, **params: object) -> str:
        """The singular or plural form for ``count``; ``{count}`` is filled in too."""
        text = self._catalog.ngettext(singular, plural, count)
        return text.format(count=count, **params)

    def message(self, template: str, params: Mapping[str, object] | None) -> str:
        """A stored template (marked with ``N_``) translated and filled in now."""
        if isinstance(template, Text) and not params:  # a Text handed on as a message keeps its own template
            return self.error(template)
        # A parameter that is itself a stored message (a Text, an exception) is shown in this language too.
        filled = {name: self.error(value) if isinstance(value, (Text, BaseException)) else value
                  for name, value in (params or {}).items()}
        return self._(template, **filled)

    def problem(self, problem, verbose: bool = False) -> str:
        """One settings :class:`~worker.errors.Problem` in this language: ``file:line key: message``, then,
        when the problem quotes its line, that line with a caret under the mistake and the line as it should
        be written; ``verbose`` adds the parser's own words (``check --verbose``)."""
        text = self.message(problem.message, problem.params)  # words passed as a Text are translated too
        fields = {"file": problem.file, "line": problem.line, "path": problem.path, "text": text}
        if problem.line and problem.path:
            head = self._("{file}:{line} {path}: {text}", **fields)
        elif problem.line:
            head = self._("{file}:{line}: {text}", **fields)
        elif problem.path:
            head = self._("{file} {path}: {text}", **fields)
        else:
            head = self._("{file}: {text}", **fields)
        lines = [head, *problem.quoted()]
        if problem.suggestion:
            lines += ["  " + self._("Write it like this:"), *problem.quoted_suggestion()]
        if verbose and problem.detail:
            lines.append("  " + self._("What the YAML reader said: {detail}", detail=problem.detail))
        return "\n".join(lines)

    def error(self, exc: BaseException) -> str:
        """An exception's message in this language (templates kept by WorkerError; other text as it is)."""
        template = getattr(exc, "template", None)
        if template is None:
            return str(exc)
        text = self.message(template, getattr(exc, "params", None))
        prefix = getattr(exc, "prefix", "")
        return f"{prefix}{text}"


def translator(language: str, locale_dir: Path = LOCALE_DIR) -> Translator:
    """The translator for ``language`` ("id" or "en"); English needs no catalog."""
    if language == "en":
        return Translator("en", gettext.NullTranslations())
    catalog = gettext.translation(DOMAIN, str(locale_dir), [language], fallback=False)
    return Translator(language, catalog)


def translator_for(flag: str | None = None, environ: Mapping[str, str] | None = None,
                   settings_locale: str | None = None) -> Translator:
    """The translator :func:`choose_language` picks (``environ`` defaults to the process environment)."""
    return translator(choose_language(flag, os.environ if environ is None else environ, settings_locale))
