"""Who changed what: one audit record per committed write, shown by the snapshots route.

A record names the table, the operation, the client and its key id, the request id, the number
of rows the request carried, and the table's snapshot before and after the commit.

Where it lives:

- **local writer**: in the Iceberg snapshot summary itself, as `serving.*` properties written by
  the same commit as the data (pyiceberg's `snapshot_properties`), so a write and its audit can
  never disagree; the snapshot after is the snapshot that carries them.
- **Athena writer**: Athena's DML cannot set snapshot properties, so the record goes to a
  DynamoDB table (`SERVING_AUDIT_TABLE`, partition key `table_name`, sort key `recorded`) right
  after the statement succeeds, keyed so a table's records list newest first.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from serving_layer import config
from serving_layer.history import TableHistory

logger = logging.getLogger(__name__)

PREFIX = "serving."
_FIELDS = ("operation", "client", "key-id", "request-id", "rows", "snapshot-before")


@dataclass(frozen=True)
class AuditRecord:
    """One committed write."""

    table: str
    operation: str
    client: str
    key_id: str | None
    request_id: str | None
    rows: int
    snapshot_before: int | None
    snapshot_after: int | None
    recorded_at: datetime

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["recorded_at"] = self.recorded_at.isoformat(timespec="milliseconds") + "Z"
        return body


def snapshot_properties(
    *,
    operation: str,
    client: str,
    key_id: str | None,
    request_id: str | None,
    rows: int,
    snapshot_before: int | None,
) -> dict[str, str]:
    """The `serving.*` snapshot summary properties of a write (Iceberg summaries are text)."""
    values = {
        "operation": operation,
        "client": client,
        "key-id": key_id or "",
        "request-id": request_id or "",
        "rows": str(rows),
        "snapshot-before": "" if snapshot_before is None else str(snapshot_before),
    }
    return {PREFIX + name: value for name, value in values.items()}


def from_summary(
    table: str, snapshot_id: int, committed_at: datetime, summary: Mapping[str, str]
) -> AuditRecord | None:
    """The audit record a snapshot summary carries, or None for a snapshot not written by us."""
    if PREFIX + "client" not in summary:
        return None
    value = {name: summary.get(PREFIX + name, "") for name in _FIELDS}
    before = value["snapshot-before"]
    return AuditRecord(
        table=table,
        operation=value["operation"],
        client=value["client"],
        key_id=value["key-id"] or None,
        request_id=value["request-id"] or None,
        rows=int(value["rows"] or 0),
        snapshot_before=int(before) if before else None,
        snapshot_after=snapshot_id,
        recorded_at=committed_at,
    )


def from_history(history: TableHistory) -> dict[int, AuditRecord]:
    """The audit records carried by a table's snapshot summaries, by snapshot id.

    One commit may add several snapshots (an upsert adds an overwrite and an append); each
    carries the same properties, and every one of them is given the record whose
    `snapshot_after` is the commit's last snapshot, the one readers saw.
    """
    found: dict[int, AuditRecord] = {}
    group: list[tuple[int, AuditRecord]] = []
    for snapshot in history.snapshots:
        record = from_summary(
            history.table, snapshot.snapshot_id, snapshot.committed_at, snapshot.summary
        )
        same_commit = (
            record is not None
            and group
            and snapshot.parent_id == group[-1][0]
            and _commit_of(record) == _commit_of(group[-1][1])
        )
        if not same_commit:
            _close(group, found)
            group = []
        if record is not None:
            group.append((snapshot.snapshot_id, record))
    _close(group, found)
    return found


def _commit_of(record: AuditRecord) -> tuple[Any, ...]:
    return (record.client, record.request_id, record.operation, record.snapshot_before)


def _close(group: list[tuple[int, AuditRecord]], found: dict[int, AuditRecord]) -> None:
    if not group:
        return
    last_id, last = group[-1]
    for snapshot_id, _ in group:
        found[snapshot_id] = replace(last, snapshot_after=last_id)


class AuditLog(ABC):
    """Where the cloud writer keeps its records (the local writer needs none)."""

    @abstractmethod
    def record(self, record: AuditRecord) -> None:
        """Keep `record`; a failure is logged and never undoes the write it describes."""

    @abstractmethod
    def records(self, table: str, limit: int) -> dict[int, AuditRecord]:
        """The table's newest records, by the snapshot they produced."""


class DynamoDBAuditLog(AuditLog):
    """Audit records in DynamoDB: one item per write, newest first within a table."""

    def __init__(self, table_name: str | None = None, client: Any = None) -> None:
        self.table_name = config.AUDIT_TABLE.get(table_name)
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb")
        return self._client

    def record(self, record: AuditRecord) -> None:
        item = {
            "table_name": {"S": record.table},
            # Sorts by time; the snapshot id keeps two writes of one millisecond apart.
            "recorded": {"S": f"{record.to_dict()['recorded_at']}#{record.snapshot_after}"},
            "operation": {"S": record.operation},
            "client": {"S": record.client},
            "rows": {"N": str(record.rows)},
        }
        optional = {
            "key_id": record.key_id,
            "request_id": record.request_id,
            "snapshot_before": record.snapshot_before,
            "snapshot_after": record.snapshot_after,
        }
        for name, value in optional.items():
            if value is not None:
                item[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
        try:
            self.client.put_item(TableName=self.table_name, Item=item)
        except Exception:
            # The data is committed; losing its audit line must not turn the answer into an
            # error the client would retry (and so write twice).
            # NOTE: the record then lives only in the log line below; a retry queue (or the
            # audit in the same transaction, as locally) would keep it in the table.
            logger.exception("audit record not stored", extra={"audit": record.to_dict()})

    def records(self, table: str, limit: int) -> dict[int, AuditRecord]:
        response = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="table_name = :t",
            ExpressionAttributeValues={":t": {"S": table}},
            ScanIndexForward=False,
            Limit=limit,
        )
        found = {}
        for item in response.get("Items", []):
            record = _from_item(table, item)
            if record.snapshot_after is not None:
                found[record.snapshot_after] = record
        return found


def _from_item(table: str, item: Mapping[str, Any]) -> AuditRecord:
    def text(name: str) -> str | None:
        value = item.get(name)
        return value["S"] if value and "S" in value else None

    def number(name: str) -> int | None:
        value = item.get(name)
        return int(value["N"]) if value and "N" in value else None

    recorded = (text("recorded") or "").split("#", 1)[0].rstrip("Z")
    return AuditRecord(
        table=table,
        operation=text("operation") or "",
        client=text("client") or "",
        key_id=text("key_id"),
        request_id=text("request_id"),
        rows=number("rows") or 0,
        snapshot_before=number("snapshot_before"),
        snapshot_after=number("snapshot_after"),
        recorded_at=datetime.fromisoformat(recorded) if recorded else _now(),
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
