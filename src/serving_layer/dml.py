"""Athena (Trino) statements for the manage API's writes on the cloud's Iceberg tables.

Athena engine v3 runs `INSERT`, `UPDATE`, `DELETE` and `MERGE INTO` on Iceberg tables (Athena
User Guide, "Update Iceberg table data", 2025), each statement one Iceberg commit. As with the
queries, identifiers come only from the data model (quoted) and every value is a `?` bound
through `ExecutionParameters`, so nothing a client sends becomes SQL text:

    INSERT INTO "t" ("id", …) VALUES (?, …), (?, …)
    MERGE INTO "t" AS t USING (VALUES (CAST(? AS bigint), …), (?, …)) AS s ("id", …)
      ON t."id" = s."id"
      WHEN MATCHED THEN UPDATE SET "c" = s."c", …
      WHEN NOT MATCHED THEN INSERT ("id", …) VALUES (s."id", …)
    UPDATE "t" SET "c" = ?, … WHERE "id" = ?
    DELETE FROM "t" WHERE "id" = ?

Three value forms need more than one `?`:

- the first row of a MERGE source casts each value to its column's type, so a column that is
  null in every row still has a type;
- an `array<int>` value is `ARRAY[?, …]` of its elements (a parameter is one scalar literal);
- Athena takes at most 1,024 characters per execution parameter, so a long text is split into
  pieces joined with `||`.

Every statement here parses under Trino's grammar (checked by the tests with
`trino-query-parser`). The module is pure Python: the cloud Lambda renders with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from serving_layer.model import Column, ColumnType, Table

# Athena's limits (API Reference, StartQueryExecution): the query text and each parameter.
MAX_STATEMENT_BYTES = 262_144
MAX_PARAMETER_CHARS = 1024
# Text is cut into pieces this long; a piece whose literal is still too long (escapes make a
# character up to 8 literal characters) is halved until it fits.
TEXT_PIECE_CHARS = 480

TRINO_TYPES = {
    ColumnType.INT: "integer",
    ColumnType.BIGINT: "bigint",
    ColumnType.DOUBLE: "double",
    ColumnType.STRING: "varchar",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.TIMESTAMP: "timestamp(6)",
    ColumnType.INT_ARRAY: "array(integer)",
}


@dataclass(frozen=True)
class Statement:
    """One statement: Trino SQL with `?` placeholders and their Python values, in order."""

    sql: str
    params: tuple[Any, ...]

    @property
    def size(self) -> int:
        return len(self.sql.encode())


def quoted(name: str) -> str:
    """A data-model identifier, double-quoted (names come from `model.py`, never a request)."""
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise ValueError(f"not a data-model identifier: {name!r}")
    return f'"{name}"'


def insert(table: Table, rows: Sequence[Mapping[str, Any]]) -> Statement:
    """`INSERT INTO` of complete rows, all columns in the model's order."""
    columns = table.columns
    params: list[Any] = []
    tuples = [_row_values(columns, row, params, cast=False) for row in rows]
    names = ", ".join(quoted(c.name) for c in columns)
    sql = f"INSERT INTO {quoted(table.name)} ({names}) VALUES {', '.join(tuples)}"  # noqa: S608
    return Statement(sql, tuple(params))


def merge(table: Table, rows: Sequence[Mapping[str, Any]]) -> Statement:
    """`MERGE INTO` that replaces rows matched by primary key and inserts the others."""
    columns = table.columns
    key = quoted(table.primary_key)
    params: list[Any] = []
    tuples = [_row_values(columns, row, params, cast=index == 0) for index, row in enumerate(rows)]
    names = [quoted(c.name) for c in columns]
    updates = ", ".join(
        f"{n} = s.{n}" for c, n in zip(columns, names, strict=True) if c.name != table.primary_key
    )
    sql = (
        f"MERGE INTO {quoted(table.name)} AS t "  # noqa: S608 - model identifiers, `?` values
        f"USING (VALUES {', '.join(tuples)}) AS s ({', '.join(names)}) "
        f"ON t.{key} = s.{key} "
        f"WHEN MATCHED THEN UPDATE SET {updates} "
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) "
        f"VALUES ({', '.join(f's.{n}' for n in names)})"
    )
    return Statement(sql, tuple(params))


def update(table: Table, key: Any, changes: Mapping[str, Any]) -> Statement:
    """`UPDATE … SET` of the changed columns of the row with primary key `key`."""
    params: list[Any] = []
    assignments = [
        f"{quoted(name)} = {_value(table.column(name), value, params, cast=False)}"
        for name, value in changes.items()
    ]
    params.append(key)
    sql = (
        f"UPDATE {quoted(table.name)} SET {', '.join(assignments)} "  # noqa: S608
        f"WHERE {quoted(table.primary_key)} = ?"
    )
    return Statement(sql, tuple(params))


def delete(table: Table, key: Any) -> Statement:
    """`DELETE` of the row with primary key `key`."""
    sql = f"DELETE FROM {quoted(table.name)} WHERE {quoted(table.primary_key)} = ?"  # noqa: S608
    return Statement(sql, (key,))


def select_by_keys(table: Table, keys: Sequence[Any]) -> Statement:
    """The stored rows of `keys`, every column, in the model's order."""
    names = ", ".join(quoted(c.name) for c in table.columns)
    marks = ", ".join("?" for _ in keys)
    sql = (
        f"SELECT {names} FROM {quoted(table.name)} "  # noqa: S608 - model identifiers only
        f"WHERE {quoted(table.primary_key)} IN ({marks})"
    )
    return Statement(sql, tuple(keys))


def _row_values(
    columns: Sequence[Column], row: Mapping[str, Any], params: list[Any], *, cast: bool
) -> str:
    values = [_value(column, row.get(column.name), params, cast=cast) for column in columns]
    return f"({', '.join(values)})"


def _value(column: Column, value: Any, params: list[Any], *, cast: bool) -> str:
    """The SQL for one value, its parameters appended to `params`."""
    if column.type is ColumnType.INT_ARRAY and value is not None:
        params.extend(value)
        text = f"ARRAY[{', '.join('?' for _ in value)}]"
        cast = cast or not value  # `ARRAY[]` alone has no element type
    elif column.type is ColumnType.STRING and isinstance(value, str):
        pieces = _pieces(value)
        params.extend(pieces)
        text = "?" if len(pieces) == 1 else f"({' || '.join('?' for _ in pieces)})"
    else:
        params.append(value)
        text = "?"
    return f"CAST({text} AS {TRINO_TYPES[column.type]})" if cast else text


def _pieces(text: str) -> list[str]:
    """`text` cut so each piece's SQL literal fits one execution parameter."""
    from serving_layer.engines.literals import varchar_literal

    if len(text) <= TEXT_PIECE_CHARS and len(varchar_literal(text)) <= MAX_PARAMETER_CHARS:
        return [text]
    cut = TEXT_PIECE_CHARS if len(text) > TEXT_PIECE_CHARS else len(text) // 2
    return _pieces(text[:cut]) + _pieces(text[cut:])
