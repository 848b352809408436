"""Every endpoint on DuckDB over the hand-made fixture lake, against answers worked out by hand.

The expected rows live in `tests/fixture_lake.py` with their arithmetic. Here the compiler and
the DuckDB engine run directly (no API), and values are compared as the API renders them.
"""

from __future__ import annotations

from typing import Any

import pytest

import fixture_lake as lake
from serving_layer.answers import json_rows
from serving_layer.compiler import DateRange, Scope, compile_query
from serving_layer.endpoints import ENDPOINTS

SCOPES = {
    "all": (Scope.all(), lake.EXPECTED),
    "101": (Scope.of([101]), lake.EXPECTED_SCOPE_101),
    "102+103": (Scope.of([102, 103]), lake.EXPECTED_SCOPE_102_103),
}


def run(engine: Any, name: str, bounds: tuple[str, str], scope: Scope, **kw: Any) -> Any:
    query = compile_query(name, DateRange.parse(*bounds), scope, **kw)
    return engine.execute(query, page_size=100)


@pytest.mark.parametrize("scope_name", SCOPES)
@pytest.mark.parametrize("name", ENDPOINTS)
def test_every_endpoint_answers_the_hand_computed_rows(
    fixture_engine: Any, name: str, scope_name: str
) -> None:
    # GIVEN the fixture lake and a scope
    scope, expected = SCOPES[scope_name]

    # WHEN the endpoint runs over the main range
    result = run(fixture_engine, name, lake.RANGE, scope)

    # THEN the rows are exactly the ones worked out by hand, in order
    assert json_rows(result.rows) == expected[name]
    assert result.next_page is None
    assert result.stats.rows == len(expected[name])


@pytest.mark.parametrize("name", ENDPOINTS)
def test_an_empty_range_answers_zeros_or_no_rows(fixture_engine: Any, name: str) -> None:
    # GIVEN a range without trackcodes
    # WHEN the endpoint runs
    result = run(fixture_engine, name, lake.EMPTY_RANGE, Scope.all())

    # THEN count endpoints answer one row of zeros and the others no rows
    assert json_rows(result.rows) == lake.EXPECTED_EMPTY[name]


def test_a_trackcode_at_start_is_in_and_one_at_end_is_out(fixture_engine: Any) -> None:
    # GIVEN trackcode 1001 at 2025-03-01T00:00 and 1009 at 2025-03-04T00:00
    # WHEN all orders of [2025-03-01, 2025-03-04) are asked for
    result = run(fixture_engine, "all_orders_by_range", lake.RANGE, Scope.all())
    ids = [row[0] for row in result.rows]

    # THEN the start is included and the end excluded (1000 and 1010 lie outside too)
    assert ids[0] == 1001
    assert 1009 not in ids
    assert ids == [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008]


def test_a_range_ending_a_second_after_1009_includes_it(fixture_engine: Any) -> None:
    # GIVEN a range whose end is just past trackcode 1009's creation
    bounds = ("2025-03-03T23:59:59Z", "2025-03-04T00:00:01Z")

    # WHEN all orders are asked for
    result = run(fixture_engine, "all_orders_by_range", bounds, Scope.all())

    # THEN 1008 (23:59:59.5) and 1009 (00:00:00) are in range
    assert [row[0] for row in result.rows] == [1008, 1009]


def test_a_field_subset_answers_those_columns_in_spec_order(fixture_engine: Any) -> None:
    # GIVEN fields asked in another order than the spec's
    # WHEN the query runs
    result = run(
        fixture_engine,
        "most_required_service_by_range",
        lake.RANGE,
        Scope.all(),
        fields=["trackcodes", "service_name"],
    )

    # THEN the columns follow the spec and the rows hold only those fields
    assert result.columns == [("service_name", "varchar"), ("trackcodes", "bigint")]
    assert json_rows(result.rows) == [["standard", 4], ["express", 3], [None, 1]]


def test_an_offset_time_is_read_as_its_utc_instant(fixture_engine: Any) -> None:
    # GIVEN 2025-03-01T07:00-05:00, which is 12:00 UTC, the creation of trackcode 1003
    bounds = ("2025-03-01T07:00:00-05:00", "2025-03-01T12:00:01Z")

    # WHEN all orders are asked for
    result = run(fixture_engine, "all_orders_by_range", bounds, Scope.all())

    # THEN only 1003 is in range
    assert [row[0] for row in result.rows] == [1003]
