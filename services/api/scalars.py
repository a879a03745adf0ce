"""Scalars checked at the edge of the API, before any resolver sees them.

``parse_decimal`` is the Decimal scalar's parser (``services.api.quiet.SCALARS``): it refuses what is no
amount at all (``NaN``, ``sNaN``, ``Infinity``) and absurd precision or magnitude (more than
``MAX_DECIMAL_DIGITS`` significant digits, or an exponent beyond ``MAX_DECIMAL_EXPONENT``), as a variable-coercion
or literal error (a GraphQL request error, HTTP 400 under ``application/graphql-response+json``). Scale and range
of money are the domain's rule (``validation.money``): ``12.345`` passes here and is refused, or rounded, there.
"""

from __future__ import annotations

import decimal
from typing import Any

from strawberry.exceptions import StrawberryInputCoercionError

MAX_DECIMAL_DIGITS = 30
MAX_DECIMAL_EXPONENT = 30
MAX_DECIMAL_CHARS = 2 * MAX_DECIMAL_DIGITS + 10  # signs, point, exponent: no more to parse


def parse_decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | decimal.Decimal):
        raise StrawberryInputCoercionError("Value cannot represent a Decimal: expected a string or a number.")
    text = str(value).strip()
    if len(text) > MAX_DECIMAL_CHARS:
        raise StrawberryInputCoercionError(f"Value cannot represent a Decimal: longer than {MAX_DECIMAL_CHARS} "
                                           "characters.")
    try:
        number = decimal.Decimal(text)
    except (decimal.DecimalException, ValueError):
        raise StrawberryInputCoercionError(f'Value cannot represent a Decimal: "{text}".') from None
    if not number.is_finite():
        raise StrawberryInputCoercionError("Value cannot represent a Decimal: it must be a finite number.")
    digits = len(number.as_tuple().digits)
    if digits > MAX_DECIMAL_DIGITS or abs(number.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise StrawberryInputCoercionError(
            f"Value cannot represent a Decimal: at most {MAX_DECIMAL_DIGITS} digits and a magnitude below "
            f"1e{MAX_DECIMAL_EXPONENT}."
        )
    return number
