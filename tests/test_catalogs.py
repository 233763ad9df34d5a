"""The message catalogs: in step with the code, fully translated, compiled; and the language choice."""
from __future__ import annotations

import pytest

from worker import catalogs
from worker.errors import IntegrationError, Problem, WorkerError
from worker.i18n import N_, choose_language, translator


def test_every_catalog_is_in_step_with_the_code_translated_and_compiled():
    found = catalogs.problems()
    assert found == [], "run `python -m worker.catalogs update` then `compile`, and translate:\n" + "\n".join(found)


@pytest.mark.parametrize("flag, env, locale, expected", [
    (None, {}, None, "id"),
    (None, {}, "id_ID", "id"),
    (None, {}, "en_GB", "en"),
    ("en", {"LANG": "id_ID.UTF-8"}, "id_ID", "en"),
    (None, {"LANG": "en_US.UTF-8"}, "id_ID", "en"),
    (None, {"LANG": "C.UTF-8"}, "id_ID", "id"),
    (None, {"LANG": "POSIX"}, None, "id"),
    (None, {"LANGUAGE": "id:en", "LANG": "en_US.UTF-8"}, None, "id"),
    (None, {"LC_ALL": "in_ID"}, None, "id"),
])
def test_the_language_is_the_flag_then_the_environment_then_the_settings(flag, env, locale, expected):
    assert choose_language(flag, env, locale) == expected


def test_an_unknown_lang_flag_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="expected one of id, en"):
        choose_language("fr", {}, None)


def test_english_shows_the_source_text_and_fills_placeholders():
    t = translator("en")
    assert t._("{count} problem(s) found; nothing was changed.", count=3) == "3 problem(s) found; nothing was changed."
    problem = Problem("s.yaml", 4, "series.title", N_("'{key}' must not be empty"), {"key": "title"})
    assert t.problem(problem) == "s.yaml:4 series.title: 'title' must not be empty"
    assert str(problem) == t.problem(problem)


def test_errors_keep_their_template_and_show_the_service_in_any_language():
    exc = IntegrationError("zoom", "refused with {status}", params={"status": 401})
    assert str(exc) == "zoom: refused with 401"
    assert translator("id").error(exc) == "zoom: refused with 401"  # not in the catalog: English, not a crash
    plain = WorkerError("braces {stay} when there are no params")
    assert translator("id").error(plain) == "braces {stay} when there are no params"
