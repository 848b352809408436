"""Athena's text values typed back into Python values, by the column types of the result.

`GetQueryResults` answers every value as text (`VarCharValue`, absent for NULL) and each
column's type in `ResultSetMetadata.ColumnInfo` (Athena API Reference, `ColumnInfo`, 2025). The
text is Trino's rendering of the value cast to varchar: `2025-01-02 03:04:05.123` for a
timestamp, `true` for a boolean, `[1, 2, 3]` for an array. The metadata names an array only as
`array`, so the element type comes from the type the query declares for the column
(`array(integer)`).

A type this module does not know (row, map, json, varbinary, time, interval) is answered as its
text: nothing is lost, and no column of the data model has such a type.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Reader = Callable[[str], Any]

_TIMESTAMP = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d+))?)?"
)
_OFFSET = re.compile(r"(?P<sign>[+-])(?P<h>\d{2}):?(?P<m>\d{2})")
_PARAMETERS = re.compile(r"\([^()]*\)")
_ARRAY = re.compile(r"array\s*\((?P<element>.*)\)", re.IGNORECASE | re.DOTALL)


def value_reader(athena_type: str, declared_type: str = "") -> Reader:
    """The function that types one non-null value of a column.

    `athena_type` is the result metadata's type; `declared_type` is the query's own type for
    the column, used for what the metadata leaves out (the element type of an array).
    """
    base = base_type(athena_type)
    if base == "array":
        element = _element_type(declared_type) or _element_type(athena_type)
        read_element = value_reader(element, element) if element else str
        return lambda text: read_array(text, read_element)
    return _SCALAR_READERS.get(base, str)


def base_type(type_name: str) -> str:
    """`decimal(10,2)` → `decimal`, `timestamp(3) with time zone` → `timestamp with time zone`."""
    name = type_name.strip().lower()
    while True:
        shorter = _PARAMETERS.sub("", name)
        if shorter == name:
            return " ".join(name.split())
        name = shorter


def read_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"not a boolean: {text!r}")
    return lowered == "true"


def read_decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a decimal: {text!r}") from None


def read_timestamp(text: str) -> datetime:
    """A naive datetime, as the lake's UTC timestamps are.

    NOTE: Python's datetime stops at microseconds, so a Trino `timestamp(9)` value loses its
    last three digits (cut, not rounded). The lake's timestamps are `timestamp(6)`.
    """
    match = _TIMESTAMP.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a timestamp: {text!r}")
    return _timestamp_of(match)


def read_timestamp_tz(text: str) -> datetime:
    """An aware datetime from `2025-01-02 03:04:05.123 UTC` (a zone name or an offset)."""
    stamp, _, zone = text.strip().rpartition(" ")
    match = _TIMESTAMP.fullmatch(stamp)
    if match is None or not zone:
        raise ValueError(f"not a timestamp with time zone: {text!r}")
    return _timestamp_of(match).replace(tzinfo=_zone(zone))


def read_array(text: str, read_element: Reader) -> list[Any]:
    """`[1, 2, null]` → `[1, 2, None]`, nested arrays included.

    NOTE: Athena writes array elements unquoted, so a varchar element holding ", " or the text
    "null" cannot be told apart from two elements or a NULL. The data model's only array is
    `array(integer)`, which is unambiguous; a text array would need the query to answer it as
    JSON (`CAST(x AS JSON)`) instead.
    """
    body = text.strip()
    if not (body.startswith("[") and body.endswith("]")):
        raise ValueError(f"not an array: {text!r}")
    inner = body[1:-1]
    if not inner.strip():
        return []
    return [None if item == "null" else read_element(item) for item in _split_items(inner)]


def _split_items(inner: str) -> list[str]:
    # Split on the ", " separators at nesting depth 0 only: nested arrays, maps and rows keep
    # their own separators.
    items: list[str] = []
    depth, start, index = 0, 0, 0
    while index < len(inner):
        char = inner[index]
        if char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif depth == 0 and inner.startswith(", ", index):
            items.append(inner[start:index])
            start = index = index + 2
            continue
        index += 1
    items.append(inner[start:])
    return items


def _element_type(type_name: str) -> str:
    match = _ARRAY.fullmatch(type_name.strip())
    return match.group("element").strip() if match else ""


def _timestamp_of(match: re.Match[str]) -> datetime:
    fraction = (match.group("f") or "")[:6].ljust(6, "0")
    day = date.fromisoformat(match.group("date"))
    hour, minute, second = int(match.group("h")), int(match.group("m")), int(match.group("s") or 0)
    return datetime(day.year, day.month, day.day, hour, minute, second, int(fraction))


def _zone(name: str) -> tzinfo:
    if name in ("UTC", "Z"):
        return UTC
    offset = _OFFSET.fullmatch(name)
    if offset is not None:
        sign = -1 if offset.group("sign") == "-" else 1
        minutes = int(offset.group("h")) * 60 + int(offset.group("m"))
        return timezone(sign * timedelta(minutes=minutes))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone: {name!r}") from None


_SCALAR_READERS: dict[str, Reader] = {
    "varchar": str,
    "char": str,
    "string": str,
    "tinyint": int,
    "smallint": int,
    "integer": int,
    "int": int,
    "bigint": int,
    "double": float,
    "float": float,
    "real": float,
    "decimal": read_decimal,
    "boolean": read_bool,
    "date": date.fromisoformat,
    "timestamp": read_timestamp,
    "timestamp with time zone": read_timestamp_tz,
}
