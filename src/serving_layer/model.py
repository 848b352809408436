"""The data model: every table of the lake, its columns, types, key and partitioning, once.

Iceberg schemas (local warehouse), Athena DDL and Glue columns (cloud), sample generation and the
validation of writes are all derived from `TABLES`; nothing else lists a column. The module is
pure Python so the cloud Lambdas can import it; `iceberg_schema` imports pyiceberg lazily.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyiceberg.partitioning import PartitionSpec
    from pyiceberg.schema import Schema


class ColumnType(Enum):
    """A logical column type and its spelling in Athena's (Hive) DDL."""

    INT = "int"
    BIGINT = "bigint"
    DOUBLE = "double"
    STRING = "string"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    INT_ARRAY = "array<int>"

    @property
    def ddl(self) -> str:
        return self.value


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool = True
    doc: str = ""


@dataclass(frozen=True)
class Table:
    """One Iceberg table: its columns in order, its primary key, and its day partition if any."""

    name: str
    columns: tuple[Column, ...]
    primary_key: str = "id"
    day_partition: str | None = None
    doc: str = ""

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if not column.nullable)


def _c(name: str, type_: ColumnType, nullable: bool = True, doc: str = "") -> Column:
    return Column(name, type_, nullable, doc)


INT, BIGINT, DOUBLE = ColumnType.INT, ColumnType.BIGINT, ColumnType.DOUBLE
STRING, BOOLEAN = ColumnType.STRING, ColumnType.BOOLEAN
TIMESTAMP, INT_ARRAY = ColumnType.TIMESTAMP, ColumnType.INT_ARRAY

TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Table(
            "country",
            (
                _c("id", INT, False),
                _c("name", STRING, False),
                _c("region", STRING),
                _c("prefix_phone", STRING),
                _c("currency_iso", STRING),
            ),
            doc="Countries the business operates in.",
        ),
        Table(
            "city",
            (
                _c("id", INT, False),
                _c("name", STRING, False),
                _c("country_id", INT, False),
                _c("timezone", STRING),
                _c("point", STRING, doc="WKT point"),
            ),
            doc="Cities with their country and location.",
        ),
        Table(
            "client",
            (
                _c("id", INT, False),
                _c("commercial_name", STRING),
                _c("business_name", STRING),
                _c("city_id", INT),
                _c("address", STRING),
                _c("service_ids", INT_ARRAY),
                _c("enterprise_key", STRING, doc="the data owner's secret; never served"),
            ),
            doc="Companies that ship with the business.",
        ),
        Table(
            "service",
            (_c("id", INT, False), _c("name", STRING, False)),
            doc="Delivery services offered.",
        ),
        Table(
            "product_size",
            (
                _c("id", INT, False),
                _c("name", STRING, False),
                _c("dim_x", DOUBLE),
                _c("dim_y", DOUBLE),
                _c("dim_z", DOUBLE),
            ),
            doc="Parcel size classes.",
        ),
        Table(
            "route",
            (
                _c("id", INT, False),
                _c("code", STRING, False),
                _c("price_official", DOUBLE),
                _c("price_original", DOUBLE),
                _c("price_incentive", DOUBLE),
                _c("distance", DOUBLE),
                _c("city_id", INT),
            ),
            doc="Courier routes, each in a city, with their prices.",
        ),
        Table(
            "trackcode",
            (
                _c("id", BIGINT, False),
                _c("creation", TIMESTAMP, False, "UTC"),
                _c("crossdocking", BOOLEAN),
                _c("pickup_address", STRING),
                _c("drop_address", STRING),
                _c("service_id", INT),
                _c("product_description", STRING),
                _c("product_price", DOUBLE),
                _c("product_size_id", INT),
                _c("product_weight", DOUBLE),
                _c("pickup_point", STRING, doc="WKT point"),
                _c("drop_point", STRING, doc="WKT point"),
                _c("client_id", INT, False),
            ),
            day_partition="creation",
            doc="One parcel to deliver, created at a UTC instant for a client.",
        ),
        Table(
            "orders",
            (
                _c("id", BIGINT, False),
                _c("route_id", INT),
                _c("trackcode_id", BIGINT, False),
                _c("promise_time", TIMESTAMP, False, "UTC"),
                _c("start_time", TIMESTAMP, doc="UTC; null until a courier starts"),
                _c("end_time", TIMESTAMP, doc="UTC; null until delivered"),
            ),
            doc="Delivery attempts of a trackcode, on a route or not yet routed.",
        ),
    )
}


def table(name: str) -> Table:
    """The table called `name`, or a `NotFoundError` naming the tables that exist."""
    try:
        return TABLES[name]
    except KeyError:
        from serving_layer.errors import NotFoundError

        known = ", ".join(sorted(TABLES))
        raise NotFoundError(f"unknown table {name!r}; the tables are: {known}") from None


def athena_ddl(tbl: Table, database: str, location: str) -> str:
    """`CREATE TABLE` for an Athena Iceberg table at `location` (an s3:// prefix)."""
    columns = ",\n  ".join(f"`{c.name}` {c.type.ddl}" for c in tbl.columns)
    partition = f"\nPARTITIONED BY (day(`{tbl.day_partition}`))" if tbl.day_partition else ""
    return (
        f"CREATE TABLE IF NOT EXISTS `{database}`.`{tbl.name}` (\n  {columns}\n){partition}\n"
        f"LOCATION '{location.rstrip('/')}/{tbl.name}/'\n"
        "TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet', "
        "'write_compression'='zstd')"
    )


def iceberg_schema(tbl: Table) -> Schema:
    """The pyiceberg schema of `tbl`; field ids follow column order, the key is the identifier."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import ListType, NestedField

    fields = []
    next_id = len(tbl.columns) + 1
    for field_id, column in enumerate(tbl.columns, start=1):
        if column.type is ColumnType.INT_ARRAY:
            from pyiceberg.types import IntegerType

            field_type: Any = ListType(next_id, IntegerType(), element_required=False)
            next_id += 1
        else:
            field_type = _iceberg_primitive(column.type)
        fields.append(NestedField(field_id, column.name, field_type, required=not column.nullable))

    key_id = tbl.column_names.index(tbl.primary_key) + 1
    return Schema(*fields, identifier_field_ids=[key_id])


def iceberg_partition_spec(tbl: Table) -> PartitionSpec:
    """The table's partition spec: by day of its timestamp column, or unpartitioned."""
    from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionField, PartitionSpec
    from pyiceberg.transforms import DayTransform

    if tbl.day_partition is None:
        return UNPARTITIONED_PARTITION_SPEC
    source_id = tbl.column_names.index(tbl.day_partition) + 1
    name = f"{tbl.day_partition}_day"
    return PartitionSpec(PartitionField(source_id, 1000, DayTransform(), name))


def _iceberg_primitive(type_: ColumnType) -> Any:
    from pyiceberg import types

    return {
        ColumnType.INT: types.IntegerType(),
        ColumnType.BIGINT: types.LongType(),
        ColumnType.DOUBLE: types.DoubleType(),
        ColumnType.STRING: types.StringType(),
        ColumnType.BOOLEAN: types.BooleanType(),
        ColumnType.TIMESTAMP: types.TimestampType(),
    }[type_]
