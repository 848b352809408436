"""Which client owns a row, and whether a write stays inside a caller's scope.

A policy's scope names the `client_id`s whose rows a client may see; the manage API applies the
same scope to writes, per table:

| table | the row's owner |
|---|---|
| `trackcode` | its `client_id` |
| `orders` | the `client_id` of the trackcode its `trackcode_id` names (looked up) |
| `client` | its own `id` |
| `country`, `city`, `service`, `product_size`, `route` | none: reference data shared by all |

Reference tables have no client dimension, so a scoped client cannot own any of their rows:
only a policy whose scope is "all" may write them, whatever its table grants say. An order
that names a trackcode outside the scope, or one that does not exist, is refused the same way,
so a scoped client cannot probe which trackcode ids exist.

NOTE: a caller whose scope is "all" is not checked at all, so its orders may name trackcodes
that do not exist: the lake has no foreign keys, and the queries already answer a missing
dimension as null. Checking references for every caller would cost a lookup per batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from serving_layer import model
from serving_layer.compiler import Scope
from serving_layer.errors import OutsideScopeError
from serving_layer.model import Table
from serving_layer.rows import RowError
from serving_layer.writers import Writer

# The column whose value is the owning client id, for tables that hold it directly.
OWNER_COLUMN: dict[str, str] = {"trackcode": "client_id", "client": "id"}
# Tables whose rows are owned through a reference: the column and the table it points at.
OWNER_REFERENCE: dict[str, tuple[str, str]] = {"orders": ("trackcode_id", "trackcode")}


def is_reference_table(table: Table) -> bool:
    return table.name not in OWNER_COLUMN and table.name not in OWNER_REFERENCE


@dataclass(frozen=True)
class Located:
    """A row to check and how to name it in a refusal: its batch index, or its key."""

    row: Mapping[str, Any]
    index: int | None = None


def outside_scope(
    scope: Scope, table: Table, rows: Sequence[Located], writer: Writer, *, stored: bool = False
) -> list[RowError]:
    """One problem per row whose owner is outside `scope` (none when the scope is all).

    `stored` says the rows are the ones already in the table (an upsert, update or delete
    would change them), which words the problem differently.
    """
    if scope.is_all or not rows:
        return []
    if is_reference_table(table):
        return [
            RowError(
                item.index,
                None,
                f"table {table.name!r} holds reference data shared by every client; only a "
                'policy whose scope is "all" may change it',
                item.row.get(table.primary_key),
            )
            for item in rows
        ]

    if table.name in OWNER_COLUMN:
        column = OWNER_COLUMN[table.name]
        owners = [item.row.get(column) for item in rows]
    else:
        column, target = OWNER_REFERENCE[table.name]
        owners = _referenced_owners(
            model.TABLES[target], [item.row.get(column) for item in rows], writer
        )

    key = table.primary_key
    errors = []
    for item, owner in zip(rows, owners, strict=True):
        if scope.allows(owner) and owner is not None:
            continue
        reason = _reason(table, item.row, column, stored)
        errors.append(RowError(item.index, column, reason, item.row.get(key)))
    return errors


def raise_outside_scope(table: Table, errors: Sequence[RowError], scope: Scope) -> None:
    """The 403 problem naming every row outside the scope, or nothing when there is none."""
    if not errors:
        return
    mine = ", ".join(str(i) for i in sorted(scope.client_ids or ()))
    keys = [f"{table.primary_key} {e.key}" for e in errors]
    listed = ", ".join(keys[:20]) + (" …" if len(keys) > 20 else "")
    raise OutsideScopeError(
        f"{len(errors)} row{'s' if len(errors) != 1 else ''} of table {table.name!r} "
        f"fall{'' if len(errors) != 1 else 's'} outside your scope (client ids {mine}): "
        f"{listed}; nothing was written",
        errors=[e.to_dict() for e in errors],
        table=table.name,
    )


def _referenced_owners(target: Table, keys: Sequence[Any], writer: Writer) -> list[int | None]:
    wanted = sorted({k for k in keys if k is not None})
    found = writer.read(target, wanted) if wanted else {}
    column = OWNER_COLUMN[target.name]
    return [None if k is None or k not in found else found[k].get(column) for k in keys]


def _reason(table: Table, row: Mapping[str, Any], column: str, stored: bool) -> str:
    value = row.get(column)
    if table.name in OWNER_REFERENCE:
        target = OWNER_REFERENCE[table.name][1]
        prefix = "the stored row's " if stored else ""
        return f"{prefix}{column} {value} is not a {target} of a client in your scope"
    if stored:
        return f"the stored row belongs to client {value}, outside your scope"
    return f"{column} {value} is outside your scope"
