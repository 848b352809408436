"""Masks and JSON values: the rules written in `masks.py` and `answers.py`, by example."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from query_events import body, policy_document, query_event
from serving_layer.answers import json_value
from serving_layer.handlers.query import handler
from serving_layer.masks import Masker, masked_type, partial, pseudonym
from serving_layer.policy import Mask


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Carrera 7 #45-10", "************5-10"),  # 16 characters: the last 4 stay
        ("Drop avenue 1001 #30-40", "*******************0-40"),  # 23: the last 4
        ("abcdefgh", "******gh"),  # 8: a quarter, 2
        ("Ana", "***"),  # 3: nothing stays
        ("", ""),
    ],
)
def test_partial_keeps_at_most_four_and_a_quarter(text: str, masked: str) -> None:
    assert partial(text) == masked


def test_hash_is_hmac_sha256_of_client_and_json_text() -> None:
    # GIVEN a key, a client and a value
    key = b"0123456789abcdef0123"

    # WHEN the pseudonym is made
    made = pseudonym("Andes Express SAS", key=key, client="acme")

    # THEN it is "h_" and the first 16 hex digits of HMAC-SHA256(key, client 0x1f json)
    expected = hmac.new(key, b'acme\x1f"Andes Express SAS"', hashlib.sha256).hexdigest()[:16]
    assert made == "h_" + expected
    assert made != "h_" + hashlib.sha256(b"Andes Express SAS").hexdigest()[:16]


def test_hash_differs_by_key_client_and_value_type() -> None:
    key, other = b"k" * 20, b"j" * 20
    base = pseudonym(101, key=key, client="a")
    assert base == pseudonym(101, key=key, client="a")
    assert base != pseudonym(101, key=other, client="a")
    assert base != pseudonym(101, key=key, client="b")
    assert base != pseudonym("101", key=key, client="a")


def test_masker_keeps_nulls_and_retypes_text_masks() -> None:
    masker = Masker(
        {"a": Mask.REDACT, "b": Mask.PARTIAL, "c": Mask.HASH}, client="x", key=b"k" * 20
    )
    rows = masker.rows(["a", "b", "c", "d"], [[1, "abcdefgh", 5, 7], [None, None, None, None]])
    assert rows[0][0] is None
    assert rows[0][1] == "******gh"
    assert rows[0][2] == pseudonym(5, key=b"k" * 20, client="x")
    assert rows[0][3] == 7
    assert rows[1] == [None, None, None, None]
    assert masker.columns([("a", "bigint"), ("b", "varchar"), ("c", "bigint"), ("d", "date")]) == [
        ("a", "bigint"),
        ("b", "varchar"),
        ("c", "varchar"),
        ("d", "date"),
    ]
    assert masked_type(None, "double") == "double"


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (datetime(2025, 3, 1, 8, 30), "2025-03-01T08:30:00Z"),
        (datetime(2025, 3, 1, 8, 30, 0, 500000), "2025-03-01T08:30:00.500000Z"),
        (datetime(2025, 3, 1, 3, 30, tzinfo=timezone(timedelta(hours=-5))), "2025-03-01T08:30:00Z"),
        (datetime(2025, 3, 1, 8, 30, tzinfo=UTC), "2025-03-01T08:30:00Z"),
        (date(2025, 3, 1), "2025-03-01"),
        (Decimal("12345678901234567890.123"), "12345678901234567890.123"),
        (float("nan"), None),
        (float("inf"), None),
        (1.5, 1.5),
        (True, True),
        (7, 7),
        (None, None),
        ([1, 2], [1, 2]),
    ],
)
def test_json_values(value: Any, rendered: Any) -> None:
    assert json_value(value) == rendered


def test_a_hash_mask_without_a_mask_key_fails_closed(
    query_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN no mask key and a grant with a hash mask
    monkeypatch.setenv("SERVING_MASK_KEY", "")
    policy = policy_document(
        endpoints={"all_orders_by_range": {"masks": {"business_name": "hash"}}}
    )

    # WHEN the endpoint is asked
    response = handler(
        query_event("all_orders_by_range", {"start": "2025-03-01", "end": "2025-03-04"}, policy),
        None,
    )

    # THEN it answers a 503 problem, and no value leaves unmasked
    assert response["statusCode"] == 503
    assert body(response)["type"].endswith("/not-configured")
    assert "Andes" not in response["body"]


def test_redact_and_partial_need_no_mask_key(
    query_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVING_MASK_KEY", "")
    policy = policy_document(
        endpoints={"all_orders_by_range": {"masks": {"business_name": "redact"}}}
    )
    response = handler(
        query_event("all_orders_by_range", {"start": "2025-03-01", "end": "2025-03-04"}, policy),
        None,
    )
    assert response["statusCode"] == 200
    assert "Andes Express SAS" not in response["body"]
