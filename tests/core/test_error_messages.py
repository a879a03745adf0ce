"""Every error code has its message in both catalogs: each ``ErrorCode`` (a payload's ``userErrors``) and each
``RequestCode`` (a top-level error's ``extensions.code``), translated into zh-CN (a text of its own, not the English
copied over) and into en; the one text a standard fixes (Apollo's ``PersistedQueryNotFound``) is in no catalog and
stays as it is in every language."""

from __future__ import annotations

import pytest

from services.core import i18n
from services.core.errors import MESSAGES, REQUEST_MESSAGES, UNTRANSLATED, DomainError, ErrorCode, RequestCode
from services.core.i18n.extract import read_catalog

CATALOGS = {locale: read_catalog(locale) for locale in i18n.LOCALES}


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_user_error_code_has_its_message_in_both_catalogs(code: ErrorCode) -> None:
    text = MESSAGES[code]
    en, zh = CATALOGS["en"].get(text), CATALOGS["zh-CN"].get(text)
    assert en is not None and en.string == text and not en.fuzzy, code
    assert zh is not None and zh.string and zh.string != text and not zh.fuzzy, code
    assert i18n.translate(text, "zh-CN") == zh.string
    assert DomainError(code).message == text  # a refusal without a message of its own says the code's


@pytest.mark.parametrize("code", list(RequestCode))
def test_every_top_level_code_has_its_message_in_both_catalogs(code: RequestCode) -> None:
    text = REQUEST_MESSAGES[code]
    if text in UNTRANSLATED:
        assert code is RequestCode.PERSISTED_QUERY_NOT_FOUND
        assert CATALOGS["en"].get(text) is None and CATALOGS["zh-CN"].get(text) is None
        return
    en, zh = CATALOGS["en"].get(text), CATALOGS["zh-CN"].get(text)
    assert en is not None and en.string == text and not en.fuzzy, code
    assert zh is not None and zh.string and zh.string != text and not zh.fuzzy, code


def test_the_codes_are_the_ones_clients_switch_on() -> None:
    """The tables name every code, and the codes are their own names (no language in a code)."""
    assert set(MESSAGES) == set(ErrorCode) and set(REQUEST_MESSAGES) == set(RequestCode)
    assert all(code.value == code.name for code in (*ErrorCode, *RequestCode))
