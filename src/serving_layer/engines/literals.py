"""Python values as Trino SQL literals: how the Athena engine binds its `ExecutionParameters`.

Athena engine v3 (Trino) takes each execution parameter as the SQL text of one constant and
binds it to the next `?` of the query, so every value must become a literal that reads back as
exactly that value and can never end early and let the rest run as SQL. The forms, per Trino's
grammar (`SqlBase.g4`, the `STRING`, `UNICODE_STRING` and `number` rules) and Athena's guide
"Use parameterized queries" (2025):

- text: `'…'` with each `'` doubled. Inside it every other character is literal, backslashes
  included. When the text holds a control or invisible formatting character (Unicode categories
  Cc, Cf, Zl, Zp: line breaks, tabs, bidirectional overrides) the literal is `U&'…'` instead,
  where such characters are written `\\XXXX` or `\\+XXXXXX` and a backslash as `\\\\`; the text
  stays one printable line, whatever it holds, in the request and in any log.
  NUL cannot be stored in a Trino varchar reliably and a lone surrogate cannot be sent as
  UTF-8: both are refused as client mistakes.
- whole numbers: digits, within BIGINT; booleans: `true` / `false` (never 1 / 0).
- floats: a DOUBLE literal with an exponent (`1.5E0`: without one Trino reads a DECIMAL);
  finite only.
- `Decimal`: `DECIMAL '…'`, at most 38 digits (Trino's largest precision); finite only.
- `datetime`: `TIMESTAMP 'YYYY-MM-DD HH:MM:SS.ffffff'`, UTC (an aware value is converted).
- `date`: `DATE 'YYYY-MM-DD'`; `None`: `NULL`.

NOTE: every form is checked offline against Trino's grammar; the `U&'…'` form has not been run
on a live Athena workgroup yet (no text parameter is bound today: range bounds and client ids
are timestamps and integers). A live check should bind one such literal before text values are.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from serving_layer.errors import ValidationFailedError

# Athena's API model limits each ExecutionParameters member to 1..1024 characters.
# NOTE: counted here in code points; whether the service counts UTF-16 units or bytes is not
# documented, so text near the limit with characters outside the BMP may still be refused.
MAX_PARAMETER_CHARS = 1024
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
DECIMAL_MAX_DIGITS = 38
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def sql_literal(value: Any) -> str:
    """The Trino literal of `value`; a client mistake (NaN, NUL, too long) is a 400."""
    literal = _render(value)
    if len(literal) > MAX_PARAMETER_CHARS:
        raise ValidationFailedError(
            f"a value is too long for the query engine: it needs {len(literal)} characters "
            f"as SQL, and at most {MAX_PARAMETER_CHARS} fit; shorten it"
        )
    return literal


def _render(value: Any) -> str:
    # bool before int (bool is an int), datetime before date (datetime is a date).
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _bigint(value)
    if isinstance(value, float):
        return _double(value)
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return varchar_literal(value)
    raise TypeError(f"no SQL literal for a value of type {type(value).__name__}")


def varchar_literal(text: str) -> str:
    """`text` as a Trino string literal: plain when printable, else with Unicode escapes."""
    for position, char in enumerate(text):
        if char == "\x00":
            raise ValidationFailedError(
                f"text values may not contain the NUL character (U+0000); found one at "
                f"position {position}: remove it"
            )
        if "\ud800" <= char <= "\udfff":
            raise ValidationFailedError(
                f"text values must be valid Unicode; found a lone surrogate "
                f"U+{ord(char):04X} at position {position}"
            )

    if not any(_needs_escape(char) for char in text):
        return "'" + text.replace("'", "''") + "'"
    return "U&'" + "".join(_unicode_escaped(char) for char in text) + "'"


def _needs_escape(char: str) -> bool:
    return unicodedata.category(char) in _ESCAPED_CATEGORIES


def _unicode_escaped(char: str) -> str:
    # Inside U&'…' the backslash starts an escape, so it is escaped itself; a quote is doubled
    # exactly as in a plain literal (Trino unquotes before it decodes escapes).
    if char == "\\":
        return "\\\\"
    if char == "'":
        return "''"
    if not _needs_escape(char):
        return char
    code = ord(char)
    return f"\\{code:04X}" if code <= 0xFFFF else f"\\+{code:06X}"


def _bigint(value: int) -> str:
    if not BIGINT_MIN <= value <= BIGINT_MAX:
        raise ValidationFailedError(
            f"whole numbers must fit in 64 bits ({BIGINT_MIN} to {BIGINT_MAX}); got {value}"
        )
    return str(value)


def _double(value: float) -> str:
    if not math.isfinite(value):
        raise ValidationFailedError(f"numbers must be finite; got {value!r}")

    # repr is the shortest text that reads back as the same double; Trino needs an exponent
    # to read a DOUBLE rather than a DECIMAL.
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    return f"{mantissa}E{int(exponent or 0)}"


def _decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValidationFailedError(f"numbers must be finite; got {value}")
    precision = _precision(value)
    if precision > DECIMAL_MAX_DIGITS:
        raise ValidationFailedError(
            f"decimal numbers may have at most {DECIMAL_MAX_DIGITS} digits; got {precision}"
        )
    return f"DECIMAL '{value:f}'"


def _precision(value: Decimal) -> int:
    """The digits Trino counts in the literal `value:f` writes: its DECIMAL precision."""
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite, checked by the caller
    if exponent >= 0:
        return len(digits) + exponent
    return max(len(digits), -exponent)


def _timestamp(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return f"TIMESTAMP '{value.isoformat(sep=' ', timespec='microseconds')}'"
