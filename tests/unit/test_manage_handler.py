"""The manage Lambda on real payload-2.0 events from `events/manage/`, over a real local lake.

The lake is the hand-made fixture lake (`fixture_lake.py`): trackcodes 1000..1010 of clients
101, 102 and 103, services 1 and 2. The events' caller is andes-express, scope [101, 102],
granted every operation on `trackcode` and `orders` only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fixture_lake
from manage_events import answer, event, policy, request, trackcode
from serving_layer import manage_api
from serving_layer.engines.duckdb import DuckDBEngine
from serving_layer.handlers.manage import handler
from serving_layer.history import LocalHistory
from serving_layer.idempotency import SQLitePersistenceLayer
from serving_layer.writers.local import LocalWriter

NO_KEY = {"idempotency-key": None}


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Path]:
    path = fixture_lake.build(tmp_path / "lake")
    manage_api.use_writer(LocalWriter(path), SQLitePersistenceLayer(tmp_path / "idem.db"))
    yield path
    manage_api.use_writer(None)


def _snapshots(lake: Path, table: str = "trackcode") -> int:
    return len(LocalHistory(lake).history(table).snapshots)


def _trackcodes(lake: Path) -> dict[int, int]:
    engine = DuckDBEngine(warehouse_path=lake)
    return dict(engine.raw("SELECT id, client_id FROM trackcode"))


def _problem(response: dict[str, Any], status: int) -> dict[str, Any]:
    assert response["statusCode"] == status, response["body"]
    assert response["headers"]["Content-Type"] == "application/problem+json"
    document: dict[str, Any] = answer(response)
    assert document["status"] == status
    return document


def test_get_row_answers_the_stored_row(lake: Path) -> None:
    response = handler(event("get_row.json"), None)

    assert response["statusCode"] == 200
    assert answer(response) == {
        "table": "trackcode",
        "key": 1001,
        "row": {
            "id": 1001,
            "creation": "2025-03-01T00:00:00Z",
            "crossdocking": False,
            "pickup_address": "Pickup street 1001 #10-20",
            "drop_address": "Drop avenue 1001 #30-40",
            "service_id": 1,
            "product_description": "parcel 1001",
            "product_price": 11.0,
            "product_size_id": 1,
            "product_weight": 1.25,
            "pickup_point": "POINT (-74.07 4.71)",
            "drop_point": "POINT (-74.08 4.72)",
            "client_id": 101,
        },
    }


def test_insert_answers_201_and_the_rows_are_queryable(lake: Path) -> None:
    before = _snapshots(lake)

    response = handler(event("post_rows.json"), None)

    assert response["statusCode"] == 201
    body = answer(response)
    assert (body["table"], body["operation"], body["rows"], body["inserted"]) == (
        "trackcode",
        "insert",
        2,
        2,
    )
    assert body["snapshot_before"] != body["snapshot_after"]
    assert _snapshots(lake) == before + 1
    stored = _trackcodes(lake)
    assert (stored[2001], stored[2002]) == (101, 102)


def test_a_retry_with_the_same_idempotency_key_writes_once(lake: Path) -> None:
    # GIVEN the insert sent once, and its answer
    first = handler(event("post_rows.json"), None)
    after_first = _snapshots(lake)

    # WHEN the very same request comes again (a client that lost the answer)
    second = handler(event("post_rows.json"), None)

    # THEN it answers the first answer, says it is a replay, and nothing more was written
    assert second["statusCode"] == 201
    assert json.loads(second["body"]) == json.loads(first["body"])
    assert second["headers"].get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first["headers"]
    assert _snapshots(lake) == after_first
    assert sum(1 for key in _trackcodes(lake) if key in (2001, 2002)) == 2


def test_the_same_key_with_another_body_is_refused(lake: Path) -> None:
    handler(event("post_rows.json"), None)
    after_first = _snapshots(lake)

    other = request("post_rows.json", body={"rows": [trackcode(2003, 101)]})
    document = _problem(handler(other, None), 422)

    assert document["type"].endswith("/idempotency-key-reused")
    assert _snapshots(lake) == after_first
    assert 2003 not in _trackcodes(lake)


def test_a_failed_request_leaves_its_key_free_for_the_corrected_retry(lake: Path) -> None:
    # GIVEN an insert that fails validation under a key
    bad = request("post_rows.json", body={"rows": [{"id": 2001}]})
    _problem(handler(bad, None), 400)

    # WHEN the corrected body is sent with the same key, THEN it runs
    assert handler(event("post_rows.json"), None)["statusCode"] == 201


def test_inserting_an_existing_key_is_a_409_naming_it(lake: Path) -> None:
    before = _snapshots(lake)
    rows = [trackcode(2001, 101), trackcode(1002, 102)]
    document = _problem(handler(request("post_rows.json", body={"rows": rows}), None), 409)

    assert document["errors"] == [
        {
            "row": 1,
            "column": "id",
            "detail": "id 1002 already exists; use PUT to replace it, or choose a new key",
            "key": 1002,
        }
    ]
    assert _snapshots(lake) == before
    assert 2001 not in _trackcodes(lake)


def test_a_bad_row_in_the_middle_of_a_batch_writes_nothing(lake: Path) -> None:
    # GIVEN a batch of 10 new trackcodes where row 7 has a creation that is no date
    rows = [trackcode(3000 + i, 101) for i in range(10)]
    rows[7]["creation"] = "not-a-date"
    before = _snapshots(lake)

    document = _problem(
        handler(request("post_rows.json", body={"rows": rows}, headers=NO_KEY), None), 400
    )

    # THEN the problem names row 7's column, and no snapshot was made
    assert [(e["row"], e["column"]) for e in document["errors"]] == [(7, "creation")]
    assert _snapshots(lake) == before
    assert not any(3000 <= key < 3010 for key in _trackcodes(lake))


def test_rows_outside_the_scope_are_refused_and_nothing_changes(lake: Path) -> None:
    # GIVEN a batch whose second row belongs to client 103, outside the scope [101, 102]
    rows = [trackcode(2001, 101), trackcode(2002, 103)]
    before = _snapshots(lake)

    document = _problem(
        handler(request("post_rows.json", body={"rows": rows}, headers=NO_KEY), None), 403
    )

    assert document["type"].endswith("/outside-scope")
    assert [(e["row"], e["column"], e["key"]) for e in document["errors"]] == [
        (1, "client_id", 2002)
    ]
    assert "id 2002" in document["detail"]
    assert _snapshots(lake) == before


def test_an_upsert_cannot_take_over_another_clients_row(lake: Path) -> None:
    # GIVEN trackcode 1005 of client 103, and a scoped caller upserting it as its own (101)
    before = _snapshots(lake)
    rows = [trackcode(1005, 101)]

    document = _problem(handler(request("put_rows.json", body={"rows": rows}), None), 403)

    assert [(e["key"], e["detail"]) for e in document["errors"]] == [
        (1005, "the stored row belongs to client 103, outside your scope")
    ]
    assert _trackcodes(lake)[1005] == 103
    assert _snapshots(lake) == before


def test_upsert_replaces_and_inserts(lake: Path) -> None:
    rows = [trackcode(1001, 101), trackcode(2005, 102)]
    response = handler(request("put_rows.json", body={"rows": rows}, headers=NO_KEY), None)

    assert response["statusCode"] == 200
    body = answer(response)
    assert (body["inserted"], body["updated"], body["unchanged"]) == (1, 1, 0)
    engine = DuckDBEngine(warehouse_path=lake)
    assert engine.raw("SELECT drop_address FROM trackcode WHERE id = 1001") == [
        ("Carrera 1001 #3-4",)
    ]


def test_an_operation_without_its_grant_is_refused(lake: Path) -> None:
    # GIVEN a caller granted only reading trackcodes
    reader = policy([101, 102], {"trackcode": ["read"]})
    before = _snapshots(lake)

    for name in ("post_rows.json", "put_rows.json", "patch_row.json", "delete_row.json"):
        document = _problem(handler(request(name, caller=reader), None), 403)
        assert document["type"].endswith("/not-granted")
        assert "its operations there are: read" in document["detail"]
    assert _snapshots(lake) == before
    assert handler(request("get_row.json", caller=reader), None)["statusCode"] == 200


def test_patch_changes_the_given_columns_only(lake: Path) -> None:
    response = handler(event("patch_row.json"), None)

    assert response["statusCode"] == 200
    row = answer(response)["row"]
    assert (row["drop_address"], row["product_weight"]) == ("Avenida 19 #100-12", 2.5)
    assert (row["pickup_address"], row["client_id"]) == ("Pickup street 1002 #10-20", 102)


def test_patch_cannot_move_a_row_out_of_the_scope(lake: Path) -> None:
    document = _problem(handler(request("patch_row.json", body={"client_id": 103}), None), 403)
    assert document["errors"][0]["detail"] == "client_id 103 is outside your scope"
    assert _trackcodes(lake)[1002] == 102


def test_patch_and_delete_of_a_missing_row_are_404(lake: Path) -> None:
    _problem(handler(request("patch_row.json", key=9999), None), 404)
    _problem(handler(request("delete_row.json", key=9999), None), 404)


def test_delete_removes_the_row_and_refuses_rows_outside_the_scope(lake: Path) -> None:
    assert handler(event("delete_row.json"), None)["statusCode"] == 200
    assert 1004 not in _trackcodes(lake)

    _problem(handler(request("delete_row.json", key=1005), None), 403)
    assert 1005 in _trackcodes(lake)


def test_orders_are_owned_through_their_trackcode(lake: Path) -> None:
    order = {
        "id": 900,
        "route_id": 501,
        "trackcode_id": 1005,  # client 103: outside the scope
        "promise_time": "2025-03-03T12:00:00Z",
    }
    document = _problem(
        handler(request("post_rows.json", table="orders", body={"rows": [order]}), None), 403
    )
    assert document["errors"][0]["detail"] == (
        "trackcode_id 1005 is not a trackcode of a client in your scope"
    )

    # A trackcode that does not exist is refused the same way: existence is not revealed.
    order["trackcode_id"] = 424242
    _problem(handler(request("post_rows.json", table="orders", body={"rows": [order]}), None), 403)

    order["trackcode_id"] = 1002  # client 102: inside
    response = handler(
        request("post_rows.json", table="orders", body={"rows": [order]}, headers=NO_KEY), None
    )
    assert response["statusCode"] == 201


def test_reference_tables_are_written_only_by_a_scope_of_all(lake: Path) -> None:
    row = {"rows": [{"id": 3, "name": "same-day"}]}

    # GIVEN a scoped caller granted every operation on every table
    scoped = policy([101, 102])
    document = _problem(
        handler(request("post_rows.json", table="service", body=row, caller=scoped), None), 403
    )
    assert 'only a policy whose scope is "all"' in document["errors"][0]["detail"]
    _problem(handler(request("delete_row.json", table="service", key=1, caller=scoped), None), 403)

    # THEN only an operator-wide scope writes them
    operator = policy("all")
    response = handler(request("post_rows.json", table="service", body=row, caller=operator), None)
    assert response["statusCode"] == 201


def test_reading_a_row_outside_the_scope_is_404(lake: Path) -> None:
    _problem(handler(request("get_row.json", key=1005), None), 404)


def test_reference_rows_are_readable_by_any_reader_of_the_table(lake: Path) -> None:
    scoped = policy([101], {"service": ["read"]})
    response = handler(request("get_row.json", table="service", key=2, caller=scoped), None)
    assert answer(response) == {"table": "service", "key": 2, "row": {"id": 2, "name": "express"}}


def test_the_client_secret_is_never_answered(lake: Path) -> None:
    operator = policy("all")
    response = handler(request("get_row.json", table="client", key=101, caller=operator), None)
    row = answer(response)["row"]
    assert row["commercial_name"] == "Andes Express"
    assert "enterprise_key" not in row

    patched = handler(
        request("patch_row.json", table="client", key=101, caller=operator, body={"address": "x"}),
        None,
    )
    assert "enterprise_key" not in answer(patched)["row"]


def test_snapshots_show_who_changed_what(lake: Path) -> None:
    # GIVEN one write by the events' caller and one by another client of scope "all"
    mine = answer(handler(event("patch_row.json"), None))
    operator = policy("all", client="lake-operator", key_id="sk_op")
    handler(request("delete_row.json", key=1005, caller=operator), None)

    # WHEN the events' caller lists the snapshots
    response = handler(event("get_snapshots.json"), None)
    assert response["statusCode"] == 200
    body = answer(response)

    # THEN the newest is the operator's delete, its identity hidden from a scoped caller
    newest, *rest = body["snapshots"]
    assert newest["change"] == {
        "operation": "delete",
        "rows": 1,
        "by_you": False,
        "snapshot_before": newest["parent_id"],
        "snapshot_after": newest["snapshot_id"],
    }
    # AND the caller's own update shows its client, key id and request id
    update = next(s for s in rest if s["snapshot_id"] == mine["snapshot_after"])
    assert update["change"]["client"] == "andes-express"
    assert update["change"]["key_id"] == "sk_andes01"
    assert update["change"]["request_id"] == "Gq3kMn3aoAMEbX3="
    assert update["change"]["snapshot_before"] == mine["snapshot_before"]
    # AND the lake's first snapshot, written by the generator, has no change record
    assert body["snapshots"][-1]["change"] is None
    assert body["current_snapshot"] == newest["snapshot_id"]


def test_request_mistakes_are_problems(lake: Path) -> None:
    _problem(handler(request("post_rows.json", raw_body="{not json", headers=NO_KEY), None), 400)
    _problem(handler(request("get_row.json", key="abc"), None), 400)
    _problem(handler(request("get_row.json", table="parcels"), None), 404)
    _problem(handler(request("get_snapshots.json", query={"limit": "0"}), None), 400)
    bad_key = {"idempotency-key": "has spaces in it"}
    _problem(handler(request("post_rows.json", headers=bad_key), None), 400)


def test_a_request_without_a_caller_is_401(lake: Path) -> None:
    document = event("get_row.json")
    del document["requestContext"]["authorizer"]
    _problem(handler(document, None), 401)


def test_the_lambda_import_path_loads_no_local_engine() -> None:
    # The cloud package must not load DuckDB, pyarrow or pyiceberg at import (cold starts).
    code = (
        "import sys; import serving_layer.handlers.manage; "
        "print(sorted(m for m in ('duckdb', 'pyarrow', 'pyiceberg') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
