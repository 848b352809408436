"""No answer ever leaks: rows outside the scope, fields outside the grant, or unmasked values.

Random policies (scope subsets, field grants, masks) and random requests go through the query
handler against the fixture lake. Every check is made against the fixture's own literal data
(`TRACKCODES`, `TRACKCODE_CLIENT`, `ROWS_BY_TABLE`), never against what the engine answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fixture_lake as lake
from query_events import body, policy_document, query_event
from serving_layer import query_api
from serving_layer.answers import json_value
from serving_layer.endpoints import ENDPOINTS
from serving_layer.handlers.query import handler

CLIENT_IDS = sorted({row["client_id"] for row in lake.TRACKCODES})  # 101, 102, 103
WIDE_RANGE = ("2025-02-20", "2025-03-10")  # every trackcode of the lake

# Every value the lake holds, as the API would render it: a masked answer must match none.
RAW_VALUES = {
    json_value(value)
    for rows in lake.ROWS_BY_TABLE.values()
    for row in rows
    for value in row.values()
    if value is not None and not isinstance(value, list)
} | {"Bogota", "Medellin", "standard", "express"}


@pytest.fixture(scope="module", autouse=True)
def api_on_fixture_lake(fixture_engine: Any) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SERVING_MASK_KEY", "test-mask-key-0123456789abcdef")
        patch.setenv("SERVING_CURSOR_KEY", "test-cursor-key-0123456789abcdef")
        query_api.use_engine(fixture_engine)
        try:
            yield
        finally:
            query_api.use_engine(None)


@st.composite
def grants(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """A random grant of endpoint `name`: some fields (or all), some of them masked."""
    spec = ENDPOINTS[name]
    names = list(spec.field_names)
    granted = draw(st.one_of(st.just(None), st.lists(st.sampled_from(names), min_size=1)))
    grant: dict[str, Any] = {"max_range_days": 60}
    if granted is not None:
        grant["fields"] = sorted(set(granted))
    maskable = sorted(set(granted) if granted is not None else set(names))
    masks = {}
    for field_name in draw(st.lists(st.sampled_from(maskable), unique=True, max_size=3)):
        kinds = ["redact", "hash"] + (
            ["partial"] if spec.field(field_name).type == "varchar" else []
        )
        masks[field_name] = draw(st.sampled_from(kinds))
    if masks:
        grant["masks"] = masks
    return grant


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], str, dict[str, str]]:
    """A random policy and one request by its client."""
    scope = draw(
        st.one_of(st.just("all"), st.lists(st.sampled_from(CLIENT_IDS), min_size=1, unique=True))
    )
    endpoint = draw(st.sampled_from(sorted(ENDPOINTS)))
    policy = policy_document(scope=scope, endpoints={endpoint: draw(grants(endpoint))})

    start, end = draw(st.sampled_from([lake.RANGE, WIDE_RANGE, ("2025-03-02", "2025-03-03")]))
    parameters = {"start": start, "end": end}
    names = list(ENDPOINTS[endpoint].field_names)
    fields = draw(st.one_of(st.none(), st.lists(st.sampled_from(names), min_size=1, max_size=4)))
    if fields is not None:
        parameters["fields"] = ",".join(fields)
    return policy, endpoint, parameters


def in_scope_trackcodes(scope: Any, start: str, end: str) -> set[int]:
    """From the literal rows: the trackcodes this scope may see in the range."""
    low, high = datetime.fromisoformat(start), datetime.fromisoformat(end)
    return {
        row["id"]
        for row in lake.TRACKCODES
        if low <= row["creation"] < high and (scope == "all" or row["client_id"] in scope)
    }


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_no_row_field_or_value_leaks(case: tuple[dict[str, Any], str, dict[str, str]]) -> None:
    # GIVEN a random policy and a request by its client
    policy, endpoint, parameters = case
    grant = policy["endpoints"][endpoint]
    granted = set(grant.get("fields", ENDPOINTS[endpoint].field_names))
    masks = grant.get("masks", {})
    scope = policy["scope"]

    # WHEN the handler answers
    response = handler(query_event(endpoint, parameters, policy), None)
    answer = body(response)

    # THEN a request for a field outside the grant is refused with nothing in it
    asked = set(parameters["fields"].split(",")) if "fields" in parameters else None
    if asked is not None and not asked <= granted:
        assert response["statusCode"] == 403
        assert "rows" not in answer
        return
    assert response["statusCode"] == 200, answer

    # AND only granted (and, if asked, requested) fields answer
    names = [c["name"] for c in answer["columns"]]
    assert set(names) <= granted
    if asked is not None:
        assert set(names) == asked
    columns = {name: [row[i] for row in answer["rows"]] for i, name in enumerate(names)}

    # AND no masked value is one the lake holds
    for name, mask in masks.items():
        for value in columns.get(name, []):
            if mask == "redact":
                assert value is None
            elif value is not None:
                assert isinstance(value, str)
                assert value not in RAW_VALUES
                if mask == "hash":
                    assert value.startswith("h_") and len(value) == 18
                else:
                    visible = len(value) - len(value.lstrip("*"))
                    assert len(value) - visible <= 4

    # AND no row is outside the scope, by the literal trackcode → client map
    allowed = in_scope_trackcodes(scope, parameters["start"], parameters["end"])
    if "trackcode_id" in columns and "trackcode_id" not in masks:
        for trackcode in columns["trackcode_id"]:
            assert trackcode in allowed
            assert scope == "all" or lake.TRACKCODE_CLIENT[trackcode] in scope
        if endpoint == "all_orders_by_range":
            assert set(columns["trackcode_id"]) == allowed
    if "client_id" in columns and "client_id" not in masks and scope != "all":
        assert set(columns["client_id"]) <= set(scope)
    counts = endpoint in ("count_trackcode_by_range", "most_required_service_by_range")
    if counts and "trackcodes" in columns and "trackcodes" not in masks:
        assert sum(columns["trackcodes"]) == len(allowed)
