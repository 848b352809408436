"""`as_of` on the query API: after a write, a query at the snapshot before it answers the data
before it, on DuckDB over a real local lake; the Trino text it compiles to is checked too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import fixture_lake
from manage_events import answer, policy, request
from query_events import body, query_event
from serving_layer import manage_api, query_api, timetravel
from serving_layer.endpoints import ENDPOINTS
from serving_layer.engines.duckdb import DuckDBEngine
from serving_layer.handlers.manage import handler as manage
from serving_layer.handlers.query import handler as query
from serving_layer.idempotency import SQLitePersistenceLayer
from serving_layer.writers.local import LocalWriter

RANGE = {"start": "2025-03-01", "end": "2025-03-04"}
# Hand-computed in fixture_lake.py: 3 trackcodes on 03-01, 3 on 03-02 (1004, 1005, 1006), 2 on
# 03-03. Deleting 1004 leaves 2 on 03-02.
BEFORE = [["2025-03-01", 3], ["2025-03-02", 3], ["2025-03-03", 2]]
AFTER = [["2025-03-01", 3], ["2025-03-02", 2], ["2025-03-03", 2]]
OPERATOR = policy("all", client="lake-operator", key_id="sk_op")
READER = {"client": "lake-operator", "key_id": "sk_op", "scope": "all", "endpoints": {}}


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = fixture_lake.build(tmp_path / "lake")
    monkeypatch.setenv("SERVING_MASK_KEY", "test-mask-key-0123456789abcdef")
    monkeypatch.setenv("SERVING_CURSOR_KEY", "test-cursor-key-0123456789abcdef")
    manage_api.use_writer(LocalWriter(path), SQLitePersistenceLayer(tmp_path / "idem.db"))
    query_api.use_engine(DuckDBEngine(warehouse_path=path))
    yield path
    query_api.use_engine(None)
    manage_api.use_writer(None)


def _counts(**parameters: str) -> Any:
    caller = READER | {"endpoints": {"count_trackcode_by_range": {}}}
    response = query(query_event("count_trackcode_by_range", RANGE | parameters, caller), None)
    assert response["statusCode"] == 200, response["body"]
    return body(response)


def _delete_1004() -> dict[str, Any]:
    response = manage(request("delete_row.json", key=1004, caller=OPERATOR), None)
    assert response["statusCode"] == 200, response["body"]
    document: dict[str, Any] = answer(response)
    return document


def test_as_of_the_snapshot_before_a_write_answers_the_data_before_it(lake: Path) -> None:
    # GIVEN a delete, and the snapshot it answered as the table's state before it
    deleted = _delete_1004()

    # WHEN the same query runs now and as of that snapshot
    now = _counts()
    then = _counts(as_of=deleted["snapshot_before"])

    # THEN now misses the deleted trackcode and then still has it
    assert now["rows"] == AFTER
    assert then["rows"] == BEFORE
    assert then["as_of"]["snapshots"] == {"trackcode": deleted["snapshot_before"]}
    assert _counts(as_of=deleted["snapshot_after"])["rows"] == AFTER


def test_as_of_an_instant_reads_every_table_as_it_was(lake: Path) -> None:
    deleted = _delete_1004()
    committed = datetime.fromisoformat(deleted["committed_at"].rstrip("Z"))

    just_before = (committed - timedelta(milliseconds=1)).isoformat() + "Z"
    assert _counts(as_of=just_before)["rows"] == BEFORE
    assert _counts(as_of=deleted["committed_at"])["rows"] == AFTER


def test_a_snapshot_of_another_table_pins_that_table(lake: Path) -> None:
    # GIVEN an order deleted, and the orders snapshot before it
    response = manage(request("delete_row.json", table="orders", key=2, caller=OPERATOR), None)
    before = answer(response)["snapshot_before"]
    caller = READER | {"endpoints": {"count_orders_by_range": {}}}

    # THEN counting orders as of that snapshot still counts it (10 in the fixture, 9 now)
    now = query(query_event("count_orders_by_range", RANGE, caller), None)
    then = query(query_event("count_orders_by_range", RANGE | {"as_of": before}, caller), None)
    assert body(now)["rows"] == [[9]]
    assert body(then)["rows"] == [[10]]
    assert body(then)["as_of"]["snapshots"] == {"orders": before}


@pytest.mark.parametrize("value", ["123456789", "yesterday", "2025-13-01"])
def test_an_unknown_snapshot_or_a_bad_instant_is_a_400(lake: Path, value: str) -> None:
    caller = READER | {"endpoints": {"count_trackcode_by_range": {}}}
    response = query(
        query_event("count_trackcode_by_range", RANGE | {"as_of": value}, caller), None
    )
    assert response["statusCode"] == 400
    assert body(response)["type"].endswith("/invalid-as-of")


def test_every_endpoint_source_has_the_shape_the_rewrite_expects() -> None:
    # GIVEN every endpoint's FROM clause, THEN each table reference is found and pinned
    for spec in ENDPOINTS.values():
        tables = timetravel.tables_in(spec.source)
        assert tables[0] == "trackcode"
        pinned, params = timetravel.pin_source(spec.source, timetravel.AsOf(datetime(2025, 1, 1)))
        assert len(params) == len(tables) == spec.source.count(" JOIN ") + 1
        assert pinned.count("FOR TIMESTAMP AS OF") == len(tables)

    # AND a source of another shape is refused rather than half rewritten
    with pytest.raises(ValueError):
        timetravel.pin_source("trackcode t, orders o", timetravel.AsOf(datetime(2025, 1, 1)))


def test_duckdb_reads_a_pinned_reference_through_iceberg_scan() -> None:
    sql = "SELECT 1 FROM trackcode FOR VERSION AS OF ? t JOIN orders " + (
        "FOR TIMESTAMP AS OF CAST(? AS timestamp(6) with time zone) o ON o.trackcode_id = t.id"
    )
    rewritten = timetravel.duckdb_sources(sql, {"trackcode": "/w/t'1.json", "orders": "/w/o.json"})
    assert rewritten == (
        "SELECT 1 FROM iceberg_scan('/w/t''1.json', snapshot_from_id => ?) t JOIN "
        "iceberg_scan('/w/o.json', snapshot_from_timestamp => CAST(? AS TIMESTAMP)) o "
        "ON o.trackcode_id = t.id"
    )
