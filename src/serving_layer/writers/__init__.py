"""The writer interface and the registry that picks a writer by name and imports it lazily.

A writer applies one `Change` (an insert or upsert batch, or an update or delete of one row) to
one table as one commit, and reads rows by primary key. Before it commits, it reads the stored
rows of the change's keys and hands them to the caller's `check`, which raises to refuse the
change (a key that exists, a row outside the caller's scope): the local writer does this inside
its commit attempt, so the check always sees the snapshot the commit builds on.

`local` writes the local Iceberg warehouse with pyiceberg; `athena` renders Athena DML on the
cloud's Iceberg tables. The registry keeps pyiceberg and pyarrow out of the cloud Lambda.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from serving_layer import config
from serving_layer.audit import AuditRecord
from serving_layer.errors import WriteFailedError
from serving_layer.history import TableHistory
from serving_layer.model import Table
from serving_layer.policy import Operation
from serving_layer.registry import Registry

Row = dict[str, Any]
Check = Callable[[Mapping[Any, Row]], None]


@dataclass(frozen=True)
class Actor:
    """Who asks for a change: recorded with it in the audit."""

    client: str
    key_id: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class Change:
    """One write to one table: complete typed rows (insert, upsert) or one key (update, delete).

    Rows come from `rows.validate_rows` and a patch from `rows.validate_patch`: a writer binds
    the values as they are.
    """

    table: Table
    operation: Operation
    rows: tuple[Row, ...] = ()
    key: Any = None
    patch: Row = field(default_factory=dict)

    def __post_init__(self) -> None:
        batch = self.operation in (Operation.INSERT, Operation.UPSERT)
        if batch != bool(self.rows) or batch == (self.key is not None):
            raise ValueError(
                f"a {self.operation.value} change needs {'rows' if batch else 'a key'}"
            )
        if (self.operation is Operation.UPDATE) != bool(self.patch):
            raise ValueError("only an update carries a patch, and it must not be empty")

    @property
    def keys(self) -> list[Any]:
        """The primary keys the change touches, in the batch's order."""
        if self.key is not None:
            return [self.key]
        return [row[self.table.primary_key] for row in self.rows]

    def merged(self, stored: Row) -> Row:
        """The row an update leaves: the stored row with the patch's columns replaced."""
        return {**stored, **self.patch}


@dataclass
class WriteResult:
    """What one committed change did, for the answer and the audit."""

    table: str
    operation: str
    rows: int
    snapshot_before: int | None
    snapshot_after: int | None
    committed_at: datetime | None = None
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    attempts: int = 1
    row: Row | None = None  # an update's row as stored afterwards
    extra: dict[str, Any] = field(default_factory=dict)


class Writer(ABC):
    """Applies changes to the lake's tables. Implementations are safe to share between threads."""

    name: ClassVar[str]

    @abstractmethod
    def read(self, table: Table, keys: Sequence[Any]) -> dict[Any, Row]:
        """The stored rows of `keys` (absent keys are left out), from the current snapshot."""

    @abstractmethod
    def write(self, change: Change, actor: Actor, check: Check) -> WriteResult:
        """Apply `change` as one commit, after `check` accepted the stored rows of its keys.

        `check` receives `{key: stored row}` for the keys that exist and raises to refuse; a
        refusal, a failed commit or any error leaves the table as it was.
        """

    @abstractmethod
    def current_snapshot(self, table: Table) -> int | None:
        """The id of the table's current snapshot (None for a table never written)."""

    @abstractmethod
    def history(self, table: Table) -> TableHistory:
        """The table's snapshots, from its current Iceberg metadata."""

    @abstractmethod
    def audit_records(self, table: Table, history: TableHistory) -> dict[int, AuditRecord]:
        """The audit record of each snapshot of `history` this API wrote, by snapshot id."""


_WRITERS: Registry[Writer] = Registry(
    "writer",
    {
        "local": "serving_layer.writers.local:LocalWriter",
        "athena": "serving_layer.writers.athena:AthenaWriter",
    },
    WriteFailedError,
    hints={"local": "install the local extras: pip install 'serving-layer[local]'"},
)
_FOLLOW_ENGINE = {"duckdb": "local", "athena": "athena"}


def writer_name(explicit: str | None = None) -> str:
    """The configured writer: `SERVING_WRITER`, else the one that matches `SERVING_ENGINE`."""
    name = config.WRITER.get(explicit)
    if name:
        return name
    engine = config.ENGINE.get()
    return _FOLLOW_ENGINE.get(engine, engine)


def writer_class(name: str) -> type[Writer]:
    """The writer class registered as `name`, imported on first use."""
    return _WRITERS.load(name)


def get_writer(name: str | None = None) -> Writer:
    """The process-wide writer called `name` (default: `writer_name()`), built on first use."""
    return _WRITERS.get(writer_name(name))


def reset_writers() -> None:
    """Forget the built writers, so the next `get_writer` reads its configuration again."""
    _WRITERS.reset()
