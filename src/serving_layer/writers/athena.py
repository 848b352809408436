"""The cloud writer: Athena DML on the lake's Iceberg tables, one statement per change.

Each change is one statement from `dml.py` — `INSERT`, `MERGE INTO` (upsert), `UPDATE` or
`DELETE` — and Athena commits each statement as one Iceberg snapshot, so a batch lands whole or
not at all. Before the statement the writer reads the stored rows of the change's keys with a
`SELECT` and hands them to the caller's check; it reads the table's current snapshot before and
after from the Iceberg metadata (`history.GlueHistory`) and records the audit in DynamoDB.

Statements run like the query engine's: values bound as `ExecutionParameters` written as Trino
literals (`engines/literals.py`), in the configured workgroup and database, polled with a
growing delay (`engines.athena.poll_delays`) under the same deadline. A write that outlives the
deadline is not stopped (stopping does not say whether the commit happened); the client gets a
504 problem with the query id, and a retry with the same `Idempotency-Key` is safe.

NOTE: the snapshot "after" is the table's current snapshot read once the statement has
succeeded; a commit by another writer in that instant would be reported (and audited) instead.
Trino records its query id in the snapshot summary, which would let the writer find its own.

NOTE: Athena runs one statement per request, so the read-and-check and the statement are two
steps: a concurrent writer could insert a key between them (the local writer checks inside its
commit). Iceberg's own commit conflict check catches overlapping MERGE/UPDATE/DELETE; two
INSERTs of one new key could both land. Lifting this needs a lock per table (a DynamoDB
conditional item) around the two steps.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from serving_layer import audit, config, dml
from serving_layer.engines.athena import poll_delays, setting_number, shared_client
from serving_layer.engines.athena_values import value_reader
from serving_layer.engines.literals import sql_literal
from serving_layer.errors import (
    EngineTimeoutError,
    PayloadTooLargeError,
    WriteFailedError,
)
from serving_layer.history import GlueHistory, HistorySource, TableHistory
from serving_layer.model import Table
from serving_layer.policy import Operation
from serving_layer.writers import Actor, Change, Check, Row, Writer, WriteResult

logger = logging.getLogger(__name__)

# Keys per SELECT of stored rows: the IN list stays far below Athena's query size limit.
KEYS_PER_READ = 1000
MAX_ROWS_PER_CALL = 1000


class AthenaWriter(Writer):
    """Writes through Athena; safe to share between threads."""

    name = "athena"

    def __init__(
        self,
        client: Any = None,
        *,
        workgroup: str | None = None,
        catalog: str | None = None,
        database: str | None = None,
        deadline_seconds: float | None = None,
        metadata: HistorySource | None = None,
        audit_log: audit.AuditLog | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self.workgroup = config.ATHENA_WORKGROUP.get(workgroup)
        self.catalog = config.ATHENA_CATALOG.get(catalog)
        self.database = config.NAMESPACE.get(database)
        self.deadline_seconds = setting_number(
            config.QUERY_DEADLINE_SECONDS, deadline_seconds, float
        )
        self.metadata = metadata or GlueHistory(self.database)
        self.audit_log = audit_log or audit.DynamoDBAuditLog()
        self._clock = clock
        self._sleep = sleep

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = shared_client()
        return self._client

    def current_snapshot(self, table: Table) -> int | None:
        return self.metadata.history(table.name).current_id

    def history(self, table: Table) -> TableHistory:
        return self.metadata.history(table.name)

    def audit_records(self, table: Table, history: TableHistory) -> dict[int, audit.AuditRecord]:
        return self.audit_log.records(table.name, limit=max(1, len(history.snapshots)))

    def read(self, table: Table, keys: Sequence[Any]) -> dict[Any, Row]:
        found: dict[Any, Row] = {}
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), KEYS_PER_READ):
            statement = dml.select_by_keys(table, wanted[start : start + KEYS_PER_READ])
            query_id = self._run(statement, table, "read")
            for row in self._rows(query_id, table):
                found[row[table.primary_key]] = row
        return found

    def write(self, change: Change, actor: Actor, check: Check) -> WriteResult:
        table = change.table
        before = self.current_snapshot(table)
        stored = self.read(table, change.keys)
        check(stored)

        statement, result = _plan(change, stored)
        result.snapshot_before = result.snapshot_after = before
        if statement is None:
            return result
        if statement.size > dml.MAX_STATEMENT_BYTES:
            most = max(1, len(change.keys) * dml.MAX_STATEMENT_BYTES // statement.size)
            raise PayloadTooLargeError(
                f"this batch makes an Athena statement of {statement.size:,} bytes, over "
                f"Athena's {dml.MAX_STATEMENT_BYTES:,}; send batches of at most about "
                f"{most:,} rows of {table.name!r}",
                max_rows=most,
            )

        query_id = self._run(statement, table, change.operation.value)
        current = self.metadata.history(table.name).current
        result.snapshot_after = current.snapshot_id if current else None
        result.committed_at = current.committed_at if current else None
        result.extra["query_id"] = query_id
        self.audit_log.record(
            audit.AuditRecord(
                table=table.name,
                operation=change.operation.value,
                client=actor.client,
                key_id=actor.key_id,
                request_id=actor.request_id,
                rows=len(change.keys),
                snapshot_before=before,
                snapshot_after=result.snapshot_after,
                recorded_at=datetime.now(UTC).replace(tzinfo=None),
            )
        )
        return result

    def _run(self, statement: dml.Statement, table: Table, what: str) -> str:
        """Start `statement` and wait until it succeeds; answer its query execution id."""
        deadline = self._clock() + self.deadline_seconds
        request: dict[str, Any] = {
            "QueryString": statement.sql,
            "ClientRequestToken": str(uuid.uuid4()),
            "WorkGroup": self.workgroup,
            "QueryExecutionContext": {"Database": self.database, "Catalog": self.catalog},
        }
        if statement.params:
            request["ExecutionParameters"] = [sql_literal(value) for value in statement.params]
        query_id: str = self._call("start_query_execution", request)["QueryExecutionId"]

        for delay in poll_delays():
            if self._clock() + delay > deadline:
                logger.warning("athena write still running: %s query_id=%s", what, query_id)
                raise EngineTimeoutError(
                    f"the {what} on {table.name!r} did not finish in {self.deadline_seconds:g} "
                    "seconds and may still land; list the table's snapshots to see, or retry "
                    "with the same Idempotency-Key",
                    query_id=query_id,
                )
            self._sleep(delay)
            execution = self._call("get_query_execution", {"QueryExecutionId": query_id})
            status = execution["QueryExecution"].get("Status", {})
            state = status.get("State")
            if state == "SUCCEEDED":
                return query_id
            if state in ("FAILED", "CANCELLED"):
                error = status.get("AthenaError", {})
                logger.warning(
                    "athena %s %s: table=%s query_id=%s category=%s type=%s",
                    what,
                    state.lower(),
                    table.name,
                    query_id,
                    error.get("ErrorCategory"),
                    error.get("ErrorType"),
                )
                raise WriteFailedError(
                    f"the {what} on {table.name!r} did not complete and changed nothing; "
                    "try again, and quote the query id if it keeps failing",
                    query_id=query_id,
                )
        raise AssertionError("unreachable: the poll schedule never ends")

    def _rows(self, query_id: str, table: Table) -> list[Row]:
        """Every row of a finished SELECT, typed by the data model."""
        rows: list[Row] = []
        token: str | None = None
        first = True
        while True:
            request: dict[str, Any] = {
                "QueryExecutionId": query_id,
                "MaxResults": MAX_ROWS_PER_CALL,
            }
            if token:
                request["NextToken"] = token
            answer = self._call("get_query_results", request)
            result_set = answer.get("ResultSet", {})
            infos = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
            readers = [
                value_reader(str(info.get("Type", "varchar")), dml.TRINO_TYPES[column.type])
                for info, column in zip(infos, table.columns, strict=True)
            ]
            batch = result_set.get("Rows", [])
            if first and batch:
                batch = batch[1:]  # a SELECT's first row is the column names
            first = False
            for item in batch:
                data = item.get("Data", [])
                rows.append(
                    {
                        column.name: read(datum["VarCharValue"])
                        if "VarCharValue" in datum
                        else None
                        for column, read, datum in zip(table.columns, readers, data, strict=True)
                    }
                )
            token = answer.get("NextToken")
            if not token:
                return rows

    def _call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        # NOTE: unlike the engine's calls, a throttled write call is not retried: the client gets
        # a 503 and retries with its Idempotency-Key. Sharing the engine's jittered call loop
        # (engines/athena.py) would lift it; it is bound to the engine's own errors today.
        try:
            answer: dict[str, Any] = getattr(self.client, operation)(**request)
        except (ClientError, BotoCoreError) as error:
            logger.warning("athena %s refused: %s", operation, type(error).__name__)
            raise WriteFailedError(
                "the lake cannot be written right now; nothing was changed: try again later"
            ) from None
        return answer


def _plan(change: Change, stored: dict[Any, Row]) -> tuple[dml.Statement | None, WriteResult]:
    """The statement for `change` given the stored rows, and what it will do."""
    table, key = change.table, change.table.primary_key
    result = WriteResult(
        table=table.name,
        operation=change.operation.value,
        rows=len(change.keys),
        snapshot_before=None,
        snapshot_after=None,
    )
    statement: dml.Statement | None = None

    if change.operation is Operation.INSERT:
        statement = dml.insert(table, change.rows)
        result.inserted = len(change.rows)

    elif change.operation is Operation.UPSERT:
        changed = [row for row in change.rows if stored.get(row[key]) != row]
        result.updated = sum(1 for row in changed if row[key] in stored)
        result.inserted = len(changed) - result.updated
        result.unchanged = len(change.rows) - len(changed)
        statement = dml.merge(table, changed) if changed else None

    elif change.operation is Operation.UPDATE:
        before = stored[change.key]
        after = change.merged(before)
        result.row = after
        differing = {name: value for name, value in change.patch.items() if before[name] != value}
        if differing:
            statement = dml.update(table, change.key, differing)
            result.updated = 1
        else:
            result.unchanged = 1

    elif change.operation is Operation.DELETE:
        statement = dml.delete(table, change.key)
        result.deleted = 1

    return statement, result
