"""`Idempotency-Key` for the manage API's POST and PUT: a retry answers the first answer.

A client that does not know whether its write landed (a timeout, a dropped connection) sends
the same request again with the same `Idempotency-Key` header; the API then answers what it
answered the first time and writes nothing more. The record is keyed by the client, the key,
and the route (method and table), and remembers a hash of the body: the same key with another
body is a client mistake, refused with a 422 problem (as the IETF draft "The Idempotency-Key
HTTP Header Field" advises); the same key while the first request still runs is a 409.

Powertools' idempotency utility does the bookkeeping (in progress, completed, expiry, payload
validation); only its persistence layer differs:

- cloud: DynamoDB (`SERVING_IDEMPOTENCY_TABLE`, partition key `id`, TTL attribute
  `expiration`), Powertools' own layer;
- local: a SQLite file under `SERVING_DATA_DIR`, with the same semantics (below).

A failed request leaves no record (Powertools deletes it), so its retry runs again; only
successes replay, for `SERVING_IDEMPOTENCY_SECONDS` (a day by default).

NOTE: when the store fails after the write committed (saving the answer), the client gets a 503
for a write that landed; its retry then runs again: an insert answers 409 (the keys exist), an
upsert writes the same values, which changes nothing. Only the first answer is lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import (
    STATUS_CONSTANTS,
    DataRecord,
)

from serving_layer import config
from serving_layer.errors import (
    BadRequestError,
    IdempotencyKeyReusedError,
    RequestInProgressError,
    WriteFailedError,
)

HEADER = "idempotency-key"
MAX_KEY_CHARS = 255
KEY_PREFIX = "manage"
DATABASE_FILE = "idempotency.db"

Answer = dict[str, Any]


def check_key(value: str) -> str:
    """The header's key: 1 to 255 printable ASCII characters."""
    if not 1 <= len(value) <= MAX_KEY_CHARS or not all(" " < c <= "~" for c in value):
        raise BadRequestError(
            f"the Idempotency-Key header must be 1 to {MAX_KEY_CHARS} printable ASCII "
            "characters without spaces, such as a UUID"
        )
    return value


def body_digest(body: Any) -> str:
    """A hash of the body's meaning: the same JSON with other spacing or key order is equal."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_once(
    store: BasePersistenceLayer,
    *,
    client: str,
    key: str,
    route: str,
    body: Any,
    operation: Callable[[], Answer],
    context: Any = None,
) -> tuple[Answer, bool]:
    """The answer of `operation`, run at most once per (client, key, route); and whether the
    answer is a replay of an earlier request's."""
    settings = IdempotencyConfig(
        event_key_jmespath="[client, key, route]",
        payload_validation_jmespath="body",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=int(config.IDEMPOTENCY_SECONDS.get()),
        response_hook=_marked_replay,
    )
    settings.register_lambda_context(_Deadline.of(context))
    once = idempotent_function(
        _execute,
        data_keyword_argument="request",
        persistence_store=store,
        config=settings,
        key_prefix=KEY_PREFIX,
    )

    request = {"client": client, "key": key, "route": route, "body": body_digest(body)}
    try:
        answer: Answer = once(request=request, operation=operation)
    except IdempotencyValidationError:
        raise IdempotencyKeyReusedError(
            "this Idempotency-Key was already used with a different body on this route; use a "
            "new key for a new request, or resend exactly the first body"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise RequestInProgressError(
            "a request with this Idempotency-Key is still running; wait for it and retry"
        ) from None
    except IdempotencyPersistenceLayerError as error:
        raise WriteFailedError(
            "the idempotency records cannot be read or written; retry later"
        ) from error

    replayed = bool(answer.pop(_REPLAY_MARK, False))
    return answer, replayed


_REPLAY_MARK = "__replayed"


def _execute(request: Mapping[str, Any], operation: Callable[[], Answer]) -> Answer:
    """What Powertools runs once: `request` is the hashed part, `operation` does the work."""
    return operation()


def _marked_replay(response: Any, idempotent_data: DataRecord) -> Any:
    # Powertools calls this only when it answers from a stored record.
    if isinstance(response, dict):
        return {**response, _REPLAY_MARK: True}
    return response


class _Deadline:
    """A stand-in Lambda context when there is none (local runs): the query deadline."""

    def __init__(self, seconds: float) -> None:
        self._ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))

    @classmethod
    def of(cls, context: Any) -> Any:
        if callable(getattr(context, "get_remaining_time_in_millis", None)):
            return context
        return cls(float(config.QUERY_DEADLINE_SECONDS.get()))


class SQLitePersistenceLayer(BasePersistenceLayer):
    """Powertools idempotency records in a local SQLite file.

    `_put_record` is the one step that must be atomic: it inserts the in-progress record only
    when no live record holds the key, in one immediate transaction, so two concurrent
    requests with one key cannot both run.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__()
        self.path = Path(path) if path else Path(config.DATA_DIR.get()) / DATABASE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._transaction() as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS idempotency ("
                " id TEXT PRIMARY KEY, status TEXT NOT NULL, expiration INTEGER,"
                " in_progress_expiration INTEGER, data TEXT, validation TEXT)"
            )

    def _transaction(self) -> _Transaction:
        """This thread's connection, inside one immediate transaction."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            self._local.connection = connection
        return _Transaction(connection)

    def _get_record(self, idempotency_key: str) -> DataRecord:
        with self._transaction() as connection:
            row = connection.execute(_SELECT, (idempotency_key,)).fetchone()
        if row is None:
            raise IdempotencyItemNotFoundError
        return _record(row)

    def _put_record(self, data_record: DataRecord) -> None:
        now = dt.datetime.now()
        with self._transaction() as connection:
            row = connection.execute(_SELECT, (data_record.idempotency_key,)).fetchone()
            if row is not None and _is_live(row, now):
                # As Powertools' DynamoDB layer does: another body under the key is refused
                # here, before the stored answer could be replayed for it.
                old = _record(row)
                self._validate_payload(data_payload=data_record, stored_data_record=old)
                raise IdempotencyItemAlreadyExistsError(old_data_record=old)
            connection.execute(
                "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?, ?)",
                (
                    data_record.idempotency_key,
                    STATUS_CONSTANTS["INPROGRESS"],
                    data_record.expiry_timestamp,
                    data_record.in_progress_expiry_timestamp,
                    None,
                    data_record.payload_hash,
                ),
            )

    def _update_record(self, data_record: DataRecord) -> None:
        with self._transaction() as connection:
            connection.execute(
                "UPDATE idempotency SET status = ?, expiration = ?, data = ? WHERE id = ?",
                (
                    data_record.status,
                    data_record.expiry_timestamp,
                    data_record.response_data,
                    data_record.idempotency_key,
                ),
            )

    def _delete_record(self, data_record: DataRecord) -> None:
        with self._transaction() as connection:
            connection.execute(
                "DELETE FROM idempotency WHERE id = ?", (data_record.idempotency_key,)
            )


_SELECT = (
    "SELECT id, status, expiration, in_progress_expiration, data, validation "
    "FROM idempotency WHERE id = ?"
)


class _Transaction:
    """`with` gives the connection inside `BEGIN IMMEDIATE … COMMIT` (rolled back on error)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> sqlite3.Connection:
        self.connection.execute("BEGIN IMMEDIATE")
        return self.connection

    def __exit__(self, kind: Any, *_: Any) -> None:
        self.connection.execute("ROLLBACK" if kind else "COMMIT")


def _record(row: tuple[Any, ...]) -> DataRecord:
    key, status, expiration, in_progress_expiration, data, validation = row
    return DataRecord(
        idempotency_key=key,
        status=status,
        expiry_timestamp=expiration,
        in_progress_expiry_timestamp=in_progress_expiration,
        response_data=data or "",
        payload_hash=validation or "",
    )


def _is_live(row: tuple[Any, ...], now: dt.datetime) -> bool:
    """Whether a stored record still holds its key (Powertools' own expiry rules)."""
    _, status, expiration, in_progress_expiration, _, _ = row
    if expiration is not None and int(now.timestamp()) > expiration:
        return False
    if status == STATUS_CONSTANTS["INPROGRESS"] and in_progress_expiration is not None:
        return in_progress_expiration >= int(now.timestamp() * 1000)
    return True


def persistence_layer(writer: str) -> BasePersistenceLayer:
    """The store that matches a writer: SQLite for the local one, DynamoDB in the cloud."""
    if writer == "local":
        return SQLitePersistenceLayer()
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=config.IDEMPOTENCY_TABLE.get())
