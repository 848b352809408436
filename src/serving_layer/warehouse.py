"""The local Iceberg warehouse: a pyiceberg SQL catalog on SQLite beside its data files.

The layout under the warehouse folder is `catalog.db` (the catalog) and `<namespace>/<table>/`
(Iceberg metadata and Parquet data). Readers that only need each table's current metadata file
(the DuckDB engine, on every query) read the catalog's SQLite table directly, which costs well
under a millisecond and imports nothing heavy.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from serving_layer import config, model

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import Table as IcebergTable

CATALOG_NAME = "local"
CATALOG_FILE = "catalog.db"
# Present while the sample generator rebuilds the warehouse; a reader refuses it meanwhile.
BUILDING_MARKER = "BUILDING"


class WarehouseMissingError(RuntimeError):
    """The local warehouse has not been generated yet."""


class WarehouseIncompleteError(WarehouseMissingError):
    """The local warehouse is being generated, or its generation stopped midway."""


def warehouse_dir(path: str | Path | None = None) -> Path:
    return Path(config.WAREHOUSE_DIR.get(None if path is None else str(path))).resolve()


def open_catalog(path: str | Path | None = None) -> SqlCatalog:
    """The pyiceberg catalog of the warehouse at `path`, created empty if missing."""
    from pyiceberg.catalog.sql import SqlCatalog

    root = warehouse_dir(path)
    root.mkdir(parents=True, exist_ok=True)
    return SqlCatalog(
        CATALOG_NAME,
        uri=f"sqlite:///{root / CATALOG_FILE}",
        warehouse=root.as_uri(),
    )


def create_tables(
    catalog: SqlCatalog, namespace: str | None = None, *, replace: bool = False
) -> dict[str, IcebergTable]:
    """Create every table of the data model in `namespace`, dropping old ones if `replace`."""
    namespace = config.NAMESPACE.get(namespace)
    catalog.create_namespace_if_not_exists(namespace)
    tables = {}
    for tbl in model.TABLES.values():
        identifier = f"{namespace}.{tbl.name}"
        if replace and catalog.table_exists(identifier):
            catalog.purge_table(identifier)
        tables[tbl.name] = catalog.create_table_if_not_exists(
            identifier,
            schema=model.iceberg_schema(tbl),
            partition_spec=model.iceberg_partition_spec(tbl),
            properties={"write.parquet.compression-codec": "zstd"},
        )
    return tables


def metadata_locations(
    path: str | Path | None = None, namespace: str | None = None
) -> dict[str, str]:
    """Each table's current metadata file, read straight from the catalog's SQLite database."""
    namespace = config.NAMESPACE.get(namespace)
    database = warehouse_dir(path) / CATALOG_FILE
    if (database.parent / BUILDING_MARKER).exists():
        raise WarehouseIncompleteError(
            f"the Iceberg warehouse at {database.parent} is being generated or its generation "
            "stopped midway; wait for it to finish, or generate it again with `make samples`"
        )
    if not database.exists():
        raise WarehouseMissingError(
            f"no Iceberg warehouse at {database.parent}; generate one with `make samples`"
        )
    with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT table_name, metadata_location FROM iceberg_tables "
            "WHERE catalog_name = ? AND table_namespace = ?",
            (CATALOG_NAME, namespace),
        ).fetchall()
    return {name: location for name, location in rows if location}
