"""Idempotency-Key: a retry answers the first answer and runs nothing twice, on SQLite locally
and on DynamoDB (moto's server on 127.0.0.1, over real HTTP) as in the cloud."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    DynamoDBPersistenceLayer,
)

from serving_layer import idempotency
from serving_layer.errors import (
    BadRequestError,
    IdempotencyKeyReusedError,
    NotFoundError,
    RequestInProgressError,
)
from serving_layer.idempotency import SQLitePersistenceLayer, run_once

BODY = {"rows": [{"id": 1, "name": "standard"}]}


class Counter:
    """An operation that counts its runs and answers which run it was."""

    def __init__(self, wait: float = 0.0) -> None:
        self.runs = 0
        self.wait = wait

    def __call__(self) -> dict[str, Any]:
        self.runs += 1
        time.sleep(self.wait)
        return {"status": 201, "body": {"run": self.runs}}


def _once(
    store: BasePersistenceLayer,
    operation: Callable[[], dict[str, Any]],
    *,
    client: str = "andes-express",
    key: str = "k-1",
    route: str = "POST trackcode",
    body: Any = BODY,
) -> tuple[dict[str, Any], bool]:
    return run_once(store, client=client, key=key, route=route, body=body, operation=operation)


@pytest.fixture
def store(tmp_path: Path) -> SQLitePersistenceLayer:
    return SQLitePersistenceLayer(tmp_path / "idempotency.db")


def test_a_retry_answers_the_first_answer_without_running_again(
    store: SQLitePersistenceLayer,
) -> None:
    operation = Counter()

    first = _once(store, operation)
    second = _once(store, operation)

    assert first == ({"status": 201, "body": {"run": 1}}, False)
    assert second == ({"status": 201, "body": {"run": 1}}, True)
    assert operation.runs == 1


def test_equal_json_with_other_spacing_or_key_order_is_the_same_body(
    store: SQLitePersistenceLayer,
) -> None:
    operation = Counter()
    _once(store, operation, body={"rows": [{"id": 1, "name": "standard"}]})
    _, replayed = _once(store, operation, body={"rows": [{"name": "standard", "id": 1}]})
    assert replayed and operation.runs == 1


def test_another_body_under_the_key_is_refused(store: SQLitePersistenceLayer) -> None:
    operation = Counter()
    _once(store, operation)

    with pytest.raises(IdempotencyKeyReusedError) as error:
        _once(store, operation, body={"rows": [{"id": 2, "name": "express"}]})
    assert error.value.status == 422
    assert operation.runs == 1


def test_keys_belong_to_one_client_and_one_route(store: SQLitePersistenceLayer) -> None:
    operation = Counter()
    _once(store, operation)
    _once(store, operation, client="pacific-cargo")  # another client's key
    _once(store, operation, route="PUT trackcode")  # another route
    _once(store, operation, route="POST orders")  # another table
    assert operation.runs == 4


def test_a_failure_leaves_no_record_so_the_retry_runs(store: SQLitePersistenceLayer) -> None:
    def fails() -> dict[str, Any]:
        raise NotFoundError("no such row")

    with pytest.raises(NotFoundError):
        _once(store, fails)

    operation = Counter()
    assert _once(store, operation) == ({"status": 201, "body": {"run": 1}}, False)


def test_a_concurrent_duplicate_is_told_to_wait(store: SQLitePersistenceLayer) -> None:
    # GIVEN a request still running under a key
    operation = Counter(wait=0.5)
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(_once(store, operation)))
    first.start()
    time.sleep(0.1)

    # WHEN its duplicate arrives meanwhile, THEN it is a 409 and does not run
    with pytest.raises(RequestInProgressError) as error:
        _once(store, operation)
    first.join()
    assert error.value.status == 409
    assert operation.runs == 1 and answers == [({"status": 201, "body": {"run": 1}}, False)]


def test_an_expired_record_no_longer_replays(store: SQLitePersistenceLayer) -> None:
    operation = Counter()
    _once(store, operation)

    # GIVEN the stored record past its expiry (written straight into the file)
    with sqlite3.connect(store.path) as connection:
        connection.execute("UPDATE idempotency SET expiration = ?", (int(time.time()) - 10,))

    # THEN the same request runs again
    assert _once(store, operation) == ({"status": 201, "body": {"run": 2}}, False)


@pytest.mark.parametrize("key", ["", "a b", "ключ", "x" * 256])
def test_keys_are_printable_ascii_of_bounded_length(key: str) -> None:
    with pytest.raises(BadRequestError):
        idempotency.check_key(key)


def test_the_dynamodb_store_behaves_the_same(moto_server: str) -> None:
    # GIVEN the cloud's store on a DynamoDB table (moto's server, real HTTP)
    client = boto3.client("dynamodb", endpoint_url=moto_server)
    client.create_table(
        TableName="manage-idempotency-test",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    store = DynamoDBPersistenceLayer(table_name="manage-idempotency-test", boto3_client=client)
    operation = Counter()

    # WHEN a request is sent twice, then once more with another body
    first = _once(store, operation)
    second = _once(store, operation)
    with pytest.raises(IdempotencyKeyReusedError):
        _once(store, operation, body={"rows": []})

    # THEN it ran once and replayed once
    assert first == ({"status": 201, "body": {"run": 1}}, False)
    assert second == ({"status": 201, "body": {"run": 1}}, True)
    assert operation.runs == 1
