"""The local engine: DuckDB over the local Iceberg warehouse.

Each table of the data model is a view over `iceberg_scan` of the table's current metadata file,
so DuckDB prunes data files by partition and column statistics exactly as Iceberg describes them.
The views are re-pointed whenever the catalog moves a table to a new snapshot, which a cheap
read of the catalog detects before every query: writes are seen by the next query.

The iceberg and avro extensions come from their PyPI packages, pinned to DuckDB's version, and
are loaded from the installed files: nothing is downloaded at run time.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import duckdb_extension_avro
import duckdb_extension_iceberg

from serving_layer import config, model, timetravel, warehouse
from serving_layer.compiler import CompiledQuery
from serving_layer.engines import Engine, QueryResult, QueryStats
from serving_layer.errors import EngineFailedError, EngineUnavailableError

logger = logging.getLogger(__name__)


def extension_path(package: Any, name: str) -> Path:
    """The extension binary a PyPI package ships for the installed DuckDB version."""
    root = Path(package.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    path = root / f"{name}.duckdb_extension"
    if not path.exists():
        raise EngineUnavailableError(
            f"the {name} extension for DuckDB {duckdb.__version__} is not installed at {path}; "
            f"install duckdb-extension-{name}=={duckdb.__version__}"
        )
    return path


def connect() -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection with the iceberg and avro extensions loaded."""
    connection = duckdb.connect(config={"autoinstall_known_extensions": False})
    for package, name in ((duckdb_extension_avro, "avro"), (duckdb_extension_iceberg, "iceberg")):
        connection.execute(f"LOAD '{extension_path(package, name)}'")
    return connection


class DuckDBEngine(Engine):
    """One DuckDB connection per process, a cursor per thread, views on the current snapshots."""

    name = "duckdb"

    def __init__(self, warehouse_path: str | Path | None = None, namespace: str | None = None):
        self.warehouse = warehouse.warehouse_dir(warehouse_path)
        self.namespace = config.NAMESPACE.get(namespace)
        self.connection = connect()
        self._local = threading.local()
        self._views: dict[str, str] = {}
        self._views_lock = threading.Lock()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the shared connection."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self.connection.cursor()
        return cursor

    def refresh(self) -> dict[str, str]:
        """Point each table's view at its current metadata file; answer the locations."""
        try:
            locations = warehouse.metadata_locations(self.warehouse, self.namespace)
        except warehouse.WarehouseMissingError as error:
            raise EngineUnavailableError(str(error)) from None
        if locations == self._views:
            return locations

        with self._views_lock:
            for name in model.TABLES:
                location = locations.get(name)
                if location is None:
                    raise EngineUnavailableError(
                        f"table {self.namespace}.{name} is missing from the local warehouse; "
                        "generate it with `make samples`"
                    )
                if self._views.get(name) != location:
                    # The location comes from our own catalog, never from a request.
                    quoted = location.replace("'", "''")
                    scan = f"SELECT * FROM iceberg_scan('{quoted}')"  # noqa: S608
                    self.connection.execute(f'CREATE OR REPLACE VIEW "{name}" AS {scan}')
            self._views = dict(locations)
        return locations

    def execute(
        self, query: CompiledQuery, *, page_size: int, page: str | None = None
    ) -> QueryResult:
        offset = _offset(page)
        locations = self.refresh()

        # One row more than the page tells whether another page exists.
        paged = query.page(offset, page_size + 1)
        sql = paged.sql
        if query.as_of is not None:
            # Trino's time-travel clauses become iceberg_scan at that snapshot, in place.
            sql = timetravel.duckdb_sources(sql, locations)
        started = time.perf_counter()
        try:
            rows = self.cursor().execute(sql, list(paged.params)).fetchall()
        except duckdb.Error as error:
            logger.exception("duckdb query failed", extra={"endpoint": query.endpoint})
            raise EngineFailedError("the local engine could not run the query") from error
        engine_ms = (time.perf_counter() - started) * 1000

        more = len(rows) > page_size
        rows = rows[:page_size]
        return QueryResult(
            columns=[(f.name, f.type) for f in query.columns],
            rows=[list(row) for row in rows],
            stats=QueryStats(engine=self.name, rows=len(rows), engine_ms=engine_ms),
            next_page=str(offset + page_size) if more else None,
        )

    def raw(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run SQL of our own (benchmarks, tests) on this thread's cursor, views refreshed."""
        self.refresh()
        return self.cursor().execute(sql, list(params)).fetchall()


def _offset(page: str | None) -> int:
    if page is None:
        return 0
    if not page.isdigit():
        raise EngineFailedError("the page token is not one this engine issued")
    return int(page)
