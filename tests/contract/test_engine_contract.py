"""One contract for every engine: typed values, paging with page tokens, empty answers, stats.

Each behaviour runs against DuckDB over the hand-made fixture lake and against the Athena engine
talking to moto's Athena over real HTTP (`tests/athena_emulator.py`). Moto runs no SQL, so for
Athena the rows are emulated: each query's answer is queued beforehand as the hand-computed
expected rows of `tests/fixture_lake.py`, written in Athena's text form. What the Athena half
checks is therefore the engine's side of the contract (reading Athena's texts back into typed
values, its header row, paging through `NextToken`, its stats), not the SQL's meaning, which the
DuckDB half and the Trino grammar tests cover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest

import fixture_lake as lake
from query_events import body, policy_document, query_event
from serving_layer.answers import json_rows
from serving_layer.compiler import CompiledQuery, DateRange, Scope, compile_query
from serving_layer.endpoints import ENDPOINTS
from serving_layer.engines import Engine, QueryResult
from serving_layer.handlers.query import handler

PYTHON_TYPES: dict[str, type] = {
    "bigint": int,
    "integer": int,
    "double": float,
    "boolean": bool,
    "varchar": str,
    "timestamp": datetime,
    "date": date,
}


def python_value(type_: str, value: Any) -> Any:
    """A hand-written JSON expectation back as the Python value an engine should answer."""
    if value is None:
        return None
    if type_ == "timestamp":
        return datetime.fromisoformat(value.removesuffix("Z"))
    if type_ == "date":
        return date.fromisoformat(value)
    return value


@dataclass
class EngineCase:
    """An engine under contract, and how its next answer is arranged when it is emulated."""

    name: str
    engine: Engine
    emulator: Any = None

    def execute(
        self,
        query: CompiledQuery,
        expected: Sequence[Sequence[Any]],
        *,
        page_size: int,
        page: str | None = None,
    ) -> QueryResult:
        self.arrange(query, expected, page)
        return self.engine.execute(query, page_size=page_size, page=page)

    def arrange(
        self, query: CompiledQuery, expected: Sequence[Sequence[Any]], page: str | None = None
    ) -> None:
        # Athena is emulated: its first page answers the rows queued here (see module doc).
        if self.emulator is not None and page is None:
            types = [f.type for f in query.columns]
            rows = [
                [python_value(t, v) for t, v in zip(types, row, strict=True)] for row in expected
            ]
            self.emulator.queue([(f.name, f.type) for f in query.columns], rows)


@pytest.fixture(params=["duckdb", "athena"])
def case(request: pytest.FixtureRequest) -> EngineCase:
    if request.param == "duckdb":
        return EngineCase("duckdb", request.getfixturevalue("fixture_engine"))

    emulator_module = pytest.importorskip(
        "athena_emulator", reason="tests/athena_emulator.py (moto-backed Athena) is not present"
    )
    emulator = emulator_module.AthenaEmulator(request.getfixturevalue("moto_server"))
    return EngineCase("athena", emulator.engine(reuse_minutes=0), emulator)


def query(name: str, bounds: tuple[str, str] = lake.RANGE, **kw: Any) -> CompiledQuery:
    return compile_query(name, DateRange.parse(*bounds), Scope.all(), **kw)


@pytest.mark.parametrize("name", ENDPOINTS)
def test_values_come_back_typed(case: EngineCase, name: str) -> None:
    # GIVEN an endpoint's query over the main range
    compiled = query(name)
    expected = lake.EXPECTED[name]

    # WHEN the engine answers it
    result = case.execute(compiled, expected, page_size=100)

    # THEN the columns are the spec's, each value has its type's Python class, and the values
    # render to the hand-computed answer
    assert result.columns == [(f.name, f.type) for f in ENDPOINTS[name].fields]
    for row in result.rows:
        for (column, type_), value in zip(result.columns, row, strict=True):
            if value is not None:
                assert type(value) is PYTHON_TYPES[type_], (column, value)
    assert json_rows(result.rows) == expected
    assert result.next_page is None


@pytest.mark.parametrize("name", ENDPOINTS)
def test_an_empty_range_answers_zeros_or_nothing(case: EngineCase, name: str) -> None:
    # GIVEN a range without trackcodes
    compiled = query(name, lake.EMPTY_RANGE)

    # WHEN the engine answers
    result = case.execute(compiled, lake.EXPECTED_EMPTY[name], page_size=10)

    # THEN count endpoints answer one row of zeros, the others none, and no next page
    assert json_rows(result.rows) == lake.EXPECTED_EMPTY[name]
    assert result.next_page is None
    assert result.stats.rows == len(lake.EXPECTED_EMPTY[name])


@pytest.mark.parametrize("page_size", [1, 3, 4, 8])
def test_page_tokens_walk_every_row_once(case: EngineCase, page_size: int) -> None:
    # GIVEN the 8 in-range trackcodes
    compiled = query("all_orders_by_range", fields=["trackcode_id", "creation"])
    expected = [[row[0], row[1]] for row in lake.ALL_ORDERS]

    # WHEN the engine is paged through with its own tokens
    seen: list[list[Any]] = []
    pages = 0
    page: str | None = None
    while True:
        result = case.execute(compiled, expected, page_size=page_size, page=page)
        pages += 1
        assert len(result.rows) <= page_size
        seen += json_rows(result.rows)
        if result.next_page is None:
            break
        assert isinstance(result.next_page, str)
        page = result.next_page
        assert pages < 20

    # THEN every row comes once, in order, in full pages but the last
    assert seen == expected
    assert pages == -(-len(expected) // page_size)


def test_stats_describe_the_query(case: EngineCase) -> None:
    # GIVEN a grouped query
    compiled = query("count_trackcode_by_range")

    # WHEN it runs
    result = case.execute(compiled, lake.TRACKCODES_PER_DAY, page_size=100)

    # THEN the stats name the engine and count the rows; bytes and ids are typed when present
    stats = result.stats
    assert stats.engine == case.name
    assert stats.rows == 3
    assert isinstance(stats.engine_ms, float) and stats.engine_ms >= 0
    assert stats.scanned_bytes is None or (
        isinstance(stats.scanned_bytes, int) and stats.scanned_bytes >= 0
    )
    assert stats.query_id is None or isinstance(stats.query_id, str)
    assert set(stats.as_dict()) == {"engine", "rows", "scanned_bytes", "engine_ms", "query_id"}


def test_the_api_answers_the_same_through_every_engine(case: EngineCase, query_api: Any) -> None:
    # GIVEN a caller with masks, asking a field subset, through the handler on this engine
    policy = policy_document(
        endpoints={
            "all_orders_by_range": {
                "masks": {
                    "drop_address": "partial",
                    "business_name": "hash",
                    "crossdocking": "redact",
                }
            }
        }
    )
    fields = "trackcode_id,creation,crossdocking,drop_address,business_name"
    compiled = query(
        "all_orders_by_range",
        fields=["trackcode_id", "creation", "crossdocking", "drop_address", "business_name"],
    )
    case.arrange(compiled, [[r[0], r[1], r[2], r[4], r[10]] for r in lake.ALL_ORDERS[:3]])
    query_api.use_engine(case.engine)

    # WHEN the first three rows are asked
    params = {"start": lake.RANGE[0], "end": lake.RANGE[1], "fields": fields, "limit": "3"}
    answer = body(handler(query_event("all_orders_by_range", params, policy), None))

    # THEN the masked answer is the one DuckDB gives for the same request (hand-checked here)
    assert answer["columns"] == [
        {"name": "trackcode_id", "type": "bigint"},
        {"name": "creation", "type": "timestamp"},
        {"name": "crossdocking", "type": "boolean"},
        {"name": "drop_address", "type": "varchar"},
        {"name": "business_name", "type": "varchar"},
    ]
    rows = answer["rows"]
    assert [r[:3] for r in rows] == [
        [1001, "2025-03-01T00:00:00Z", None],
        [1002, "2025-03-01T09:30:00Z", None],
        [1003, "2025-03-01T12:00:00Z", None],
    ]
    assert [r[3] for r in rows] == ["*" * 19 + "0-40"] * 3  # 23 characters, last 4 kept
    assert rows[0][4] == rows[2][4] != rows[1][4]  # 1001, 1003: client 101; 1002: client 102
    assert answer["stats"]["engine"] == case.name
    assert answer["stats"]["rows"] == 3
