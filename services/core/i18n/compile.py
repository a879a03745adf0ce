"""Compile the message catalogs (``.po`` -> ``.mo``): run at install (scripts/bootstrap, the Dockerfile).

``python -m services.core.i18n.compile``; fails when a catalog has an error.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).with_name("locales")


def main() -> int:
    compiled = 0
    for po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parent.parent.name)
        errors = [(m.id, e) for m, es in catalog.check() for e in es]
        if errors:
            for msgid, error in errors:
                print(f"{po}: {msgid!r}: {error}", file=sys.stderr)
            return 1
        with po.with_suffix(".mo").open("wb") as f:
            write_mo(f, catalog)
        compiled += 1
    print(f"compiled {compiled} message catalogs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
