"""zh-CN and en: message catalogs (gettext, compiled by Babel at install) and locale-aware formats.

Texts a person reads are written in English in the code, as the catalogs' message ids, and translated where
they are shown, in the reader's locale (``translate``). Three ways to mark them, all found by the catalog
check (``tests/core/test_i18n_catalogs.py``, keywords in ``KEYWORDS``):

- a literal message of ``DomainError`` (its second argument), of a lifecycle ``Refusal`` or ``_illegal``:
  nothing to add, the API translates ``userErrors.message`` (the ``code`` is the same in every language);
- ``msg("{field} is required", field=name)``: a message with values, a ``str`` (its English text, for logs)
  that remembers its id and values, so it is translated first and filled in after;
- ``N_("...")``: a text kept in a table (labels, notification texts), translated where it is read.

Locales are ``zh-CN`` (the platform's default) and ``en``; a reader's locale is their preference, else their
request's ``Accept-Language``, else the tenant's default (``choose``).
"""

from __future__ import annotations

import gettext
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
DOMAIN = "complaintdesk"
LOCALE_DIR = Path(__file__).with_name("locales")
KEYWORDS: dict[str, tuple[int, ...]] = {
    "N_": (1,), "msg": (1,), "DomainError": (2,), "Refusal": (2,), "_illegal": (1,),
}
"""The calls whose string argument is a message id (Babel's extraction keywords; 1-based positions)."""


def N_(text: str) -> str:
    """Marks a text for the catalogs; translated where it is read."""
    return text


class Msg(str):
    """A message with values: its English text (``str(self)``), its id and its values, translated later."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, params: dict[str, Any]) -> Msg:
        made = super().__new__(cls, msgid.format(**params))
        made.msgid = msgid
        made.params = params
        return made


def msg(msgid: str, **params: Any) -> Msg:
    return Msg(msgid, params)


class When:
    """A moment put into a message: written in the tenant's time zone ``tz`` and the reader's locale's format
    (Babel's CLDR medium format); English where no locale is known (``str``, logs)."""

    def __init__(self, moment: datetime, tz: ZoneInfo) -> None:
        self.moment, self.tz = moment, tz

    def __format__(self, spec: str) -> str:
        return format_datetime(self.moment, "en", self.tz)

    def __str__(self) -> str:
        return format(self)


class Both(str):
    """A value put into a message that carries its own zh-CN text (a lifecycle step's name, a status's label):
    ``str(self)`` is the English, ``translate`` picks the reader's."""

    zh: str

    def __new__(cls, en: str, zh: str) -> Both:
        made = super().__new__(cls, en)
        made.zh = zh
        return made


def catalog_code(locale: str) -> str:
    """``zh-CN`` -> ``zh_CN`` (the directory and Babel's name)."""
    return locale.replace("-", "_")


def normalize(locale: str | None) -> str | None:
    """One of ``LOCALES`` for a tag like ``zh``, ``zh-Hans-CN``, ``en-GB`` (None: neither)."""
    if not locale:
        return None
    tag = locale.strip().lower().replace("_", "-")
    if tag == "zh" or tag.startswith("zh-"):
        return "zh-CN"
    if tag == "en" or tag.startswith("en-"):
        return "en"
    return None


@lru_cache(maxsize=256)  # the same few headers again and again
def from_accept_language(header: str | None) -> str | None:
    """The best of ``LOCALES`` an ``Accept-Language`` header asks for (by q-value, then order), or None."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        found = normalize(tag)
        if found is not None and q > 0:
            ranked.append((-q, index, found))
    return min(ranked)[2] if ranked else None


def choose(preference: str | None, accept_language: str | None, tenant_default: str | None) -> str:
    """The reader's preference, else what their request accepts, else the tenant's default, else zh-CN."""
    return (normalize(preference) or from_accept_language(accept_language) or normalize(tenant_default)
            or DEFAULT_LOCALE)


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The compiled catalog of ``locale`` (``.mo``); the ``.po`` itself when it was not compiled (a checkout
    whose install step did not run), so a text is never shown untranslated for that reason."""
    code = catalog_code(locale)
    mo = LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if mo.exists():
        with mo.open("rb") as f:
            return gettext.GNUTranslations(f)
    po = mo.with_suffix(".po")
    if not po.exists():
        return gettext.NullTranslations()
    from babel.messages.pofile import read_po
    from babel.support import Translations

    with po.open("rb") as f:
        return Translations(_mo_bytes(read_po(f, locale=code)))


def _mo_bytes(catalog: Any) -> Any:
    from io import BytesIO

    from babel.messages.mofile import write_mo

    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return buffer


def gettext_(locale: str, text: str) -> str:
    return translations(normalize(locale) or DEFAULT_LOCALE).gettext(text)


def translate(text: str, locale: str) -> str:
    """``text`` in ``locale``: a ``Msg`` translated then filled in, any other marked text translated (an
    unknown text, e.g. a value the user wrote, is returned as it is)."""
    if isinstance(text, Both):
        return text.zh if normalize(locale) == "zh-CN" and text.zh else str(text)
    if isinstance(text, Msg):
        params = {k: translate(v, locale) if isinstance(v, Msg | Both)
                  else format_datetime(v.moment, locale, v.tz) if isinstance(v, When) else v
                  for k, v in text.params.items()}
        try:
            return gettext_(locale, text.msgid).format(**params)
        except (KeyError, IndexError, ValueError):
            return str(text)
    return gettext_(locale, text)


def format_datetime(moment: datetime, locale: str, tz: ZoneInfo, *, format: str = "medium") -> str:
    """A moment in the tenant's time zone, in the locale's format (Babel's CLDR patterns)."""
    from babel.dates import format_datetime as babel_format

    return babel_format(moment, format=format, tzinfo=tz, locale=catalog_code(normalize(locale) or DEFAULT_LOCALE))


def format_date(day: Any, locale: str, *, format: str = "medium") -> str:
    from babel.dates import format_date as babel_format

    return babel_format(day, format=format, locale=catalog_code(normalize(locale) or DEFAULT_LOCALE))


def localized(texts: dict[str, str] | None, locale: str) -> str:
    """A tenant-written text in ``locale`` (``{"zh-CN": ..., "en": ...}``), else the other language's."""
    if not texts:
        return ""
    return texts.get(locale) or texts.get(DEFAULT_LOCALE) or next(iter(texts.values()), "")
