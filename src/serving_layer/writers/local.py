"""The local writer: changes to the local Iceberg warehouse with pyiceberg, one commit each.

Every change is one pyiceberg transaction, committed by one compare-and-swap of the table's
metadata location in the SQL catalog, so a reader sees all of a batch or none of it. Before it
stages anything, an attempt reads the stored rows of the change's keys (with DuckDB, at exactly
the snapshot the commit builds on) and runs the caller's check on them.

Writers of one table take turns: a thread lock within a writer, and an advisory file lock per
table across writers and processes. When a writer that takes no lock (a script, the sample
generator) commits first anyway, the swap fails (`CommitFailedException`) and the whole attempt
is redone from the new snapshot — read the stored rows again, check again, stage again — after
a jittered exponential backoff ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015).

pyiceberg has its own commit retry, which rebases the staged snapshots on the new head without
looking at the data again: that would let two concurrent inserts of one key both land. The
writer's transactions therefore see `commit.retry.num-retries` as 0 (on an in-memory copy of
the metadata, never written to the table).

An upsert is staged as at most one overwrite (the changed rows, replacing those keys) and one
append (the new rows); rows whose stored values are equal are left alone. The audit record rides
in the snapshot summary (`audit.snapshot_properties`).
"""

from __future__ import annotations

import fcntl
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.expressions import BooleanExpression, EqualTo, In
from pyiceberg.table import Table as IcebergTable
from pyiceberg.table import TableProperties, Transaction
from pyiceberg.table.metadata import TableMetadata
from sqlalchemy.exc import OperationalError

from serving_layer import audit, config, warehouse
from serving_layer.engines.duckdb import connect
from serving_layer.errors import NotFoundError, ServingError, WriteFailedError
from serving_layer.history import LocalHistory, TableHistory, from_millis
from serving_layer.model import Table
from serving_layer.policy import Operation
from serving_layer.writers import Actor, Change, Check, Row, Writer, WriteResult

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 0.01
BACKOFF_CAP_SECONDS = 0.5
LOCKS_FOLDER = ".locks"


class LocalWriter(Writer):
    """Writes the warehouse at `warehouse_path` (default: `SERVING_WAREHOUSE_DIR`)."""

    name = "local"

    def __init__(
        self,
        warehouse_path: str | Path | None = None,
        namespace: str | None = None,
        *,
        attempts: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.warehouse = warehouse.warehouse_dir(warehouse_path)
        self.namespace = config.NAMESPACE.get(namespace)
        self.attempts = int(config.COMMIT_ATTEMPTS.get(None if attempts is None else str(attempts)))
        self._sleep = sleep
        self.catalog = warehouse.open_catalog(self.warehouse)
        self._duckdb = connect()
        self._local = threading.local()
        self._table_locks: dict[str, threading.Lock] = {}
        self._tables: dict[str, IcebergTable] = {}
        self._locks_lock = threading.Lock()

    def read(self, table: Table, keys: Sequence[Any]) -> dict[Any, Row]:
        return _stored_rows(self._cursor(), self._load(table), table, keys)

    def current_snapshot(self, table: Table) -> int | None:
        return self._load(table).metadata.current_snapshot_id

    def history(self, table: Table) -> TableHistory:
        return LocalHistory(self.warehouse, self.namespace).history(table.name)

    def audit_records(self, table: Table, history: TableHistory) -> dict[int, audit.AuditRecord]:
        # The records ride in the snapshot summaries (see `audit.py`).
        return audit.from_history(history)

    def write(self, change: Change, actor: Actor, check: Check) -> WriteResult:
        # Writers of one table take turns: a thread lock within this writer, a file lock across
        # writers and processes. Optimistic retries alone let a writer starve while others keep
        # committing first; they remain for writers that take no lock (scripts, the generator).
        with self._thread_lock(change.table.name), self._file_lock(change.table.name):
            return self._write(change, actor, check)

    def _thread_lock(self, table: str) -> threading.Lock:
        with self._locks_lock:
            return self._table_locks.setdefault(table, threading.Lock())

    @contextmanager
    def _file_lock(self, table: str) -> Iterator[None]:
        """An exclusive advisory lock on `<warehouse>/.locks/<namespace>.<table>.lock`.

        The wait blocks in the kernel, which wakes a waiter as soon as the holder lets go (a
        poll would let the holder take the lock again first, and starve the others). The
        kernel releases the lock of a process that dies.
        NOTE: the wait has no time limit: a live process that hangs while holding the lock
        holds up the table's other local writers until it is stopped.
        """
        folder = self.warehouse / LOCKS_FOLDER
        folder.mkdir(exist_ok=True)
        with open(folder / f"{self.namespace}.{table}.lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _write(self, change: Change, actor: Actor, check: Check) -> WriteResult:
        for attempt in range(1, self.attempts + 1):
            iceberg = self._load(change.table)
            base = iceberg.metadata.current_snapshot_id
            stored = _stored_rows(self._cursor(), iceberg, change.table, change.keys)
            check(stored)

            transaction = _transaction_without_retries(iceberg)
            properties = audit.snapshot_properties(
                operation=change.operation.value,
                client=actor.client,
                key_id=actor.key_id,
                request_id=actor.request_id,
                rows=len(change.keys),
                snapshot_before=base,
            )
            result, staged = _stage(transaction, change, stored, properties)
            result.snapshot_before, result.attempts = base, attempt
            if not staged:  # every row already holds these values: nothing to commit
                result.snapshot_after = base
                return result

            try:
                committed = _commit(transaction)
            except (CommitFailedException, _CatalogBusy) as conflict:
                logger.debug("commit conflict on %s: %s", change.table.name, conflict)
                self._backoff(attempt)
                continue
            self._tables[change.table.name] = committed
            snapshot = committed.metadata.current_snapshot()
            result.snapshot_after = snapshot.snapshot_id if snapshot else None
            result.committed_at = _committed_at(snapshot)
            return result

        raise WriteFailedError(
            f"table {change.table.name!r} kept changing under this write ({self.attempts} "
            "attempts); nothing was written: send the request again"
        )

    def _load(self, table: Table) -> IcebergTable:
        """The table at its current metadata, parsed again only when another commit moved it."""
        try:
            location = warehouse.metadata_locations(self.warehouse, self.namespace).get(table.name)
        except warehouse.WarehouseMissingError as error:
            raise WriteFailedError(str(error)) from None
        cached = self._tables.get(table.name)
        if cached is not None and location is not None and cached.metadata_location == location:
            return cached

        try:
            loaded = self.catalog.load_table(f"{self.namespace}.{table.name}")
        except NoSuchTableError:
            raise NotFoundError(
                f"table {table.name!r} is missing from the local warehouse; generate it with "
                "`make samples`"
            ) from None
        self._tables[table.name] = loaded
        return loaded

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's DuckDB cursor, for reading stored rows."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self._duckdb.cursor()
        return cursor

    def _backoff(self, attempt: int) -> None:
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
        self._sleep(random.uniform(0, ceiling))  # noqa: S311 - timing jitter, not a secret


class _CatalogBusy(Exception):
    """SQLite kept the catalog locked past its timeout: the swap did not happen; retry."""


def _commit(transaction: Transaction) -> IcebergTable:
    try:
        return transaction.commit_transaction()
    except OperationalError as error:
        if "locked" in str(error).lower():
            raise _CatalogBusy(str(error)) from None
        raise
    except (CommitFailedException, ServingError):
        raise
    except Exception as error:
        # A storage failure: the catalog still points at the old metadata, so the table is as
        # it was.
        # NOTE: data files the attempt wrote may stay behind, referenced by no snapshot; an
        # orphan-file sweep (as Iceberg's maintenance does) would remove them.
        logger.exception("local commit failed")
        raise WriteFailedError(
            "the local warehouse could not be written; nothing was changed: try again"
        ) from error


def _transaction_without_retries(table: IcebergTable) -> Transaction:
    """A transaction on `table` whose commit makes one attempt: retries are this module's.

    The properties are set on an in-memory copy of the loaded metadata only; the catalog applies
    the staged updates to the metadata it holds, so nothing of this copy is ever stored.
    Manifest merging keeps the manifest list short, so reading the stored rows before each
    commit does not slow down as appends pile up.
    """
    properties = {
        **table.metadata.properties,
        TableProperties.COMMIT_NUM_RETRIES: "0",
        TableProperties.MANIFEST_MERGE_ENABLED: "true",
        TableProperties.MANIFEST_MIN_MERGE_COUNT: "16",
    }
    metadata = table.metadata.model_copy(update={"properties": properties})
    view = IcebergTable(table.name(), metadata, table.metadata_location, table.io, table.catalog)
    return _MemoTransaction(view)


class _MemoTransaction(Transaction):
    """A pyiceberg transaction that works out its staged metadata once per staged state.

    pyiceberg 0.12 answers `table_metadata` by applying every staged update to a deep copy of
    the whole table metadata, and an append reads it some twenty times; the metadata holds
    every snapshot, so each commit took longer than the last. The metadata models are frozen,
    so one copy per (base, staged updates) state can be shared.
    NOTE: this leans on pyiceberg's `Transaction` internals (`_table`, `_updates`), pinned at
    0.12.0; the writer tests fail if a later version changes them.
    """

    _memo: tuple[object, object, TableMetadata] | None = None

    @property
    def table_metadata(self) -> TableMetadata:
        if not self._updates:
            return self._table.metadata  # nothing staged: the loaded metadata as it is
        memo = self._memo
        if memo is not None and memo[0] is self._table.metadata and memo[1] is self._updates:
            return memo[2]
        metadata = super().table_metadata
        self._memo = (self._table.metadata, self._updates, metadata)
        return metadata


def _stage(
    transaction: Transaction, change: Change, stored: Mapping[Any, Row], properties: dict[str, str]
) -> tuple[WriteResult, bool]:
    """Stage `change` in `transaction`; answer what it will do, and whether it staged anything."""
    table, key = change.table, change.table.primary_key
    result = WriteResult(
        table=table.name,
        operation=change.operation.value,
        rows=len(change.keys),
        snapshot_before=None,
        snapshot_after=None,
    )
    # The loaded table's schema: `transaction.table_metadata` deep-copies every snapshot.
    schema = transaction._table.schema().as_arrow()

    if change.operation is Operation.INSERT:
        transaction.append(_arrow(schema, change.rows), snapshot_properties=properties)
        result.inserted = len(change.rows)

    elif change.operation is Operation.UPSERT:
        changed = [row for row in change.rows if stored.get(row[key]) != row]
        replaced = [row[key] for row in changed if row[key] in stored]
        if replaced:
            transaction.overwrite(
                _arrow(schema, changed),
                overwrite_filter=_in(key, replaced),
                snapshot_properties=properties,
            )
        elif changed:
            transaction.append(_arrow(schema, changed), snapshot_properties=properties)
        result.updated = len(replaced)
        result.inserted = len(changed) - len(replaced)
        result.unchanged = len(change.rows) - len(changed)

    elif change.operation is Operation.UPDATE:
        before = stored[change.key]
        after = change.merged(before)
        result.row = after
        if after != before:
            transaction.overwrite(
                _arrow(schema, [after]),
                overwrite_filter=_equal(key, change.key),
                snapshot_properties=properties,
            )
            result.updated = 1
        else:
            result.unchanged = 1

    elif change.operation is Operation.DELETE:
        transaction.delete(_equal(key, change.key), snapshot_properties=properties)
        result.deleted = 1

    return result, bool(result.inserted or result.updated or result.deleted)


def _stored_rows(
    cursor: duckdb.DuckDBPyConnection, iceberg: IcebergTable, table: Table, keys: Sequence[Any]
) -> dict[Any, Row]:
    """The rows of `keys` in the snapshot `iceberg` is at (none when it has no snapshot).

    DuckDB reads them: it prunes data files by the key's column statistics and filters in
    native code, where pyiceberg's scan took 50 s for 10,000 keys of a million-row table
    (DuckDB: under 2 s). The metadata file pins the snapshot the commit will build on.
    """
    if iceberg.metadata.current_snapshot_id is None or not keys:
        return {}
    key = table.primary_key
    # The location comes from our own catalog, never from a request; keys are a parameter.
    location = iceberg.metadata_location.replace("'", "''")
    sql = (
        f"SELECT * FROM iceberg_scan('{location}') "  # noqa: S608
        f'WHERE "{key}" IN (SELECT unnest(CAST(? AS BIGINT[])))'
    )
    result = cursor.execute(sql, [list(keys)])
    names = [column[0] for column in result.description]
    return {row[names.index(key)]: dict(zip(names, row, strict=True)) for row in result.fetchall()}


def _equal(column: str, value: Any) -> BooleanExpression:
    # pyiceberg's predicates are pydantic models whose declared fields hide the positional
    # constructor from the type checker.
    return EqualTo(column, value)  # type: ignore[call-arg, arg-type]


def _in(column: str, values: Sequence[Any]) -> BooleanExpression:
    return In(column, list(values))  # type: ignore[call-arg, arg-type]


def _arrow(schema: pa.Schema, rows: Sequence[Row]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=schema)


def _committed_at(snapshot: Any) -> datetime | None:
    return None if snapshot is None else from_millis(snapshot.timestamp_ms)
