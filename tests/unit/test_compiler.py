"""The compiler's contract: typed errors for bad input, parameters for every value."""

from __future__ import annotations

from datetime import datetime

import pytest

from serving_layer.compiler import DateRange, Scope, compile_query, parse_instant
from serving_layer.errors import (
    InvalidRangeError,
    InvalidScopeError,
    UnknownEndpointError,
    UnknownFieldError,
)

JANUARY = DateRange(datetime(2025, 1, 1), datetime(2025, 2, 1))


def test_dates_and_datetimes_parse_as_naive_utc() -> None:
    assert parse_instant("start", "2025-03-01") == datetime(2025, 3, 1)
    assert parse_instant("start", "2025-03-01T08:30:00Z") == datetime(2025, 3, 1, 8, 30)
    assert parse_instant("start", "2025-03-01T08:30:00-05:00") == datetime(2025, 3, 1, 13, 30)
    assert parse_instant("start", "2025-03-01T08:30:00") == datetime(2025, 3, 1, 8, 30)


@pytest.mark.parametrize("text", ["", "yesterday", "2025-13-01", "2025-02-30", "01/02/2025"])
def test_an_unparseable_date_names_the_value_and_the_expected_form(text: str) -> None:
    with pytest.raises(InvalidRangeError) as caught:
        parse_instant("end", text)

    assert repr(text) in caught.value.detail
    assert "`end` must be an ISO 8601 date" in caught.value.detail
    assert caught.value.status == 400


@pytest.mark.parametrize("end", ["2025-01-01", "2024-12-31"])
def test_end_must_be_after_start(end: str) -> None:
    with pytest.raises(InvalidRangeError, match="`end` must be after `start`"):
        DateRange.parse("2025-01-01", end)


def test_an_empty_scope_is_refused_and_says_what_would_be_right() -> None:
    with pytest.raises(InvalidScopeError, match="at least one client id, or 'all'"):
        Scope.of([])


def test_an_unknown_endpoint_lists_the_known_ones() -> None:
    with pytest.raises(UnknownEndpointError) as caught:
        compile_query("all_orders", JANUARY, Scope.all())

    assert "'all_orders'" in caught.value.detail
    assert "all_orders_by_range" in caught.value.detail
    assert caught.value.status == 404


def test_an_unknown_field_lists_the_fields_of_the_endpoint() -> None:
    with pytest.raises(UnknownFieldError) as caught:
        compile_query("count_orders_by_range", JANUARY, Scope.all(), ["orders", "money"])

    assert "'money'" in caught.value.detail
    assert "the fields are: orders" in caught.value.detail


def test_range_scope_and_paging_are_parameters_in_order() -> None:
    query = compile_query(
        "count_trackcode_by_range", JANUARY, Scope.of([7, 3]), limit=10, offset=20
    )

    assert query.params == (datetime(2025, 1, 1), datetime(2025, 2, 1), 3, 7, 20, 10)
    assert query.sql.count("?") == len(query.params)
    assert "t.client_id IN (?, ?)" in query.sql
    assert query.sql.endswith("OFFSET ? LIMIT ?")


def test_a_scope_of_all_has_no_client_filter() -> None:
    query = compile_query("count_orders_by_range", JANUARY, Scope.all())

    assert "client_id" not in query.sql
    assert query.params == (datetime(2025, 1, 1), datetime(2025, 2, 1))


def test_fields_come_back_in_the_spec_order_once_each() -> None:
    query = compile_query(
        "count_delivered_trackcode_before_promise_time_by_range",
        JANUARY,
        Scope.all(),
        ["delivered_on_time", "orders", "orders"],
    )

    assert [f.name for f in query.columns] == ["orders", "delivered_on_time"]
    assert 'AS "delivered"' not in query.sql
