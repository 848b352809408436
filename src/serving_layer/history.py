"""A table's snapshot history, read from its current Iceberg metadata file.

The metadata file (Iceberg table spec, "Table Metadata" and "Snapshots") lists every snapshot
the table keeps: its id, parent, commit time in epoch milliseconds and summary (operation, and
any properties the writer added). Reading it directly costs one small file and needs neither
pyiceberg nor an engine, so the query Lambda can resolve `as_of` and the manage Lambda can list
snapshots with the standard library and boto3 only:

- **local**: the catalog's SQLite table names each table's current metadata file;
- **glue**: the Glue table's `metadata_location` parameter names it in S3 (Athena keeps it
  there for Iceberg tables).
"""

from __future__ import annotations

import gzip
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from serving_layer import config, warehouse
from serving_layer.errors import EngineUnavailableError, NotFoundError


@dataclass(frozen=True)
class Snapshot:
    """One snapshot of one table."""

    table: str
    snapshot_id: int
    parent_id: int | None
    committed_at: datetime  # naive UTC
    operation: str | None
    summary: Mapping[str, str]


@dataclass(frozen=True)
class TableHistory:
    """A table's snapshots, oldest first, and which one is current."""

    table: str
    current_id: int | None
    snapshots: tuple[Snapshot, ...]

    def find(self, snapshot_id: int) -> Snapshot | None:
        for snapshot in self.snapshots:
            if snapshot.snapshot_id == snapshot_id:
                return snapshot
        return None

    @property
    def current(self) -> Snapshot | None:
        return None if self.current_id is None else self.find(self.current_id)


def parse_metadata(table: str, document: Mapping[str, Any]) -> TableHistory:
    """The history in an Iceberg metadata document (format v1 or v2)."""
    snapshots = []
    for entry in document.get("snapshots") or ():
        summary = {str(k): str(v) for k, v in (entry.get("summary") or {}).items()}
        snapshots.append(
            Snapshot(
                table=table,
                snapshot_id=int(entry["snapshot-id"]),
                parent_id=_optional_int(entry.get("parent-snapshot-id")),
                committed_at=from_millis(int(entry["timestamp-ms"])),
                operation=summary.get("operation"),
                summary=summary,
            )
        )
    snapshots.sort(key=lambda s: (s.committed_at, s.snapshot_id))
    current = _optional_int(document.get("current-snapshot-id"))
    if current == -1:  # format v1 writes -1 for "no snapshot"
        current = None
    return TableHistory(table, current, tuple(snapshots))


class HistorySource(ABC):
    """Reads tables' metadata files."""

    @abstractmethod
    def history(self, table: str) -> TableHistory:
        """The table's history; a `NotFoundError` when the lake has no such table."""

    def find_snapshot(self, snapshot_id: int, tables: Iterable[str]) -> Snapshot | None:
        """The snapshot `snapshot_id` of whichever of `tables` holds it (ids are table-local)."""
        for table in tables:
            found = self.history(table).find(snapshot_id)
            if found is not None:
                return found
        return None


class LocalHistory(HistorySource):
    """Metadata files of the local warehouse."""

    def __init__(self, warehouse_path: str | Path | None = None, namespace: str | None = None):
        self.warehouse = warehouse.warehouse_dir(warehouse_path)
        self.namespace = config.NAMESPACE.get(namespace)

    def history(self, table: str) -> TableHistory:
        try:
            locations = warehouse.metadata_locations(self.warehouse, self.namespace)
        except warehouse.WarehouseMissingError as error:
            raise EngineUnavailableError(str(error)) from None
        location = locations.get(table)
        if location is None:
            raise NotFoundError(f"table {table!r} is not in the local warehouse")
        return parse_metadata(table, _read_json(_local_path(location).read_bytes()))


class GlueHistory(HistorySource):
    """Metadata files in S3, found through the Glue Data Catalog."""

    def __init__(self, namespace: str | None = None, glue: Any = None, s3: Any = None) -> None:
        self.namespace = config.NAMESPACE.get(namespace)
        self._glue = glue
        self._s3 = s3

    def history(self, table: str) -> TableHistory:
        import boto3

        glue = self._glue = self._glue or boto3.client("glue")
        s3 = self._s3 = self._s3 or boto3.client("s3")
        try:
            answer = glue.get_table(DatabaseName=self.namespace, Name=table)
        except glue.exceptions.EntityNotFoundException:
            raise NotFoundError(f"table {table!r} is not in the catalog") from None
        location = answer["Table"].get("Parameters", {}).get("metadata_location")
        if not location:
            raise EngineUnavailableError(f"table {table!r} has no Iceberg metadata location")
        parsed = urlparse(location)
        body = s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read()
        return parse_metadata(table, _read_json(body))


def history_source(writer: str) -> HistorySource:
    """The history source matching a writer: the local warehouse, or Glue and S3."""
    return LocalHistory() if writer == "local" else GlueHistory()


def _read_json(raw: bytes) -> dict[str, Any]:
    if raw[:2] == b"\x1f\x8b":  # gzip magic: `write.metadata.compression-codec=gzip`
        raw = gzip.decompress(raw)
    document: dict[str, Any] = json.loads(raw)
    return document


def _local_path(location: str) -> Path:
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    raise EngineUnavailableError(f"the local warehouse points outside the disk: {parsed.scheme}")


def from_millis(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC).replace(tzinfo=None)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
