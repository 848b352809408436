"""The local writer on a real Iceberg warehouse: one commit per change, all or nothing,
retried when another writer commits first, seen by DuckDB on the next query."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.exceptions import CommitFailedException

import fixture_lake
from manage_events import trackcode
from serving_layer import model, warehouse
from serving_layer.engines.duckdb import DuckDBEngine
from serving_layer.errors import NotFoundError, WriteFailedError
from serving_layer.history import LocalHistory
from serving_layer.policy import Operation
from serving_layer.rows import validate_rows
from serving_layer.writers import Actor, Change
from serving_layer.writers.local import LocalWriter

SERVICE = model.TABLES["service"]
TRACKCODE = model.TABLES["trackcode"]
ACTOR = Actor("test-client", "sk_test0001", "req-1")


def _accept(_: Mapping[Any, Any]) -> None:
    """A check that accepts every change."""


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return fixture_lake.build(tmp_path / "lake")


def _services(engine: DuckDBEngine) -> list[tuple[Any, ...]]:
    return engine.raw("SELECT id, name FROM service ORDER BY id")


def _snapshots(lake: Path, table: str = "service") -> int:
    return len(LocalHistory(lake).history(table).snapshots)


def test_each_operation_is_one_commit_that_duckdb_sees_next(lake: Path) -> None:
    # GIVEN a DuckDB engine that has already read the table, and a writer
    engine = DuckDBEngine(warehouse_path=lake)
    assert _services(engine) == [(1, "standard"), (2, "express")]
    writer = LocalWriter(lake)

    # WHEN a row is inserted, THEN the next query sees it
    batch = validate_rows(SERVICE, [{"id": 3, "name": "same-day"}])
    inserted = writer.write(Change(SERVICE, Operation.INSERT, tuple(batch)), ACTOR, _accept)
    assert _services(engine) == [(1, "standard"), (2, "express"), (3, "same-day")]
    assert inserted.inserted == 1 and inserted.snapshot_after != inserted.snapshot_before

    # WHEN a batch updates one row, keeps one and adds one, THEN each is counted
    batch = validate_rows(
        SERVICE,
        [{"id": 1, "name": "standard"}, {"id": 2, "name": "exprés"}, {"id": 4, "name": "x"}],
    )
    upserted = writer.write(Change(SERVICE, Operation.UPSERT, tuple(batch)), ACTOR, _accept)
    assert (upserted.inserted, upserted.updated, upserted.unchanged) == (1, 1, 1)
    assert upserted.snapshot_before == inserted.snapshot_after

    # WHEN one row is patched and another deleted
    writer.write(Change(SERVICE, Operation.UPDATE, key=4, patch={"name": "y"}), ACTOR, _accept)
    writer.write(Change(SERVICE, Operation.DELETE, key=3), ACTOR, _accept)

    # THEN the table holds exactly the hand-worked result
    assert _services(engine) == [(1, "standard"), (2, "exprés"), (4, "y")]


def test_a_commit_carries_its_audit_in_the_snapshot_summary(lake: Path) -> None:
    writer = LocalWriter(lake)
    before = writer.current_snapshot(SERVICE)
    batch = validate_rows(SERVICE, [{"id": 3, "name": "a"}, {"id": 4, "name": "b"}])

    result = writer.write(Change(SERVICE, Operation.INSERT, tuple(batch)), ACTOR, _accept)

    snapshot = LocalHistory(lake).history("service").current
    assert snapshot is not None and snapshot.snapshot_id == result.snapshot_after
    assert {k: v for k, v in snapshot.summary.items() if k.startswith("serving.")} == {
        "serving.operation": "insert",
        "serving.client": "test-client",
        "serving.key-id": "sk_test0001",
        "serving.request-id": "req-1",
        "serving.rows": "2",
        "serving.snapshot-before": str(before),
    }


def test_an_upsert_that_changes_nothing_commits_nothing(lake: Path) -> None:
    writer = LocalWriter(lake)
    before = _snapshots(lake)
    batch = validate_rows(SERVICE, [{"id": 1, "name": "standard"}])

    result = writer.write(Change(SERVICE, Operation.UPSERT, tuple(batch)), ACTOR, _accept)

    assert result.unchanged == 1 and result.snapshot_after == result.snapshot_before
    assert _snapshots(lake) == before


def test_a_refusing_check_leaves_the_table_unchanged(lake: Path) -> None:
    # GIVEN a check that refuses (as a scope or key check does)
    def refuse(stored: Mapping[Any, Any]) -> None:
        assert set(stored) == {1}  # it sees the stored row of the batch's existing key
        raise NotFoundError("refused")

    writer = LocalWriter(lake)
    before = _snapshots(lake)
    batch = validate_rows(SERVICE, [{"id": 1, "name": "changed"}, {"id": 9, "name": "new"}])

    # WHEN the batch is written, THEN the refusal comes back and nothing was committed
    with pytest.raises(NotFoundError):
        writer.write(Change(SERVICE, Operation.UPSERT, tuple(batch)), ACTOR, refuse)
    assert _snapshots(lake) == before
    assert _services(DuckDBEngine(warehouse_path=lake)) == [(1, "standard"), (2, "express")]


def test_a_storage_failure_during_commit_leaves_the_table_unchanged(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a disk that fails while the new table metadata is written (inside the commit)
    writer = LocalWriter(lake)
    location = warehouse.metadata_locations(lake)["trackcode"]

    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(writer.catalog, "_write_metadata", disk_full)
    batch = validate_rows(TRACKCODE, [trackcode(i, 101) for i in (1, 2, 3)])

    # WHEN a batch is inserted
    with pytest.raises(WriteFailedError) as error:
        writer.write(Change(TRACKCODE, Operation.INSERT, tuple(batch)), ACTOR, _accept)

    # THEN the client is told nothing changed, and nothing did
    assert error.value.status == 503
    assert "nothing was changed" in error.value.detail
    assert warehouse.metadata_locations(lake)["trackcode"] == location
    engine = DuckDBEngine(warehouse_path=lake)
    assert engine.raw("SELECT count(*) FROM trackcode")[0][0] == len(fixture_lake.TRACKCODES)


def _foreign_append(lake: Path, rows: list[dict[str, Any]]) -> None:
    """Another process's commit: pyiceberg directly, without the writer's lock."""
    table = warehouse.open_catalog(lake).load_table("lake.service")
    table.append(pa.Table.from_pylist(rows, schema=table.schema().as_arrow()))


def test_a_commit_that_loses_the_race_is_redone_from_the_new_snapshot(lake: Path) -> None:
    # GIVEN another writer that commits between this writer's check and its commit, once
    calls = []

    def check(stored: Mapping[Any, Any]) -> None:
        calls.append(dict(stored))
        if len(calls) == 1:
            _foreign_append(lake, [{"id": 50, "name": "theirs"}])

    writer = LocalWriter(lake, sleep=lambda _: None)
    batch = validate_rows(SERVICE, [{"id": 60, "name": "mine"}])

    # WHEN the write runs
    result = writer.write(Change(SERVICE, Operation.INSERT, tuple(batch)), ACTOR, check)

    # THEN the lost swap was retried (the check ran again) and both rows are there, once
    assert result.attempts == 2 and len(calls) == 2
    assert _services(DuckDBEngine(warehouse_path=lake)) == [
        (1, "standard"),
        (2, "express"),
        (50, "theirs"),
        (60, "mine"),
    ]


def test_a_retry_checks_again_so_a_key_taken_meanwhile_is_refused(lake: Path) -> None:
    # GIVEN another writer that inserts the same new key between the check and the commit
    def check(stored: Mapping[Any, Any]) -> None:
        if stored:
            raise NotFoundError(f"exists: {sorted(stored)}")
        _foreign_append(lake, [{"id": 70, "name": "theirs"}])

    writer = LocalWriter(lake, sleep=lambda _: None)
    batch = validate_rows(SERVICE, [{"id": 70, "name": "mine"}])

    # WHEN the write runs, THEN its second attempt sees the key and refuses: never two rows 70
    with pytest.raises(NotFoundError, match=r"exists: \[70\]"):
        writer.write(Change(SERVICE, Operation.INSERT, tuple(batch)), ACTOR, check)
    assert DuckDBEngine(warehouse_path=lake).raw("SELECT name FROM service WHERE id = 70") == [
        ("theirs",)
    ]


def test_a_writer_that_never_wins_gives_up_and_writes_nothing(lake: Path) -> None:
    # GIVEN another writer that commits before every attempt of this one
    def check(_: Mapping[Any, Any]) -> None:
        _foreign_append(lake, [])

    writer = LocalWriter(lake, attempts=3, sleep=lambda _: None)
    batch = validate_rows(SERVICE, [{"id": 80, "name": "mine"}])

    with pytest.raises(WriteFailedError, match="3 attempts"):
        writer.write(Change(SERVICE, Operation.INSERT, tuple(batch)), ACTOR, check)
    assert DuckDBEngine(warehouse_path=lake).raw("SELECT * FROM service WHERE id = 80") == []


WRITERS = 8
UPSERTS = 50
KEYS_PER_WRITER = 25  # each writer inserts 25 rows, then upserts each of them once more


@pytest.mark.timeout(240)
def test_concurrent_writers_lose_no_row_and_duplicate_none(lake: Path) -> None:
    # GIVEN 8 writers, each its own LocalWriter as if in its own process (their file lock makes
    # them take turns), and a foreign process that appends ten rows of its own, one a second,
    # without any lock: each of its commits makes the writer then committing lose its swap
    attempts: list[int] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def worker(number: int) -> None:
        writer = LocalWriter(lake)
        try:
            for i in range(UPSERTS):
                key = 1000 + number * 100 + i % KEYS_PER_WRITER
                batch = validate_rows(SERVICE, [{"id": key, "name": f"w{number}-{i}"}])
                result = writer.write(
                    Change(SERVICE, Operation.UPSERT, tuple(batch)), ACTOR, _accept
                )
                attempts.append(result.attempts)
        except BaseException as error:
            failures.append(error)

    def foreigner() -> None:
        key = 5000
        while not done.is_set() and key < 5010:
            try:
                _foreign_append(lake, [{"id": key, "name": "foreign"}])
                key += 1
            except CommitFailedException:
                pass  # it lost a race too; it only has to keep committing now and then
            done.wait(1.0)

    # WHEN they all run at once
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WRITERS)]
    other = threading.Thread(target=foreigner)
    for thread in [*threads, other]:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    other.join()

    # THEN every upsert committed, some only after a retry, and each key is there once with
    # the value of its last upsert (i = 25..49 rewrote i = 0..24)
    assert failures == []
    assert len(attempts) == WRITERS * UPSERTS
    assert sum(attempts) > len(attempts), "no commit conflict happened; the test proved nothing"
    engine = DuckDBEngine(warehouse_path=lake)
    rows = dict(engine.raw("SELECT id, name FROM service WHERE id BETWEEN 1000 AND 4999"))
    expected = {
        1000 + n * 100 + k: f"w{n}-{k + KEYS_PER_WRITER}"
        for n in range(WRITERS)
        for k in range(KEYS_PER_WRITER)
    }
    assert rows == expected
    counts = engine.raw("SELECT count(*), count(DISTINCT id) FROM service")[0]
    assert counts[0] == counts[1]


def test_a_missing_warehouse_table_is_a_not_found(tmp_path: Path) -> None:
    catalog = warehouse.open_catalog(tmp_path / "empty")
    catalog.create_namespace("lake")
    writer = LocalWriter(tmp_path / "empty")
    with pytest.raises(NotFoundError):
        writer.read(SERVICE, [1])


def test_timestamps_round_trip_as_naive_utc(lake: Path) -> None:
    writer = LocalWriter(lake)
    [row] = validate_rows(TRACKCODE, [trackcode(77, 101, "2025-03-09T23:59:59.123456Z")])
    writer.write(Change(TRACKCODE, Operation.INSERT, (row,)), ACTOR, _accept)
    assert writer.read(TRACKCODE, [77])[77]["creation"] == datetime(2025, 3, 9, 23, 59, 59, 123456)
