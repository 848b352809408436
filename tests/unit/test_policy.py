"""Policy parsing: every mistake is refused with a message naming the wrong thing and the
right choices; a good policy round-trips and opens exactly the routes it grants."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from serving_layer.errors import InvalidPolicyError
from serving_layer.policy import Mask, Operation, Policy, Status

ENDPOINT_LIST = (
    "all_orders_by_range, get_money_from_routes_by_range, "
    "most_visited_location_from_trackcode_by_range, count_trackcode_by_range, "
    "count_orders_by_range, count_trackcode_lost_by_range, most_required_service_by_range, "
    "count_delivered_trackcode_before_promise_time_by_range"
)
ALL_ORDERS_FIELDS = (
    "trackcode_id, creation, crossdocking, pickup_address, drop_address, product_description, "
    "product_price, product_weight, service_name, client_id, business_name, commercial_name, "
    "city_name"
)
TABLE_LIST = "country, city, client, service, product_size, route, trackcode, orders"


def policy(**changes: Any) -> dict[str, Any]:
    """A valid policy document with `changes` applied on top."""
    document: dict[str, Any] = {
        "client": "andes-express",
        "scope": [1, 2],
        "endpoints": {"count_orders_by_range": {}},
        "tables": {},
    }
    document.update(changes)
    return document


def grant(endpoint: str, **body: Any) -> dict[str, Any]:
    return policy(endpoints={endpoint: body})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param([], "a policy is a JSON object", id="not-an-object"),
        pytest.param(
            policy(endpoint={}),
            "policy has unknown keys 'endpoint'; the keys are: client, endpoints, expires_at, "
            "key_id, scope, status, tables",
            id="unknown-top-level-key",
        ),
        pytest.param(policy(client="  "), "`client` must be a non-empty name", id="blank-client"),
        pytest.param(
            policy(endpoints=[]),
            "`endpoints` maps endpoint names to grants",
            id="endpoints-not-an-object",
        ),
        pytest.param(
            grant("all_order_by_range"),
            f"unknown endpoint 'all_order_by_range' in the policy; the endpoints are: "
            f"{ENDPOINT_LIST}",
            id="unknown-endpoint",
        ),
        pytest.param(
            policy(endpoints={"count_orders_by_range": "all"}),
            "the grant of 'count_orders_by_range' must be an object",
            id="grant-not-an-object",
        ),
        pytest.param(
            grant("count_orders_by_range", max_row=5),
            "the grant of 'count_orders_by_range' has unknown keys 'max_row'; the keys are: "
            "fields, masks, max_range_days, max_rows",
            id="unknown-grant-key",
        ),
        pytest.param(
            grant("all_orders_by_range", fields=["trackcode_id", "trackcode"]),
            f"unknown field 'trackcode' of 'all_orders_by_range' in the policy; the fields are: "
            f"{ALL_ORDERS_FIELDS}",
            id="unknown-granted-field",
        ),
        pytest.param(
            grant("all_orders_by_range", masks={"dropaddress": "redact"}),
            f"unknown field 'dropaddress' of 'all_orders_by_range' in the policy; the fields "
            f"are: {ALL_ORDERS_FIELDS}",
            id="unknown-masked-field",
        ),
        pytest.param(
            grant("count_orders_by_range", fields=[]),
            "`fields` of 'count_orders_by_range' must be a non-empty list or \"all\"",
            id="no-fields",
        ),
        pytest.param(
            grant("count_orders_by_range", masks=["orders"]),
            "`masks` of 'count_orders_by_range' maps field names to a mask",
            id="masks-not-an-object",
        ),
        pytest.param(
            grant("all_orders_by_range", fields=["trackcode_id"], masks={"drop_address": "hash"}),
            "field 'drop_address' of 'all_orders_by_range' is masked but not granted",
            id="masked-not-granted",
        ),
        pytest.param(
            grant("all_orders_by_range", masks={"drop_address": "blur"}),
            "the mask of all_orders_by_range.drop_address is 'blur'; it must be one of: "
            "redact, partial, hash",
            id="unknown-mask",
        ),
        pytest.param(
            grant("count_orders_by_range", masks={"orders": "partial"}),
            "the `partial` mask only applies to text; count_orders_by_range.orders is bigint: "
            "use `redact` or `hash`",
            id="partial-on-a-number",
        ),
        pytest.param(
            grant("count_orders_by_range", max_range_days=0),
            "`max_range_days` of 'count_orders_by_range' must be a whole number from 1 to 3660; "
            "got 0",
            id="range-too-short",
        ),
        pytest.param(
            grant("count_orders_by_range", max_rows=True),
            "`max_rows` of 'count_orders_by_range' must be a whole number from 1 to 10000; "
            "got True",
            id="rows-a-boolean",
        ),
        pytest.param(
            grant("count_orders_by_range", max_rows=10_001),
            "`max_rows` of 'count_orders_by_range' must be a whole number from 1 to 10000; "
            "got 10001",
            id="rows-too-many",
        ),
        pytest.param(
            policy(tables={"order": ["read"]}),
            f"unknown table 'order' in the policy; the tables are: {TABLE_LIST}",
            id="unknown-table",
        ),
        pytest.param(
            policy(tables=["orders"]),
            "`tables` maps table names to lists of operations",
            id="tables-not-an-object",
        ),
        pytest.param(
            policy(tables={"orders": "read"}),
            "the operations of table 'orders' must be a list",
            id="operations-not-a-list",
        ),
        pytest.param(
            policy(tables={"orders": ["read", "write"]}),
            "an operation on 'orders' is 'write'; it must be one of: read, insert, upsert, "
            "update, delete",
            id="unknown-operation",
        ),
        pytest.param(
            policy(scope="everyone"),
            '`scope` must be a list of client ids or the word "all"',
            id="scope-word",
        ),
        pytest.param(
            policy(scope=[]),
            "the scope names no client id; give at least one client id, or 'all'",
            id="scope-empty",
        ),
        pytest.param(
            policy(scope=[1, "2"]), "client ids are integers; got '2'", id="scope-text-id"
        ),
        pytest.param(
            policy(status="paused"),
            "status is 'paused'; it must be one of: active, suspended, revoked",
            id="unknown-status",
        ),
        pytest.param(
            policy(expires_at=20270101),
            "`expires_at` must be an ISO 8601 date-time or null",
            id="expiry-a-number",
        ),
        pytest.param(
            policy(expires_at="next year"),
            "`expires_at` must be an ISO 8601 date or date-time in UTC, such as 2025-03-01 or "
            "2025-03-01T08:30:00Z; got 'next year'",
            id="expiry-words",
        ),
    ],
)
def test_a_wrong_policy_is_refused_naming_what_is_wrong(document: Any, message: str) -> None:
    # GIVEN a policy document with one mistake WHEN it is parsed
    with pytest.raises(InvalidPolicyError) as raised:
        Policy.from_dict(document)

    # THEN the message names the mistake and the valid choices, as a 400 problem
    assert raised.value.detail == message
    assert raised.value.status == 400


def test_text_that_is_not_json_is_refused() -> None:
    with pytest.raises(InvalidPolicyError) as raised:
        Policy.from_json("{'client': 'andes'}")

    assert raised.value.detail == "the policy is not valid JSON"


def test_a_full_policy_parses_into_its_parts() -> None:
    # GIVEN a policy using every kind of grant
    document = {
        "client": " andes-express ",
        "status": "active",
        "expires_at": "2027-06-30T02:00:00+02:00",
        "scope": [3, 1],
        "endpoints": {
            "all_orders_by_range": {
                "fields": ["trackcode_id", "drop_address", "business_name", "product_price"],
                "masks": {"drop_address": "partial", "business_name": "hash"},
                "max_range_days": 7,
                "max_rows": 50,
            },
            "count_orders_by_range": {},
        },
        "tables": {"orders": ["insert", "read"]},
    }

    # WHEN it is parsed
    parsed = Policy.from_dict(document)

    # THEN each part is what the document says, the expiry in naive UTC
    assert parsed.client == "andes-express"
    assert parsed.scope.client_ids == frozenset({1, 3})
    assert parsed.expires_at == datetime(2027, 6, 30, 0, 0, 0)
    orders = parsed.grant("all_orders_by_range")
    assert orders is not None
    assert orders.granted_fields == (
        "trackcode_id",
        "drop_address",
        "product_price",
        "business_name",
    )
    assert orders.masks == {"drop_address": Mask.PARTIAL, "business_name": Mask.HASH}
    assert (orders.max_range_days, orders.max_rows) == (7, 50)
    counts = parsed.grant("count_orders_by_range")
    assert counts is not None
    assert (counts.fields, counts.max_range_days, counts.max_rows) == (None, 31, 1000)
    assert parsed.may("orders", Operation.INSERT)
    assert not parsed.may("orders", Operation.DELETE)
    assert not parsed.may("trackcode", Operation.READ)


def test_a_policy_survives_a_round_trip_through_json() -> None:
    original = Policy.from_dict(
        policy(
            endpoints={
                "all_orders_by_range": {
                    "fields": ["drop_address"],
                    "masks": {"drop_address": "redact"},
                }
            },
            tables={"trackcode": ["upsert"]},
            expires_at="2027-01-01",
            key_id="0123abcd",
        )
    )

    assert Policy.from_json(original.to_json()) == original


def test_the_routes_are_exactly_the_granted_ones() -> None:
    # GIVEN two endpoints, read and delete on orders, insert on trackcode
    parsed = Policy.from_dict(
        policy(
            endpoints={"count_orders_by_range": {}, "all_orders_by_range": {}},
            tables={"orders": ["delete", "read"], "trackcode": ["insert"]},
        )
    )

    # WHEN its routes are listed THEN they are these, worked out from the route table
    assert parsed.routes() == [
        ("GET", "/v1/me"),
        ("GET", "/v1/queries/all_orders_by_range"),
        ("GET", "/v1/queries/count_orders_by_range"),
        ("DELETE", "/v1/tables/orders/rows/*"),
        ("GET", "/v1/tables/orders/rows/*"),
        ("GET", "/v1/tables/orders/snapshots"),
        ("POST", "/v1/tables/trackcode/rows"),
    ]


@pytest.mark.parametrize(
    ("changes", "now", "expected"),
    [
        ({}, datetime(2030, 1, 1), (True, "active")),
        (
            {"expires_at": "2026-01-01T00:00:00Z"},
            datetime(2025, 12, 31, 23, 59, 59),
            (True, "active"),
        ),
        ({"expires_at": "2026-01-01T00:00:00Z"}, datetime(2026, 1, 1), (False, "expired")),
        ({"status": "suspended"}, datetime(2025, 1, 1), (False, "suspended")),
        (
            {"status": "revoked", "expires_at": "2020-01-01"},
            datetime(2025, 1, 1),
            (False, "revoked"),
        ),
    ],
)
def test_usability_follows_status_then_expiry(
    changes: dict[str, Any], now: datetime, expected: tuple[bool, str]
) -> None:
    assert Policy.from_dict(policy(**changes)).is_usable(now) == expected


def test_status_names_are_the_documented_ones() -> None:
    assert [s.value for s in Status] == ["active", "suspended", "revoked"]
