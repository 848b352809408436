"""Rows sent to the manage API, checked against the data model before anything is written.

A batch is all-or-nothing, so validation never stops at the first mistake: it walks every row
and every column and reports each problem as `{"row", "column", "detail"}` in the `errors`
extension of one 400 problem, so a client fixes its whole batch in one round trip.

Values arrive as JSON and leave as Python values the writers bind as they are:

| column type | JSON | Python |
|---|---|---|
| int, bigint | a whole number in the type's range (`true` is not a number) | int |
| double | any finite number | float |
| string | text | str |
| boolean | `true` / `false` | bool |
| timestamp | ISO 8601 date-time in UTC (`Z`, `+00:00` or none; offsets converted) | datetime |
| array<int> | a list of whole numbers (or nulls) | list[int or None] |

Nothing here imports pyarrow or pyiceberg: the cloud Lambda validates with it too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from serving_layer import config
from serving_layer.errors import BadRequestError, PayloadTooLargeError, ValidationFailedError
from serving_layer.model import Column, ColumnType, Table

INT_RANGE = (-(2**31), 2**31 - 1)
BIGINT_RANGE = (-(2**63), 2**63 - 1)

# DESIGN.md: `enterprise_key` is the data owner's secret and is never served by any endpoint.
# NOTE: kept here rather than as a flag in model.py, which others own; a `secret` column flag
# there would let every reader derive it.
NEVER_SERVED: frozenset[tuple[str, str]] = frozenset({("client", "enterprise_key")})

# How many problems one answer lists at most; the detail says when there are more.
MOST_LISTED_ERRORS = 1000

_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,20}")

Row = dict[str, Any]


@dataclass(frozen=True)
class RowError:
    """One problem of one row: its index in the batch, the column (None for the whole row)."""

    row: int | None
    column: str | None
    detail: str
    key: Any = None  # the row's primary key, when the row is named by key rather than index

    def to_dict(self) -> dict[str, Any]:
        body = {"row": self.row, "column": self.column, "detail": self.detail}
        if self.key is not None:
            body["key"] = self.key
        return body


def max_batch_rows(explicit: int | None = None) -> int:
    return int(config.MAX_BATCH_ROWS.get(None if explicit is None else str(explicit)))


def batch_rows(body: Any, *, limit: int | None = None) -> list[Any]:
    """The `rows` list of a batch body `{"rows": [...]}`, checked for shape and size only."""
    if not isinstance(body, Mapping):
        raise BadRequestError('the body must be a JSON object such as {"rows": [{...}, ...]}')
    unknown = sorted(set(body) - {"rows"})
    if unknown:
        raise BadRequestError(
            f"the body has unknown keys {', '.join(map(repr, unknown))}; "
            'send only {"rows": [...]}'
        )
    rows = body.get("rows")
    if not isinstance(rows, list) or not rows:
        raise BadRequestError('`rows` must be a non-empty list of row objects: {"rows": [{...}]}')

    most = max_batch_rows(limit)
    if len(rows) > most:
        raise PayloadTooLargeError(
            f"a batch holds at most {most:,} rows; this one has {len(rows):,}: split it into "
            f"batches of {most:,} rows or fewer",
            rows=len(rows),
            max_rows=most,
        )
    return rows


def validate_rows(table: Table, rows: Sequence[Any]) -> list[Row]:
    """Every row complete and typed (missing nullable columns become null), keys unique.

    Raises one `ValidationFailedError` listing every problem of every row.
    """
    errors: list[RowError] = []
    clean: list[Row] = []
    for index, raw in enumerate(rows):
        row, row_errors = _full_row(table, index, raw)
        errors.extend(row_errors)
        clean.append(row)

    errors.extend(_duplicate_keys(table, clean))
    raise_if_any(table, errors)
    return clean


def validate_patch(table: Table, key: Any, patch: Any) -> Row:
    """The typed columns of a partial update; the primary key cannot change."""
    if not isinstance(patch, Mapping) or not patch:
        raise BadRequestError(
            "the body must be a JSON object of the columns to change, such as "
            '{"drop_address": "Av. Siempre Viva 742"}'
        )
    errors = []
    typed: Row = {}
    for name, value in patch.items():
        error = _unknown_column(table, name)
        if error is None and name == table.primary_key and value != key:
            error = (
                f"the primary key cannot change; `{name}` is {key} in the path. Delete the "
                "row and insert a new one instead"
            )
        if error is None:
            column = table.column(name)
            converted, error = check_value(column, value)
            typed[name] = converted
        if error is not None:
            errors.append(RowError(0, str(name), error))
    raise_if_any(table, errors)
    return typed


def parse_key(table: Table, text: str) -> int:
    """The primary key in a path segment, as the key column's type."""
    if not _WHOLE_NUMBER.fullmatch(text):
        raise BadRequestError(
            f"`{table.primary_key}` in the path must be a whole number; got {text!r}"
        )
    value, error = check_value(table.column(table.primary_key), int(text))
    if error:
        raise BadRequestError(f"`{table.primary_key}` in the path {error}")
    return int(value)


def check_value(column: Column, value: Any) -> tuple[Any, str | None]:
    """`value` converted to the column's Python type, or the reason it does not fit."""
    if value is None:
        if column.nullable:
            return None, None
        return None, f"`{column.name}` is required and may not be null"
    checker = _CHECKERS[column.type]
    return checker(value)


def to_json(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored row as JSON values, in column order, without the columns never served."""
    answer = {}
    for column in table.columns:
        if (table.name, column.name) in NEVER_SERVED:
            continue
        answer[column.name] = json_value(row.get(column.name))
    return answer


def json_value(value: Any) -> Any:
    """A stored value as JSON, by the query API's rules (`answers.py`)."""
    from serving_layer.answers import json_value as answer_value

    return answer_value(value)


def raise_if_any(table: Table, errors: Iterable[RowError]) -> None:
    """One 400 problem naming every row and column in `errors`, or nothing when none."""
    listed = list(errors)
    if not listed:
        return
    rows = sorted({e.row for e in listed if e.row is not None})
    shown = ", ".join(str(r) for r in rows[:20]) + (" …" if len(rows) > 20 else "")
    more = len(listed) - MOST_LISTED_ERRORS
    detail = (
        f"{len(listed)} problem{'s' if len(listed) != 1 else ''} in table {table.name!r} "
        f"(row{'s' if len(rows) != 1 else ''} {shown}); fix every listed row and column and "
        "send the whole request again: nothing was written"
    )
    if more > 0:
        detail += f"; the first {MOST_LISTED_ERRORS} problems are listed, {more} more are not"
    raise ValidationFailedError(
        detail, errors=[e.to_dict() for e in listed[:MOST_LISTED_ERRORS]], table=table.name
    )


def _full_row(table: Table, index: int, raw: Any) -> tuple[Row, list[RowError]]:
    if not isinstance(raw, Mapping):
        return {}, [RowError(index, None, "a row must be a JSON object of column values")]

    errors = [
        RowError(index, str(name), message)
        for name in raw
        if (message := _unknown_column(table, name)) is not None
    ]
    row: Row = {}
    for column in table.columns:
        if column.name not in raw and not column.nullable:
            errors.append(RowError(index, column.name, f"`{column.name}` is required"))
            continue
        value, error = check_value(column, raw.get(column.name))
        if error:
            errors.append(RowError(index, column.name, error))
        row[column.name] = value
    return row, errors


def _unknown_column(table: Table, name: Any) -> str | None:
    if name in table.column_names:
        return None
    return f"unknown column {name!r}; the columns of {table.name!r} are: " + ", ".join(
        table.column_names
    )


def _duplicate_keys(table: Table, rows: Sequence[Row]) -> list[RowError]:
    key = table.primary_key
    first_seen: dict[Any, int] = {}
    errors = []
    for index, row in enumerate(rows):
        value = row.get(key)
        if value is None:
            continue  # already reported as missing
        if value in first_seen:
            errors.append(
                RowError(
                    index,
                    key,
                    f"`{key}` {value} also appears in row {first_seen[value]}; each row of a "
                    "batch needs its own key",
                )
            )
        else:
            first_seen[value] = index
    return errors


def _whole(low: int, high: int, name: str) -> Any:
    def check(value: Any) -> tuple[Any, str | None]:
        if isinstance(value, bool) or not isinstance(value, int):
            return None, f"must be a whole number ({name}); got {_shown(value)}"
        if not low <= value <= high:
            return None, f"must be between {low} and {high} ({name}); got {value}"
        return value, None

    return check


def _double(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, f"must be a number; got {_shown(value)}"
    number = float(value)
    if not math.isfinite(number):
        return None, f"must be a finite number; got {value!r}"
    return number, None


def _string(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str):
        return None, f"must be text; got {_shown(value)}"
    if "\x00" in value:
        return None, "text may not contain the NUL character (U+0000)"
    return value, None


def _boolean(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, bool):
        return None, f"must be true or false; got {_shown(value)}"
    return value, None


def _timestamp(value: Any) -> tuple[Any, str | None]:
    hint = "an ISO 8601 date-time in UTC, such as 2025-03-01T08:30:00Z"
    if not isinstance(value, str):
        return None, f"must be {hint}; got {_shown(value)}"
    text = value.strip()
    if len(text) <= 10:
        return None, f"must be {hint} (a date alone has no time); got {value!r}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None, f"must be {hint}; got {value!r}"
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed, None


_INT_ELEMENT = _whole(*INT_RANGE, "int")


def _int_array(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, list):
        return None, f"must be a list of whole numbers; got {_shown(value)}"
    elements: list[int | None] = []
    for position, element in enumerate(value):
        if element is None:
            elements.append(None)
            continue
        converted, error = _INT_ELEMENT(element)
        if error:
            return None, f"element {position} {error}"
        elements.append(converted)
    return elements, None


_CHECKERS = {
    ColumnType.INT: _whole(*INT_RANGE, "int"),
    ColumnType.BIGINT: _whole(*BIGINT_RANGE, "bigint"),
    ColumnType.DOUBLE: _double,
    ColumnType.STRING: _string,
    ColumnType.BOOLEAN: _boolean,
    ColumnType.TIMESTAMP: _timestamp,
    ColumnType.INT_ARRAY: _int_array,
}


def _shown(value: Any) -> str:
    """A short description of a wrong value: its JSON kind and, when short, the value."""
    kind = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "text",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)
    text = repr(value)
    return f"{kind} {text}" if len(text) <= 40 else kind


__all__ = [
    "NEVER_SERVED",
    "RowError",
    "batch_rows",
    "check_value",
    "json_value",
    "parse_key",
    "raise_if_any",
    "to_json",
    "validate_patch",
    "validate_rows",
]
