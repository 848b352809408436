"""The engine interface and the registry that picks an engine by name and imports it lazily.

An engine runs a `CompiledQuery` and answers one page of typed rows with its stats. Athena is the
cloud engine, DuckDB the local one; both run the same SQL text, and one contract suite tests
both. The registry keeps DuckDB (and pyarrow, pyiceberg) out of the cloud Lambda's imports.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from serving_layer import config
from serving_layer.compiler import CompiledQuery
from serving_layer.errors import EngineUnavailableError
from serving_layer.registry import Registry


@dataclass
class QueryStats:
    """What one query cost: reported in the answer and in the query's log line."""

    engine: str
    rows: int = 0
    scanned_bytes: int | None = None
    engine_ms: float = 0.0
    query_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "rows": self.rows,
            "scanned_bytes": self.scanned_bytes,
            "engine_ms": round(self.engine_ms, 3),
            "query_id": self.query_id,
        }


@dataclass
class QueryResult:
    """One page of an answer: the columns `(name, type)`, the rows, and a token for the next."""

    columns: list[tuple[str, str]]
    rows: list[list[Any]]
    stats: QueryStats
    next_page: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Engine(ABC):
    """Runs compiled queries. Implementations are safe to share between threads."""

    name: ClassVar[str]

    @abstractmethod
    def execute(
        self, query: CompiledQuery, *, page_size: int, page: str | None = None
    ) -> QueryResult:
        """Run `query` and answer at most `page_size` rows, starting at the opaque `page`.

        `page` is a token an earlier answer returned in `next_page`; the caller must protect
        it from tampering (the API signs it into the cursor).
        """


_ENGINES: Registry[Engine] = Registry(
    "engine",
    {
        "athena": "serving_layer.engines.athena:AthenaEngine",
        "duckdb": "serving_layer.engines.duckdb:DuckDBEngine",
    },
    EngineUnavailableError,
    hints={"duckdb": "install the local extras: pip install 'serving-layer[local]'"},
)


def engine_class(name: str) -> type[Engine]:
    """The engine class registered as `name`, imported on first use."""
    return _ENGINES.load(name)


def get_engine(name: str | None = None) -> Engine:
    """The process-wide engine called `name` (default: `SERVING_ENGINE`), built on first use."""
    return _ENGINES.get(config.ENGINE.get(name))


def reset_engines() -> None:
    """Forget the built engines, so the next `get_engine` reads its configuration again."""
    _ENGINES.reset()
