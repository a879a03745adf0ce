"""The messages the code uses, found with Babel's extractor, and the catalogs' upkeep.

``python -m services.core.i18n.extract``: list the messages a catalog misses or leaves untranslated;
``--update``: add the missing ones to every ``.po`` (empty, to be translated) and drop the obsolete ones.
The test ``tests/core/test_i18n_catalogs.py`` fails while any message lacks a translation in zh-CN or en.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

from services.core.i18n import DOMAIN, KEYWORDS, LOCALE_DIR, LOCALES, catalog_code

ROOT = Path(__file__).resolve().parents[3]
SOURCES = ("services",)


def extract_messages(root: Path = ROOT) -> dict[str, list[tuple[str, int]]]:
    """Every message id the code marks (``KEYWORDS``), with where it is used."""
    found: dict[str, list[tuple[str, int]]] = {}
    for top in SOURCES:
        for path in sorted((root / top).rglob("*.py")):
            for lineno, message, _comments, _context in extract_from_file(
                    "python", str(path), keywords=KEYWORDS, comment_tags=(), strip_comment_tags=True):
                if isinstance(message, str) and message:
                    found.setdefault(message, []).append((str(path.relative_to(root)), lineno))
    return found


def po_path(locale: str) -> Path:
    return LOCALE_DIR / catalog_code(locale) / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(locale: str) -> Catalog:
    path = po_path(locale)
    if not path.exists():
        return Catalog(locale=catalog_code(locale), domain=DOMAIN)
    with path.open("rb") as f:
        return read_po(f, locale=catalog_code(locale))


def gaps(locale: str, used: dict[str, list[tuple[str, int]]]) -> list[str]:
    """The messages used but missing from ``locale``'s catalog or untranslated (fuzzy counts as untranslated)."""
    catalog = read_catalog(locale)
    out = []
    for msgid in used:
        entry = catalog.get(msgid)
        if entry is None or not entry.string or entry.fuzzy:
            out.append(msgid)
    return out


def update(used: dict[str, list[tuple[str, int]]]) -> None:
    for locale in LOCALES:
        old = read_catalog(locale)
        new = Catalog(locale=catalog_code(locale), domain=DOMAIN, project="complaintdesk",
                      charset="utf-8", fuzzy=False)
        for msgid, where in sorted(used.items()):
            entry = old.get(msgid)
            string = entry.string if entry is not None else ("" if locale != "en" else msgid)
            new.add(msgid, string, locations=where[:3])
        path = po_path(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            write_po(f, new, width=120, omit_header=False, sort_output=True)


def main(argv: list[str]) -> int:
    used = extract_messages()
    if "--update" in argv:
        update(used)
    missing = {locale: gaps(locale, used) for locale in LOCALES}
    for locale, msgids in missing.items():
        for msgid in msgids:
            print(f"{locale}: {msgid!r}")
    print(f"{len(used)} messages; " + ", ".join(f"{loc}: {len(m)} to translate" for loc, m in missing.items()))
    return 1 if any(missing.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
