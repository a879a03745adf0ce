"""The message catalogs cover the code: every message the code marks (a DomainError's or a lifecycle refusal's
literal message, ``msg(...)``, ``N_(...)``; Babel's extractor with ``i18n.KEYWORDS``) is in the zh-CN and the en
catalog, translated (not empty, not fuzzy), with the same placeholders; no message is an f-string (it could never
be looked up); and the catalogs compiled at install say what the ``.po`` files say."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from services.core import i18n
from services.core.i18n.extract import ROOT, extract_messages, gaps, read_catalog

USED = extract_messages()
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_message_the_code_uses_is_translated(locale: str) -> None:
    assert len(USED) > 200  # the extractor found the code's messages (not an empty walk)
    missing = gaps(locale, USED)
    assert missing == [], f"{locale}: {len(missing)} messages missing or untranslated (run python -m " \
                          f"services.core.i18n.extract --update, then translate): {missing[:10]}"


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_translations_keep_the_placeholders(locale: str) -> None:
    catalog = read_catalog(locale)
    for msgid in USED:
        translated = catalog.get(msgid).string
        assert sorted(_PLACEHOLDER.findall(translated)) == sorted(_PLACEHOLDER.findall(msgid)), (locale, msgid)


def test_the_check_sees_a_message_no_catalog_has(tmp_path: Path) -> None:
    """The completeness check is not vacuous: a new message in the code is reported for both languages."""
    module = tmp_path / "services" / "new_feature.py"
    module.parent.mkdir()
    module.write_text('from services.core.i18n import N_, msg\n'
                      'LABEL = N_("a label nobody translated yet")\n'
                      'def f(x):\n    raise DomainError(ErrorCode.INVALID, "a refusal nobody translated yet")\n'
                      'M = msg("{n} things nobody translated yet", n=2)\n', encoding="utf-8")
    found = extract_messages(tmp_path)
    assert set(found) == {"a label nobody translated yet", "a refusal nobody translated yet",
                          "{n} things nobody translated yet"}
    for locale in i18n.LOCALES:
        assert sorted(gaps(locale, found)) == sorted(found)


_MESSAGE_ARG = {"DomainError": 1, "Refusal": 1, "_illegal": 0, "_refused": 1, "msg": 0, "N_": 0}


def test_no_message_is_built_with_an_f_string() -> None:
    """A message made with an f-string has no fixed id: it would reach every reader in English."""
    offenders = []
    for path in sorted((ROOT / "services").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            position = _MESSAGE_ARG.get(name or "")
            if position is not None and len(node.args) > position and isinstance(node.args[position], ast.JoinedStr):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_the_compiled_catalog_says_what_the_po_says(locale: str) -> None:
    mo = i18n.LOCALE_DIR / i18n.catalog_code(locale) / "LC_MESSAGES" / f"{i18n.DOMAIN}.mo"
    assert mo.exists(), "the catalogs are compiled at install (scripts/bootstrap: python -m services.core.i18n.compile)"
    catalog = read_catalog(locale)
    for msgid in USED:
        assert i18n.translate(msgid, locale) == catalog.get(msgid).string


def test_values_are_filled_in_after_translation() -> None:
    refusal = i18n.msg("{field} is longer than {max_length} characters", field="title", max_length=200)
    assert str(refusal) == "title is longer than 200 characters"  # the English text, for logs
    assert i18n.translate(refusal, "zh-CN") == "title超过200个字符"
    assert i18n.translate(refusal, "en") == "title is longer than 200 characters"
    assert i18n.translate("a value the user wrote", "zh-CN") == "a value the user wrote"  # unknown: as it is


def test_a_moment_in_a_message_follows_the_zone_and_the_locale() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    due = i18n.msg("Complaint {number}: the {deadline} deadline passed ({due})", number="2611000001",
                   deadline=i18n.Both("RESOLUTION", "处理完毕"),
                   due=i18n.When(datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC), ZoneInfo("Asia/Shanghai")))
    assert i18n.translate(due, "zh-CN") == "投诉2611000001:处理完毕期限已逾期(2026年11月30日 23:59:59)"
    assert i18n.translate(due, "en").replace("\u202f", " ") == \
        "Complaint 2611000001: the RESOLUTION deadline passed (Nov 30, 2026, 11:59:59 PM)"
