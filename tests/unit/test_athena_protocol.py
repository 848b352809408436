"""The Athena engine over real HTTP against moto's emulated Athena on 127.0.0.1.

Real: boto3, botocore, HTTP, and moto's Athena API with its record of each execution.
Emulated (see `athena_emulator`): moto runs no SQL, so each test queues the rows its query
answers; moto answers all rows at once, so paging by `MaxResults` / `NextToken` is done on the
client side as Athena does it; moto reports zero bytes scanned and zero engine time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from athena_emulator import AthenaEmulator, column_info, emulated_engine, header_row, text_row
from serving_layer.compiler import CompiledQuery, DateRange, Scope, compile_query
from serving_layer.endpoints import Field, endpoint
from serving_layer.errors import EngineTimeoutError

COUNT_QUERY = compile_query(
    "count_trackcode_by_range", DateRange.parse("2025-03-01", "2025-03-08"), Scope.of([3, 1])
)
COUNT_COLUMNS = [("date", "date"), ("trackcodes", "bigint")]


@pytest.fixture
def emulator(moto_server: str) -> AthenaEmulator:
    return AthenaEmulator(moto_server)


@pytest.fixture
def results_calls(emulator: AthenaEmulator) -> Iterator[list[dict[str, Any]]]:
    """The parameters of every GetQueryResults call the engine makes."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    emulator.client.meta.events.register(
        "before-parameter-build.athena.GetQueryResults", record, unique_id="record-results"
    )
    yield calls


def test_the_sql_goes_unchanged_and_the_values_as_execution_parameters(
    emulator: AthenaEmulator,
) -> None:
    """Emulated: the rows (one queued count). Real: what moto records of the started query."""
    # GIVEN a compiled count for two clients over a week
    emulator.queue(COUNT_COLUMNS, [[date(2025, 3, 1), 5]])

    # WHEN it runs on the engine
    emulator.engine(database="lake", catalog="AwsDataCatalog").execute(COUNT_QUERY, page_size=10)

    # THEN Athena received the SQL text as compiled (behind the values' digest line that keeps
    # reused results apart), and each value as a Trino literal in order
    [execution] = emulator.executions()
    digest_line, sql = execution["Query"].split("\n", 1)
    assert sql == COUNT_QUERY.sql
    assert digest_line.startswith("-- values ")
    assert execution["ExecutionParameters"] == [
        "TIMESTAMP '2025-03-01 00:00:00.000000'",
        "TIMESTAMP '2025-03-08 00:00:00.000000'",
        "1",
        "3",
    ]
    assert execution["WorkGroup"] == emulator.workgroup
    assert execution["QueryExecutionContext"] == {"Database": "lake", "Catalog": "AwsDataCatalog"}


def test_pages_continue_one_execution_and_skip_only_the_first_header(
    emulator: AthenaEmulator, results_calls: list[dict[str, Any]]
) -> None:
    """Emulated: the seven rows, and Athena's paging of them. Real: the calls over HTTP."""
    # GIVEN a query that answers seven days
    days = [[date(2025, 3, day), day * 10] for day in range(1, 8)]
    emulator.queue(COUNT_COLUMNS, days)
    engine = emulator.engine()

    # WHEN it is read three rows at a time, following each page token
    pages = [engine.execute(COUNT_QUERY, page_size=3)]
    while pages[-1].next_page:
        pages.append(engine.execute(COUNT_QUERY, page_size=3, page=pages[-1].next_page))

    # THEN the pages hold 3, 3 and 1 rows, all the days in order, and the last has no token
    assert [len(page.rows) for page in pages] == [3, 3, 1]
    assert [row for page in pages for row in page.rows] == days
    assert pages[-1].next_page is None

    # AND the first call asked for one row more (the header), the others read on by token
    assert [(call["MaxResults"], call.get("NextToken")) for call in results_calls] == [
        (4, None),
        (3, "emulated-offset-4"),
        (3, "emulated-offset-7"),
    ]

    # AND the query ran once, and every page names that one execution
    [execution] = emulator.executions()
    assert {page.stats.query_id for page in pages} == {execution["QueryExecutionId"]}


def test_every_type_is_typed_from_the_column_metadata(emulator: AthenaEmulator) -> None:
    """Emulated: the rows, written by hand as Athena's text; the metadata as Athena gives it."""
    # GIVEN a query with a column of every type, answering one full row and one of NULLs
    types = [
        ("name", "varchar"),
        ("currency", "char(3)"),
        ("tiny", "tinyint"),
        ("small", "smallint"),
        ("city_id", "integer"),
        ("trackcode_id", "bigint"),
        ("distance", "double"),
        ("ratio", "real"),
        ("price", "decimal(10,2)"),
        ("crossdocking", "boolean"),
        ("day", "date"),
        ("creation", "timestamp"),
        ("service_ids", "array(integer)"),
    ]
    query = CompiledQuery(
        "all_orders_by_range",
        "SELECT 1",
        (),
        tuple(Field(name, name, type_) for name, type_ in types),
    )
    texts = [
        "Envíos 'Rápidos' \\ Ltda",
        "COP",
        "-5",
        "300",
        "11001",
        "9007199254740993",
        "12.75",
        "0.5",
        "1234.50",
        "true",
        "2025-01-02",
        "2025-01-02 03:04:05.123000",
        "[1, 2, 3]",
    ]
    emulator.queue_raw(
        [column_info(name, type_) for name, type_ in types],
        [header_row([n for n, _ in types]), text_row(texts), text_row([None] * len(types))],
    )

    # WHEN it runs
    result = emulator.engine().execute(query, page_size=10)

    # THEN each text is the Python value of its type, and NULLs are None
    assert result.rows == [
        [
            "Envíos 'Rápidos' \\ Ltda",
            "COP",
            -5,
            300,
            11001,
            9007199254740993,
            12.75,
            0.5,
            Decimal("1234.50"),
            True,
            date(2025, 1, 2),
            datetime(2025, 1, 2, 3, 4, 5, 123000),
            [1, 2, 3],
        ],
        [None] * len(types),
    ]
    assert [type(value) for value in result.rows[0]] == [
        str, str, int, int, int, int, float, float, Decimal, bool, date, datetime, list,
    ]  # fmt: skip
    assert result.columns == types


def test_stats_name_the_execution_and_one_info_line_tells_its_cost(
    emulator: AthenaEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Emulated: the rows, and the statistics (moto reports nothing scanned, no engine time)."""
    emulator.queue(COUNT_COLUMNS, [[date(2025, 3, 1), 5], [date(2025, 3, 2), 6]])

    with caplog.at_level(logging.INFO, logger="serving_layer.engines.athena"):
        result = emulator.engine().execute(COUNT_QUERY, page_size=10)

    [execution] = emulator.executions()
    assert result.stats.as_dict() == {
        "engine": "athena",
        "rows": 2,
        "scanned_bytes": 0,
        "engine_ms": 0.0,
        "query_id": execution["QueryExecutionId"],
    }
    assert result.extra == {"reused": False}
    [line] = [r.getMessage() for r in caplog.records if r.name == "serving_layer.engines.athena"]
    for part in (
        "endpoint=count_trackcode_by_range",
        "engine=athena",
        "rows=2",
        "scanned_bytes=0",
        f"query_id={execution['QueryExecutionId']}",
        "reused=False",
        " ms=",
    ):
        assert part in line


def test_the_engine_polls_until_athena_reports_success(emulator: AthenaEmulator) -> None:
    """Emulated: the rows. Real: moto's QUEUED → RUNNING → SUCCEEDED, one step per check."""
    checks: list[str] = []
    emulator.client.meta.events.register(
        "after-call.athena.GetQueryExecution",
        lambda parsed, **_: checks.append(parsed["QueryExecution"]["Status"]["State"]),
    )
    emulator.queue(COUNT_COLUMNS, [[date(2025, 3, 1), 5]])

    with emulator.executions_take_polls(1):
        result = emulator.engine().execute(COUNT_QUERY, page_size=10)

    assert checks == ["RUNNING", "SUCCEEDED"]
    assert result.rows == [[date(2025, 3, 1), 5]]


def test_a_query_past_its_deadline_is_stopped_on_athena(emulator: AthenaEmulator) -> None:
    """Real: moto keeps the query RUNNING, records the stop and reports it CANCELLED."""
    emulator.queue(COUNT_COLUMNS, [])

    with emulator.executions_take_polls(1000), pytest.raises(EngineTimeoutError) as raised:
        emulator.engine(deadline_seconds=0.3).execute(COUNT_QUERY, page_size=10)

    [execution] = emulator.executions()
    assert raised.value.extensions == {"query_id": execution["QueryExecutionId"]}
    assert execution["Status"]["State"] == "CANCELLED"


def test_the_emulated_engine_answers_python_rows_as_given(moto_server: str) -> None:
    """Emulated: the rows, written as Athena's text by the emulator, read back by the engine.

    This is the helper the engine contract suite builds its Athena engine with.
    """
    # GIVEN the rows of an endpoint with timestamps, doubles, NULLs and text with quotes
    spec = endpoint("all_orders_by_range")
    rows = [
        [
            9001, datetime(2025, 3, 1, 8, 30, 0, 250000), True, "Cra 7 # 1-2", "Cl 'B' 3",
            "caja", 10.5, None, "express", 7, "Logística S.A.S.", "Logi", "Bogotá",
        ],
        [9002, datetime(2025, 3, 1, 9, 0), False, "", None, None, 0.0, 2.25, None, 7,
         None, None, None],
    ]  # fmt: skip
    engine = emulated_engine(moto_server, [(f.name, f.type) for f in spec.fields], rows)

    # WHEN the compiled endpoint runs on it
    query = compile_query(spec, DateRange.parse("2025-03-01", "2025-03-02"), Scope.of([7]))
    result = engine.execute(query, page_size=10)

    # THEN the same rows come back, typed
    assert result.rows == rows
    assert result.next_page is None
