"""One behaviour suite for every policy store: SQLite in a temporary folder, and DynamoDB over
real HTTP against moto's server on 127.0.0.1 (a fresh table per test)."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from serving_layer import keys
from serving_layer.errors import ConflictError, PolicyStoreError
from serving_layer.policy import Policy, Status
from serving_layer.stores import ClientRecord, PolicyStore, get_store
from serving_layer.stores.dynamodb import DynamoDBPolicyStore, create_table, dynamodb_client
from serving_layer.stores.local import LocalPolicyStore

CREATED = datetime(2026, 2, 1, 9, 30, 0)
ROTATED = datetime(2026, 2, 20, 17, 5, 9)

ANDES = {
    "client": "andes-express",
    "status": "active",
    "expires_at": "2030-12-31T00:00:00Z",
    "scope": [1, 2, 3],
    "endpoints": {
        "all_orders_by_range": {
            "fields": ["trackcode_id", "drop_address"],
            "masks": {"drop_address": "partial"},
            "max_range_days": 7,
            "max_rows": 50,
        }
    },
    "tables": {"orders": ["insert", "read"]},
}


@dataclass
class Backend:
    """A store under test, a way to open the same data afresh, and its raw stored items."""

    store: PolicyStore
    reopen: Callable[[], PolicyStore]
    raw_item: Callable[[str], dict[str, str] | None]


@pytest.fixture(params=["local", "dynamodb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    opened: list[PolicyStore] = []

    def keep(store: PolicyStore) -> PolicyStore:
        opened.append(store)
        return store

    if request.param == "local":

        def local_item(key_hash: str) -> dict[str, str] | None:
            with closing(sqlite3.connect(tmp_path / "clients.sqlite3")) as connection:
                cursor = connection.execute("SELECT * FROM clients WHERE key_hash = ?", (key_hash,))
                row = cursor.fetchone()
                names = [column[0] for column in cursor.description]
            if row is None:
                return None
            return {k: v for k, v in zip(names, row, strict=True) if v is not None}

        yield Backend(
            keep(get_store("local", data_dir=tmp_path)),
            lambda: keep(LocalPolicyStore(tmp_path)),
            local_item,
        )
    else:
        endpoint = request.getfixturevalue("moto_server")
        table = f"clients-{uuid.uuid4().hex[:12]}"
        client = dynamodb_client(endpoint)
        assert create_table(table, client=client) is True

        def dynamodb_item(key_hash: str) -> dict[str, str] | None:
            answer = client.get_item(TableName=table, Key={"key_hash": {"S": key_hash}})
            item = answer.get("Item")
            return None if item is None else {k: v["S"] for k, v in item.items()}

        yield Backend(
            keep(get_store("dynamodb", table_name=table, endpoint_url=endpoint)),
            lambda: keep(DynamoDBPolicyStore(table, endpoint_url=endpoint)),
            dynamodb_item,
        )
        client.delete_table(TableName=table)
        client.close()

    for store in opened:
        store.close()


def record(document: dict[str, Any] = ANDES, **changes: Any) -> tuple[str, ClientRecord]:
    """A new key and a record of it with `document` (+ `changes`)."""
    issued = keys.new_key()
    policy = Policy.from_dict({**document, **changes})
    return issued.key, ClientRecord(issued.key_hash, issued.key_id, policy, created_at=CREATED)


def test_an_unknown_hash_has_no_record(backend: Backend) -> None:
    assert backend.store.get(keys.new_key().key_hash) is None


def test_a_malformed_hash_is_answered_without_asking_the_backend(backend: Backend) -> None:
    # GIVEN hashes no key can have (one would be a DynamoDB validation error if sent)
    for text in ("", "x" * 64, "A" * 64, "0" * 63, "0" * 4000):
        # WHEN / THEN there is simply no record and nothing to delete
        assert backend.store.get(text) is None
        assert backend.store.delete(text) is False


def test_a_record_round_trips_every_field(backend: Backend) -> None:
    # GIVEN a record with a rotation time
    _, stored = record()
    stored = ClientRecord(
        stored.key_hash, stored.key_id, stored.policy, created_at=CREATED, rotated_at=ROTATED
    )

    # WHEN it is put and read back, also by a store opened afresh
    backend.store.put(stored)
    read = backend.store.get(stored.key_hash)
    reread = backend.reopen().get(stored.key_hash)

    # THEN everything is as put, and the policy names its key
    assert read == stored
    assert reread == stored
    assert read is not None
    assert read.policy.key_id == stored.key_id
    assert read.policy.grant("all_orders_by_range") is not None
    assert (read.created_at, read.rotated_at) == (CREATED, ROTATED)


def test_the_stored_item_keeps_the_policy_as_json_and_copies_for_listing(
    backend: Backend,
) -> None:
    # GIVEN a stored record
    _, stored = record()
    backend.store.put(stored)

    # WHEN its raw item is read
    item = backend.raw_item(stored.key_hash)

    # THEN it holds the hash, the listing fields and the policy as one JSON string, no key
    assert item is not None
    assert {k: v for k, v in item.items() if k != "policy"} == {
        "key_hash": stored.key_hash,
        "key_id": stored.key_id,
        "client": "andes-express",
        "status": "active",
        "expires_at": "2030-12-31T00:00:00Z",
        "created_at": "2026-02-01T09:30:00Z",
    }
    assert json.loads(item["policy"])["scope"] == [1, 2, 3]
    assert json.loads(item["policy"])["key_id"] == stored.key_id


def test_put_replaces_the_record_of_the_same_hash(backend: Backend) -> None:
    # GIVEN a stored record
    _, stored = record()
    backend.store.put(stored)

    # WHEN it is put again, suspended
    suspended = ClientRecord(
        stored.key_hash, stored.key_id, Policy.from_dict({**ANDES, "status": "suspended"}), CREATED
    )
    backend.store.put(suspended)

    # THEN one record remains, suspended
    read = backend.store.get(stored.key_hash)
    assert read is not None
    assert read.status is Status.SUSPENDED
    assert len(backend.store.list()) == 1


def test_delete_removes_a_record_once(backend: Backend) -> None:
    _, stored = record()
    backend.store.put(stored)

    assert backend.store.delete(stored.key_hash) is True
    assert backend.store.delete(stored.key_hash) is False
    assert backend.store.get(stored.key_hash) is None


def test_list_orders_by_client_then_key_id(backend: Backend) -> None:
    # GIVEN three records of two clients, put in no particular order
    pacific = {**ANDES, "client": "pacific-cargo"}
    records = [record(pacific)[1], record()[1], record()[1]]
    for each in records:
        backend.store.put(each)

    # WHEN they are listed
    listed = backend.store.list()

    # THEN andes-express's two come first, by key id, then pacific-cargo's
    andes_ids = sorted(r.key_id for r in records if r.client == "andes-express")
    assert [(r.client, r.key_id) for r in listed] == [
        ("andes-express", andes_ids[0]),
        ("andes-express", andes_ids[1]),
        ("pacific-cargo", records[0].key_id),
    ]


def test_records_are_found_by_key_id_or_by_name(backend: Backend) -> None:
    # GIVEN andes-express with one key and pacific-cargo with two
    _, andes = record()
    _, pacific_one = record({**ANDES, "client": "pacific-cargo"})
    _, pacific_two = record({**ANDES, "client": "pacific-cargo"})
    for each in (andes, pacific_one, pacific_two):
        backend.store.put(each)

    # WHEN / THEN a key id or a one-key name finds its record; a two-key name is ambiguous
    assert backend.store.find(andes.key_id) == andes
    assert backend.store.find("andes-express") == andes
    assert backend.store.find(pacific_two.key_id) == pacific_two
    assert backend.store.find("pacific-cargo") is None
    assert len(backend.store.find_by_client("pacific-cargo")) == 2
    assert backend.store.find_by_key_id(andes.key_id) == andes
    assert backend.store.find("nobody") is None


def test_replace_swaps_keys_in_one_step(backend: Backend) -> None:
    # GIVEN a stored record and a new key for the same client
    _, old = record()
    _, new = record()
    backend.store.put(old)

    # WHEN the new one replaces the old one
    backend.store.replace(old.key_hash, new)

    # THEN only the new one exists
    assert backend.store.get(old.key_hash) is None
    assert backend.store.get(new.key_hash) == new
    assert [r.key_id for r in backend.store.list()] == [new.key_id]


def test_replacing_a_missing_record_changes_nothing(backend: Backend) -> None:
    # GIVEN no record under the old hash
    _, missing = record()
    _, new = record()

    # WHEN a replacement is attempted THEN it is refused and the new record is not stored
    with pytest.raises(ConflictError):
        backend.store.replace(missing.key_hash, new)
    assert backend.store.get(new.key_hash) is None


def test_a_malformed_record_is_refused_before_storing(backend: Backend) -> None:
    _, stored = record()

    with pytest.raises(ValueError, match="key id"):
        backend.store.put(ClientRecord(stored.key_hash, "KEY-1", stored.policy, CREATED))
    with pytest.raises(ValueError, match="key_hash"):
        backend.store.put(ClientRecord("not-a-hash", stored.key_id, stored.policy, CREATED))


def test_threads_read_and_write_at_once(backend: Backend) -> None:
    # GIVEN one record that every reader looks up
    _, shared = record()
    backend.store.put(shared)
    errors: list[BaseException] = []
    written: list[ClientRecord] = []

    def write(count: int) -> None:
        try:
            for _ in range(count):
                _, each = record()
                backend.store.put(each)
                written.append(each)
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    def read(count: int) -> None:
        try:
            for _ in range(count):
                assert backend.store.get(shared.key_hash) == shared
        except BaseException as error:
            errors.append(error)

    # WHEN three writers and three readers run together
    threads = [threading.Thread(target=write, args=(10,)) for _ in range(3)]
    threads += [threading.Thread(target=read, args=(20,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # THEN nothing failed and every write is there
    assert errors == []
    assert len(backend.store.list()) == 31
    assert all(backend.store.get(each.key_hash) == each for each in written)


def test_an_unreadable_stored_policy_is_reported_by_key_id(backend: Backend) -> None:
    # GIVEN a record whose policy JSON no longer parses (written around the store)
    _, stored = record()
    backend.store.put(stored)
    damaged = {**stored.to_item(), "policy": '{"client": "andes-express", "scope": []}'}
    corrupt(backend, damaged)

    # WHEN it is read THEN the error names the key id and the fault, not the hash
    with pytest.raises(Exception) as raised:
        backend.store.get(stored.key_hash)
    assert stored.key_id in str(raised.value)
    assert stored.key_hash not in str(raised.value)


def corrupt(backend: Backend, item: dict[str, str]) -> None:
    store = backend.store
    if isinstance(store, DynamoDBPolicyStore):
        store.client.put_item(
            TableName=store.table_name, Item={k: {"S": v} for k, v in item.items()}
        )
    else:
        assert isinstance(store, LocalPolicyStore)
        with store._connection() as connection:
            connection.execute(
                "UPDATE clients SET policy = ? WHERE key_hash = ?",
                (item["policy"], item["key_hash"]),
            )


# --- backend-specific failures -------------------------------------------------------------


def test_a_missing_dynamodb_table_is_a_store_error_naming_the_fix(moto_server: str) -> None:
    # GIVEN a store on a table that does not exist
    store = DynamoDBPolicyStore("no-such-clients-table", endpoint_url=moto_server)

    # WHEN it is read THEN the error says to create the table, and carries no hash
    key_hash = keys.new_key().key_hash
    with pytest.raises(PolicyStoreError) as raised:
        store.get(key_hash)
    store.close()
    assert "create-table" in raised.value.detail
    assert key_hash not in raised.value.detail
    assert raised.value.status == 503


def test_an_unreachable_dynamodb_is_a_store_error(moto_server: str) -> None:
    # GIVEN a store pointed at a closed port on 127.0.0.1
    store = DynamoDBPolicyStore("clients", endpoint_url="http://127.0.0.1:9")

    # WHEN / THEN reading fails as a store error naming only the error type
    with pytest.raises(PolicyStoreError, match="GetItem failed: EndpointConnectionError"):
        store.get(keys.new_key().key_hash)
    store.close()


def test_creating_an_existing_table_says_so(moto_server: str) -> None:
    client = dynamodb_client(moto_server)
    table = f"clients-{uuid.uuid4().hex[:12]}"

    assert create_table(table, client=client) is True
    assert create_table(table, client=client) is False
    client.delete_table(TableName=table)
    client.close()


def test_the_registry_refuses_an_unknown_store() -> None:
    with pytest.raises(ValueError, match="unknown policy store 'redis'; the stores are: "):
        get_store("redis")
