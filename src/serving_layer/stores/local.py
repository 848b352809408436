"""The laptop's policy store: one SQLite file under the data folder (`.local/` by default).

SQLite keeps the records across restarts and lets the local gateway's threads read while the
operator's command line writes: the file is in WAL mode (readers never wait for a writer) and
every call opens its own short-lived connection, so no connection is shared between threads.
Writes take the write lock up front (`BEGIN IMMEDIATE`) and wait up to `BUSY_SECONDS` for it.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from serving_layer import config
from serving_layer.errors import ConflictError, PolicyStoreError
from serving_layer.stores import ClientRecord, PolicyStore

FILE_NAME = "clients.sqlite3"
BUSY_SECONDS = 10.0
COLUMNS = (
    "key_hash",
    "key_id",
    "client",
    "status",
    "expires_at",
    "created_at",
    "rotated_at",
    "policy",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    key_hash   TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    client     TEXT NOT NULL,
    status     TEXT NOT NULL,
    expires_at TEXT,
    created_at TEXT NOT NULL,
    rotated_at TEXT,
    policy     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS clients_by_key_id ON clients (key_id);
CREATE INDEX IF NOT EXISTS clients_by_client ON clients (client);
"""

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM clients"  # noqa: S608 - fixed column names
_UPSERT = (
    f"INSERT OR REPLACE INTO clients ({', '.join(COLUMNS)}) "  # noqa: S608 - fixed column names
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)


class LocalPolicyStore(PolicyStore):
    """Client records in `<data_dir>/clients.sqlite3`."""

    name = "local"

    def __init__(self, data_dir: str | Path | None = None) -> None:
        self.path = Path(config.DATA_DIR.get(None if data_dir is None else str(data_dir)))
        self.path = self.path / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connection() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)

        # While one connection stays open, closing the others is cheap: SQLite checkpoints
        # and removes the write-ahead log (with fsyncs) only when the last one closes.
        self._anchor: sqlite3.Connection | None = sqlite3.connect(
            self.path, check_same_thread=False
        )
        self._anchor.execute("SELECT count(*) FROM clients").fetchone()

    def close(self) -> None:
        if self._anchor is not None:
            self._anchor.close()
            self._anchor = None

    def _get(self, key_hash: str) -> ClientRecord | None:
        with self._connection() as connection:
            row = connection.execute(f"{_SELECT} WHERE key_hash = ?", (key_hash,)).fetchone()
        return None if row is None else _record(row)

    def _put(self, record: ClientRecord) -> None:
        with self._writing() as connection:
            connection.execute(_UPSERT, _row(record))

    def _delete(self, key_hash: str) -> bool:
        with self._writing() as connection:
            cursor = connection.execute("DELETE FROM clients WHERE key_hash = ?", (key_hash,))
            return cursor.rowcount > 0

    def _replace(self, old_key_hash: str, record: ClientRecord) -> None:
        with self._writing() as connection:
            cursor = connection.execute("DELETE FROM clients WHERE key_hash = ?", (old_key_hash,))
            if cursor.rowcount == 0:
                raise ConflictError(
                    "the key being replaced no longer exists; list the clients and try again"
                )
            connection.execute(_UPSERT, _row(record))

    def _list(self) -> builtins.list[ClientRecord]:
        with self._connection() as connection:
            rows = connection.execute(_SELECT).fetchall()
        return [_record(row) for row in rows]

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own for one call, closed after it (autocommit mode)."""
        try:
            with closing(
                sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
            ) as connection:
                # In WAL mode NORMAL never corrupts the file; a power cut may lose the last
                # commits, which an operator would redo. It spares an fsync per write.
                connection.execute("PRAGMA synchronous=NORMAL")
                yield connection
        except sqlite3.Error as error:
            raise PolicyStoreError(
                f"the local policy store at {self.path} failed: {type(error).__name__}"
            ) from None

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self._connection() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")


def _row(record: ClientRecord) -> tuple[str | None, ...]:
    item = record.to_item()
    return tuple(item.get(column) for column in COLUMNS)


def _record(row: tuple[str | None, ...]) -> ClientRecord:
    item = {column: value for column, value in zip(COLUMNS, row, strict=True) if value is not None}
    return ClientRecord.from_item(item)
