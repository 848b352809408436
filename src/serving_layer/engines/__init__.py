"""The engine interface and the registry that picks an engine by name and imports it lazily.

An engine runs a `CompiledQuery` and answers one page of typed rows with its stats. Athena is the
cloud engine, DuckDB the local one; both run the same SQL text, and one contract suite tests
both. The registry keeps DuckDB (and pyarrow, pyiceberg) out of the cloud Lambda's imports.
"""

from __future__ import annotations

import importlib
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from serving_layer import config
from serving_layer.compiler import CompiledQuery
from serving_layer.errors import EngineUnavailableError


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


_REGISTRY: dict[str, str] = {
    "athena": "serving_layer.engines.athena:AthenaEngine",
    "duckdb": "serving_layer.engines.duckdb:DuckDBEngine",
}
_HINTS = {"duckdb": "install the local extras: pip install 'serving-layer[local]'"}
_instances: dict[str, Engine] = {}
_lock = threading.Lock()


def engine_class(name: str) -> type[Engine]:
    """The engine class registered as `name`, imported on first use."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise EngineUnavailableError(f"unknown engine {name!r}; the engines are: {known}") from None

    module_name, class_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        hint = _HINTS.get(name, "")
        raise EngineUnavailableError(f"engine {name!r} cannot load ({error}); {hint}") from None
    cls: type[Engine] = getattr(module, class_name)
    return cls


def get_engine(name: str | None = None) -> Engine:
    """The process-wide engine called `name` (default: `SERVING_ENGINE`), built on first use."""
    name = config.ENGINE.get(name)
    with _lock:
        if name not in _instances:
            _instances[name] = engine_class(name)()
        return _instances[name]


def reset_engines() -> None:
    """Forget the built engines, so the next `get_engine` reads its configuration again."""
    with _lock:
        _instances.clear()
