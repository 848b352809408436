"""The query Lambda invoked in-process with real payload-2.0 events from `events/query/`.

The engine is DuckDB over the hand-made fixture lake; the expected rows are the hand-computed
ones of `tests/fixture_lake.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

import fixture_lake as lake
from query_events import body, event, policy_document, query_event, set_policy
from serving_layer.endpoints import ENDPOINTS
from serving_layer.handlers.query import handler

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}


def ask(endpoint: str, policy: dict[str, Any] | None = None, **parameters: str) -> Any:
    params = {"start": lake.RANGE[0], "end": lake.RANGE[1], **parameters}
    params = {k: v for k, v in params.items() if v is not None}
    return handler(query_event(endpoint, params, policy or policy_document()), None)


def assert_problem(response: dict[str, Any], status: int, *words: str) -> dict[str, Any]:
    assert response["statusCode"] == status, response["body"]
    assert response["headers"]["Content-Type"] == "application/problem+json"
    problem = body(response)
    assert set(problem) >= PROBLEM_KEYS
    assert problem["status"] == status
    assert problem["type"].startswith("https://")
    for word in words:
        assert word in problem["detail"]
    # No SQL or engine text ever reaches a client.
    for leak in ("SELECT", "FROM ", "Traceback", "duckdb", "iceberg_scan"):
        assert leak not in response["body"]
    return problem


# --- answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
def test_every_endpoint_answers_its_hand_computed_rows(query_api: Any, name: str) -> None:
    # GIVEN a caller granted everything over every client
    # WHEN it asks for the endpoint over the main range
    response = ask(name)

    # THEN the answer holds the hand-computed rows, the spec's columns and the stats
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    answer = body(response)
    assert answer["endpoint"] == name
    assert answer["rows"] == lake.EXPECTED[name]
    assert [c["name"] for c in answer["columns"]] == list(ENDPOINTS[name].field_names)
    assert [c["type"] for c in answer["columns"]] == [f.type for f in ENDPOINTS[name].fields]
    assert answer["next_cursor"] is None
    stats = answer["stats"]
    assert stats["engine"] == "duckdb"
    assert stats["rows"] == len(lake.EXPECTED[name])
    assert set(stats) == {"engine", "rows", "scanned_bytes", "engine_ms", "total_ms", "query_id"}
    assert stats["total_ms"] >= stats["engine_ms"] >= 0


@pytest.mark.parametrize("name", ENDPOINTS)
def test_scope_filters_rows_through_the_handler(query_api: Any, name: str) -> None:
    # GIVEN a caller whose scope is client 101
    # WHEN it asks for the endpoint
    response = ask(name, policy_document(scope=[101]))

    # THEN only client 101's trackcodes count
    assert body(response)["rows"] == lake.EXPECTED_SCOPE_101[name]


@pytest.mark.parametrize("name", ENDPOINTS)
def test_an_empty_range_through_the_handler(query_api: Any, name: str) -> None:
    # GIVEN a range without trackcodes
    # WHEN the endpoint is asked
    response = ask(name, start=lake.EMPTY_RANGE[0], end=lake.EMPTY_RANGE[1])

    # THEN counts answer zeros and the others no rows
    assert body(response)["rows"] == lake.EXPECTED_EMPTY[name]


def test_fields_select_and_order_the_columns(query_api: Any) -> None:
    # GIVEN fields asked out of the spec's order, with spaces and a repeat
    # WHEN the query runs
    response = ask("all_orders_by_range", fields="city_name, trackcode_id,city_name", limit="3")

    # THEN the answer has those two columns in the spec's order
    answer = body(response)
    assert answer["columns"] == [
        {"name": "trackcode_id", "type": "bigint"},
        {"name": "city_name", "type": "varchar"},
    ]
    assert answer["rows"] == [[1001, "Bogota"], [1002, "Medellin"], [1003, "Bogota"]]


def test_without_fields_only_granted_fields_answer(query_api: Any) -> None:
    # GIVEN a grant of three fields
    policy = policy_document(
        endpoints={"all_orders_by_range": {"fields": ["client_id", "trackcode_id", "creation"]}}
    )

    # WHEN no `fields` is given
    answer = body(ask("all_orders_by_range", policy, limit="1"))

    # THEN exactly the granted fields answer, in the spec's order
    assert [c["name"] for c in answer["columns"]] == ["trackcode_id", "creation", "client_id"]
    assert answer["rows"] == [[1001, "2025-03-01T00:00:00Z", 101]]


def test_masks_apply_after_the_engine(query_api: Any) -> None:
    # GIVEN a grant masking three fields three ways
    policy = policy_document(
        endpoints={
            "all_orders_by_range": {
                "fields": ["trackcode_id", "drop_address", "business_name", "product_price"],
                "masks": {
                    "drop_address": "partial",
                    "business_name": "hash",
                    "product_price": "redact",
                },
            }
        }
    )

    # WHEN the caller asks twice
    first = body(ask("all_orders_by_range", policy))
    second = body(ask("all_orders_by_range", policy))

    # THEN partial keeps the last 4 of 23 characters, hash is a stable pseudonym, redact is null
    assert first["columns"] == [
        {"name": "trackcode_id", "type": "bigint"},
        {"name": "drop_address", "type": "varchar"},
        {"name": "product_price", "type": "double"},
        {"name": "business_name", "type": "varchar"},
    ]
    trackcode, drop, price, business = first["rows"][0]
    assert trackcode == 1001
    assert drop == "*" * 19 + "0-40"  # "Drop avenue 1001 #30-40" is 23 characters
    assert price is None
    assert business.startswith("h_") and len(business) == 18
    assert first["rows"] == second["rows"]
    # 1001 and 1003 share client 101's business name, hence its pseudonym; 1002 is client 102.
    assert first["rows"][2][3] == business
    assert first["rows"][1][3] != business


def test_me_lists_the_callers_grants(query_api: Any) -> None:
    # GIVEN a caller with one endpoint, a mask and a table grant
    policy = policy_document(
        scope=[102, 101],
        endpoints={
            "count_orders_by_range": {"max_range_days": 7, "max_rows": 1},
            "all_orders_by_range": {
                "fields": ["trackcode_id", "drop_address"],
                "masks": {"drop_address": "partial"},
            },
        },
        tables={"trackcode": ["read", "insert"]},
    )

    # WHEN it asks /v1/me
    response = handler(set_policy(event("get_me.json"), policy, key_id="sk_me000001"), None)

    # THEN it sees its client, key id, scope, grants with fields spelled out, and tables
    assert response["statusCode"] == 200
    me = body(response)
    assert me["client"] == "test-client"
    assert me["key_id"] == "sk_me000001"
    assert me["scope"] == [101, 102]
    assert me["endpoints"]["count_orders_by_range"] == {
        "fields": ["orders"],
        "masks": {},
        "max_range_days": 7,
        "max_rows": 1,
    }
    assert me["endpoints"]["all_orders_by_range"]["fields"] == ["trackcode_id", "drop_address"]
    assert me["endpoints"]["all_orders_by_range"]["masks"] == {"drop_address": "partial"}
    assert me["tables"] == {"trackcode": ["insert", "read"]}
    assert "GET /v1/queries/count_orders_by_range" in me["routes"]


def test_openapi_needs_no_caller(query_api: Any) -> None:
    # GIVEN the OpenAPI event, which carries no authorizer context
    document = event("get_openapi.json")
    assert "authorizer" not in document["requestContext"]

    # WHEN it is served
    response = handler(document, None)

    # THEN the document answers
    assert response["statusCode"] == 200
    assert body(response)["openapi"] == "3.1.0"


# --- client mistakes ---------------------------------------------------------------------------


def test_unknown_parameters_are_named_with_the_allowed_ones(query_api: Any) -> None:
    problem = assert_problem(ask("count_orders_by_range", page="2", sort="x"), 400)
    assert "'page', 'sort'" in problem["detail"]
    assert problem["allowed"] == ["start", "end", "fields", "limit", "cursor", "as_of"]
    assert problem["instance"] == "/v1/queries/count_orders_by_range"
    assert problem["request_id"] == "Gq3kTj7xoAMEbQw="


def test_an_unknown_endpoint_is_a_404_listing_the_endpoints(query_api: Any) -> None:
    problem = assert_problem(ask("drop_table_trackcode"), 404, "count_orders_by_range")
    assert problem["endpoint"] == "drop_table_trackcode"


def test_an_endpoint_outside_the_grant_is_a_403_naming_it(query_api: Any) -> None:
    policy = policy_document(endpoints={"count_orders_by_range": {}})
    problem = assert_problem(ask("all_orders_by_range", policy), 403, "'all_orders_by_range'")
    assert problem["endpoint"] == "all_orders_by_range"


def test_an_unknown_field_is_a_400_naming_it(query_api: Any) -> None:
    problem = assert_problem(ask("count_orders_by_range", fields="orders,enterprise_key"), 400)
    assert "'enterprise_key'" in problem["detail"]
    assert problem["field"] == "enterprise_key"


def test_a_field_outside_the_grant_is_a_403_naming_it(query_api: Any) -> None:
    policy = policy_document(endpoints={"all_orders_by_range": {"fields": ["trackcode_id"]}})
    response = ask("all_orders_by_range", policy, fields="trackcode_id,drop_address")
    problem = assert_problem(response, 403, "'drop_address'")
    assert problem["field"] == "drop_address"


@pytest.mark.parametrize("fields", ["", ",", "trackcode_id,,creation", " "])
def test_blank_fields_are_a_400(query_api: Any, fields: str) -> None:
    assert_problem(ask("all_orders_by_range", fields=fields), 400, "comma-separated")


def test_a_range_longer_than_the_grant_says_the_longest(query_api: Any) -> None:
    policy = policy_document(endpoints={"count_orders_by_range": {"max_range_days": 2}})
    problem = assert_problem(ask("count_orders_by_range", policy), 400, "2 days", "3 days")
    assert problem["max_range_days"] == 2


def test_a_range_exactly_as_long_as_the_grant_is_allowed(query_api: Any) -> None:
    policy = policy_document(endpoints={"count_orders_by_range": {"max_range_days": 3}})
    assert body(ask("count_orders_by_range", policy))["rows"] == [[10]]


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        ("2025-03-04", "2025-03-01", ("after",)),
        ("2025-03-01", "2025-03-01", ("after",)),
        ("yesterday", "2025-03-04", ("`start`", "ISO 8601")),
        ("2025-03-01", "2025-13-01", ("`end`",)),
        ("2025-03-01'; DROP TABLE trackcode; --", "2025-03-04", ("`start`",)),
        (None, "2025-03-04", ("`start`",)),
        ("2025-03-01", None, ("`end`",)),
    ],
)
def test_bad_ranges_are_400s(
    query_api: Any, start: str | None, end: str | None, words: tuple[str, ...]
) -> None:
    response = handler(
        query_event(
            "count_orders_by_range",
            {k: v for k, v in (("start", start), ("end", end)) if v is not None},
            policy_document(),
        ),
        None,
    )
    assert_problem(response, 400, *words)


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "ten", "1.5", "", "١٢"])
def test_limits_outside_1_to_max_rows_are_400s_saying_the_maximum(
    query_api: Any, limit: str
) -> None:
    problem = assert_problem(ask("all_orders_by_range", limit=limit), 400, "1 to 1000")
    assert problem["maximum"] == 1000


def test_answers_never_exceed_max_rows(query_api: Any) -> None:
    # GIVEN a grant of at most 3 rows
    policy = policy_document(endpoints={"all_orders_by_range": {"max_rows": 3}})

    # WHEN no limit is given
    answer = body(ask("all_orders_by_range", policy))

    # THEN 3 rows answer, with a cursor for the rest
    assert [row[0] for row in answer["rows"]] == [1001, 1002, 1003]
    assert answer["next_cursor"]


# --- the caller --------------------------------------------------------------------------------


def test_no_authorizer_context_is_a_401(query_api: Any) -> None:
    document = query_event("count_orders_by_range", {"start": "2025-03-01", "end": "2025-03-04"})
    del document["requestContext"]["authorizer"]
    response = handler(document, None)
    assert_problem(response, 401, "Authorization")
    assert response["headers"]["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("policy_text", ["{not json", '{"client": 5}', "[]", '"x"'])
def test_an_unreadable_policy_is_a_403(query_api: Any, policy_text: str) -> None:
    document = query_event("count_orders_by_range", {"start": "2025-03-01", "end": "2025-03-04"})
    document["requestContext"]["authorizer"]["lambda"]["policy"] = policy_text
    assert_problem(handler(document, None), 403, "policy")


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"status": "suspended"}, "suspended"),
        ({"status": "revoked"}, "revoked"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expired"),
    ],
)
def test_an_unusable_policy_is_a_403(query_api: Any, extra: dict[str, str], reason: str) -> None:
    problem = assert_problem(ask("count_orders_by_range", policy_document(**extra)), 403, reason)
    assert problem["reason"] == reason


def test_a_context_client_other_than_the_policys_is_a_403(query_api: Any) -> None:
    document = query_event(
        "count_orders_by_range", {"start": "2025-03-01", "end": "2025-03-04"}, policy_document()
    )
    document["requestContext"]["authorizer"]["lambda"]["client"] = "someone-else"
    assert_problem(handler(document, None), 403)


def test_me_without_a_caller_is_a_401(query_api: Any) -> None:
    document = event("get_me.json")
    del document["requestContext"]["authorizer"]
    assert_problem(handler(document, None), 401)


def test_an_unknown_route_is_a_404_problem(query_api: Any) -> None:
    document = event("get_me.json")
    document["rawPath"] = document["requestContext"]["http"]["path"] = "/v1/nothing"
    assert_problem(handler(document, None), 404, "/v1/openapi.json")


# --- failures --------------------------------------------------------------------------------


class ExplodingEngine:
    name = "exploding"

    def execute(self, query: Any, *, page_size: int, page: str | None = None) -> Any:
        raise RuntimeError("SELECT secret FROM internals at /srv/lake")


def test_an_unexpected_failure_is_a_generic_500_logged_with_its_traceback(
    query_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN an engine that fails with internal text
    query_api.use_engine(ExplodingEngine())

    # WHEN a query runs
    response = ask("count_orders_by_range")

    # THEN the client gets a generic 500 naming the request id, and the log the traceback
    problem = assert_problem(response, 500, "Gq3kTj7xoAMEbQw=")
    assert "internals" not in response["body"]
    assert problem["request_id"] == "Gq3kTj7xoAMEbQw="
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 1
    assert failures[0].exc_info[0] is RuntimeError


def test_an_engine_error_keeps_its_status_but_not_its_text(query_api: Any) -> None:
    from serving_layer.errors import EngineUnavailableError

    class Unavailable(ExplodingEngine):
        def execute(self, query: Any, *, page_size: int, page: str | None = None) -> Any:
            raise EngineUnavailableError("no Iceberg warehouse at /srv/secret/lake")

    query_api.use_engine(Unavailable())
    response = ask("count_orders_by_range")
    problem = assert_problem(response, 503)
    assert "/srv/secret" not in response["body"]
    assert problem["type"].endswith("/engine-unavailable")


def test_an_event_the_router_cannot_read_is_a_500_problem(query_api: Any) -> None:
    response = handler({"rawPath": "/v1/me"}, None)
    assert response["statusCode"] == 500
    assert response["headers"]["Content-Type"] == "application/problem+json"


# --- logging ---------------------------------------------------------------------------------


def test_one_structured_log_line_per_request_without_key_or_event(
    query_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a request carrying an Authorization header
    caplog.set_level("INFO")

    # WHEN it is answered
    ask("count_trackcode_by_range", policy_document(scope=[101], key_id="sk_log00001"))

    # THEN exactly one INFO line describes it, and it holds no key, header or policy
    info = [r for r in caplog.records if r.levelname == "INFO"]
    assert len(info) == 1
    line = info[0].__dict__
    assert line["endpoint"] == "count_trackcode_by_range"
    assert line["client"] == "test-client"
    assert line["key_id"] == "sk_log00001"
    assert line["engine"] == "duckdb"
    assert line["rows"] == 3
    assert line["status"] == 200
    assert line["total_ms"] >= line["engine_ms"]
    text = json.dumps({k: str(v) for k, v in line.items()})
    assert "EXAMPLE-NOT-A-REAL-KEY" not in text
    assert "authorization" not in text.lower()
    assert "max_rows" not in text


# --- cold start ------------------------------------------------------------------------------


def test_importing_the_handler_loads_no_engine_library() -> None:
    # GIVEN a fresh interpreter
    code = (
        "import serving_layer.handlers.query, sys; "
        "loaded = [m for m in ('duckdb', 'pyarrow', 'pyiceberg') if m in sys.modules]; "
        "assert not loaded, loaded"
    )

    # WHEN it imports the cloud handler
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    # THEN neither DuckDB, pyarrow nor pyiceberg was imported
    assert result.returncode == 0, result.stderr


# --- sample events ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["get_query.json", "get_me.json", "get_openapi.json"])
def test_sample_events_are_payload_2_0_of_a_known_route(name: str) -> None:
    from serving_layer.caller import caller_from_event
    from serving_layer.routes import ROUTES

    document = event(name)
    assert document["version"] == "2.0"
    assert document["routeKey"] in {route.key for route in ROUTES}
    assert document["requestContext"]["routeKey"] == document["routeKey"]
    assert document["requestContext"]["http"]["path"] == document["rawPath"]
    if "authorizer" in document["requestContext"]:
        caller = caller_from_event(document)
        assert caller.key_id == document["requestContext"]["authorizer"]["lambda"]["key_id"]
