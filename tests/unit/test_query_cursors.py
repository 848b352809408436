"""Pagination cursors: signed, bound to the key, the endpoint and the query; through the handler."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

import fixture_lake as lake
from query_events import body, policy_document, query_event
from serving_layer import cursors
from serving_layer.compiler import DateRange, Scope, compile_query
from serving_layer.handlers.query import handler

PARAMS = {"start": lake.RANGE[0], "end": lake.RANGE[1], "fields": "trackcode_id", "limit": "3"}


def page(
    cursor: str | None = None,
    key_id: str = "sk_pager001",
    endpoint: str = "all_orders_by_range",
    **changes: str,
) -> dict[str, Any]:
    params = {**PARAMS, **changes}
    if cursor is not None:
        params["cursor"] = cursor
    return handler(query_event(endpoint, params, policy_document(), key_id=key_id), None)


def ids(response: dict[str, Any]) -> list[int]:
    return [row[0] for row in body(response)["rows"]]


def assert_cursor_refused(response: dict[str, Any], *words: str) -> None:
    assert response["statusCode"] == 400, response["body"]
    problem = body(response)
    assert problem["type"].endswith("/invalid-cursor")
    for word in words:
        assert word in problem["detail"]


def test_cursors_walk_every_page_once(query_api: Any) -> None:
    # GIVEN pages of 3 over the 8 in-range trackcodes
    # WHEN the caller follows next_cursor to the end
    first = page()
    second = page(body(first)["next_cursor"])
    third = page(body(second)["next_cursor"])

    # THEN it sees 3 + 3 + 2 rows, in order, and the last page has no cursor
    assert ids(first) == [1001, 1002, 1003]
    assert ids(second) == [1004, 1005, 1006]
    assert ids(third) == [1007, 1008]
    assert body(third)["next_cursor"] is None


def test_a_page_exactly_full_at_the_end_has_no_cursor(query_api: Any) -> None:
    # GIVEN 8 rows and pages of 4
    first = page(limit="4")
    second = page(body(first)["next_cursor"], limit="4")

    # THEN the second page ends the answer
    assert ids(second) == [1005, 1006, 1007, 1008]
    assert body(second)["next_cursor"] is None


def test_a_tampered_cursor_is_a_400(query_api: Any) -> None:
    # GIVEN a cursor whose page token is rewritten to skip ahead, keeping the old signature
    cursor = body(page())["next_cursor"]
    payload_text, signature = cursor.split(".")
    payload = json.loads(base64.urlsafe_b64decode(payload_text + "=="))
    assert payload["page"] == "3"
    payload["page"] = "6"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()

    # WHEN it is sent back
    # THEN it is refused
    assert_cursor_refused(page(f"{forged}.{signature}"), "changed")


@pytest.mark.parametrize(
    "cursor", ["", "abc", "a.b.c", "!!!.???", "é.é", "x" * 5000, "eyJ2IjoxfQ.AAAA"]
)
def test_garbage_cursors_are_400s(query_api: Any, cursor: str) -> None:
    assert_cursor_refused(page(cursor), "next_cursor")


def test_a_cursor_with_a_flipped_signature_byte_is_a_400(query_api: Any) -> None:
    cursor = body(page())["next_cursor"]
    last = cursor[-2]
    flipped = cursor[:-2] + ("A" if last != "A" else "B") + cursor[-1]
    assert_cursor_refused(page(flipped))


def test_another_keys_cursor_is_a_400(query_api: Any) -> None:
    # GIVEN a cursor issued to key sk_pager001
    cursor = body(page(key_id="sk_pager001"))["next_cursor"]

    # WHEN another key of the same client sends it with the same parameters
    # THEN it is refused as another key's
    assert_cursor_refused(page(cursor, key_id="sk_other001"), "another API key")


@pytest.mark.parametrize(
    "changes",
    [
        {"start": "2025-03-02"},
        {"end": "2025-03-05"},
        {"fields": "trackcode_id,creation"},
        {"limit": "2"},
    ],
)
def test_a_cursor_for_another_query_is_a_400(query_api: Any, changes: dict[str, str]) -> None:
    # GIVEN a cursor for one set of parameters
    cursor = body(page())["next_cursor"]

    # WHEN it is sent with one parameter changed
    # THEN it is refused, saying the parameters must be repeated
    assert_cursor_refused(page(cursor, **changes), "same `start`")


def test_a_cursor_for_another_endpoint_is_a_400(query_api: Any) -> None:
    cursor = body(page())["next_cursor"]
    response = page(cursor, endpoint="get_money_from_routes_by_range")
    assert_cursor_refused(response, "'all_orders_by_range'")


def test_a_cursor_after_the_scope_changed_is_a_400(query_api: Any) -> None:
    # GIVEN a cursor issued under scope "all"
    cursor = body(page())["next_cursor"]

    # WHEN the key's scope has since shrunk (the SQL differs) and the cursor is replayed
    response = handler(
        query_event(
            "all_orders_by_range",
            {**PARAMS, "cursor": cursor},
            policy_document(scope=[101]),
            key_id="sk_pager001",
        ),
        None,
    )

    # THEN the old cursor no longer applies
    assert_cursor_refused(response)


def test_without_a_cursor_key_paging_fails_closed(
    query_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN no cursor key configured
    monkeypatch.setenv("SERVING_CURSOR_KEY", "")

    # WHEN an answer would need a next cursor
    response = page()

    # THEN the request is refused with a 503, not answered with an unsigned cursor
    assert response["statusCode"] == 503
    assert body(response)["type"].endswith("/not-configured")


def test_cursor_module_round_trip_and_binding() -> None:
    # GIVEN a binding and a key
    query = compile_query("all_orders_by_range", DateRange.parse(*lake.RANGE), Scope.all())
    binding = cursors.CursorBinding("sk_a", "all_orders_by_range", cursors.query_digest(query, 5))
    key = b"k" * 32

    # WHEN a cursor is issued and read back
    cursor = cursors.issue(binding, "10", key)

    # THEN the same binding reads the token; another key or digest is refused
    assert cursors.page_token(cursor, binding, key) == "10"
    with pytest.raises(cursors.InvalidCursorError):
        cursors.page_token(cursor, binding, b"j" * 32)
    other = cursors.CursorBinding("sk_a", "all_orders_by_range", cursors.query_digest(query, 6))
    with pytest.raises(cursors.InvalidCursorError):
        cursors.page_token(cursor, other, key)
