"""The cloud policy store: one DynamoDB table keyed by `key_hash` (a string).

Each item holds the policy as a JSON string attribute (`policy`) plus `key_id`, `client`,
`status` and `expires_at` copied out of it for listing, and `created_at` / `rotated_at`. The
authorizer reads one item per cache miss with `GetItem`.

Reads are eventually consistent (`ConsistentRead=False`): half the read cost and the lower
latency, and the staleness (typically well under a second, per the DynamoDB developer guide's
"Read consistency" page) is small beside the authorizer's own cache, which already lets a
revoked key live for up to `SERVING_AUTH_CACHE_SECONDS`. The one visible effect is that a key
created a moment ago may be refused for that moment.

The endpoint is boto3's own: AWS in the cloud, or whatever `AWS_ENDPOINT_URL` names (moto's
server in tests, DynamoDB Local on a laptop); no setting of ours is needed.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from serving_layer import config
from serving_layer.errors import ConflictError, PolicyStoreError
from serving_layer.stores import ClientRecord, PolicyStore

# The authorizer must answer well inside API Gateway's 30 s; a slow store is better refused
# (fail closed) than waited for. Standard retry mode retries throttling with backoff.
CLIENT_CONFIG = Config(
    connect_timeout=2, read_timeout=3, retries={"max_attempts": 3, "mode": "standard"}
)


class DynamoDBPolicyStore(PolicyStore):
    """Client records in the DynamoDB table `table_name` (else `SERVING_CLIENTS_TABLE`)."""

    name = "dynamodb"

    def __init__(
        self,
        table_name: str | None = None,
        client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
    ) -> None:
        self.table_name = config.CLIENTS_TABLE.get(table_name)
        self._owns_client = client is None
        self.client = client or dynamodb_client(endpoint_url, region_name)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def _get(self, key_hash: str) -> ClientRecord | None:
        with self._calls("GetItem"):
            answer = self.client.get_item(
                TableName=self.table_name,
                Key={"key_hash": {"S": key_hash}},
                ConsistentRead=False,
            )
        item = answer.get("Item")
        return None if item is None else ClientRecord.from_item(_plain(item))

    def _put(self, record: ClientRecord) -> None:
        with self._calls("PutItem"):
            self.client.put_item(TableName=self.table_name, Item=_typed(record.to_item()))

    def _delete(self, key_hash: str) -> bool:
        with self._calls("DeleteItem"):
            answer = self.client.delete_item(
                TableName=self.table_name,
                Key={"key_hash": {"S": key_hash}},
                ReturnValues="ALL_OLD",
            )
        return "Attributes" in answer

    def _replace(self, old_key_hash: str, record: ClientRecord) -> None:
        # One transaction, so a rotation never leaves both keys working or neither.
        put = {"Put": {"TableName": self.table_name, "Item": _typed(record.to_item())}}
        delete = {
            "Delete": {
                "TableName": self.table_name,
                "Key": {"key_hash": {"S": old_key_hash}},
                "ConditionExpression": "attribute_exists(key_hash)",
            }
        }
        try:
            with self._calls("TransactWriteItems"):
                self.client.transact_write_items(TransactItems=[put, delete])
        except _Cancelled:
            raise ConflictError(
                "the key being replaced no longer exists; list the clients and try again"
            ) from None

    def _list(self) -> builtins.list[ClientRecord]:
        records = []
        with self._calls("Scan"):
            for page in self.client.get_paginator("scan").paginate(TableName=self.table_name):
                records += [ClientRecord.from_item(_plain(item)) for item in page["Items"]]
        return records

    @contextmanager
    def _calls(self, action: str) -> Iterator[None]:
        """Turn boto errors into PolicyStoreError, keeping only the error code: a message may
        echo request values, and a key hash must never reach a log."""
        try:
            yield
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "ClientError")
            if code == "TransactionCanceledException":
                raise _Cancelled from None
            if code == "ResourceNotFoundException":
                raise PolicyStoreError(
                    f"the DynamoDB table {self.table_name!r} does not exist; create it with "
                    f"`serving-layer clients --store dynamodb --table {self.table_name} "
                    "create-table`"
                ) from None
            raise PolicyStoreError(f"DynamoDB {action} failed: {code}") from None
        except BotoCoreError as error:
            raise PolicyStoreError(f"DynamoDB {action} failed: {type(error).__name__}") from None


class _Cancelled(Exception):
    """A transaction's condition failed."""


def dynamodb_client(endpoint_url: str | None = None, region_name: str | None = None) -> Any:
    """A DynamoDB client; without `endpoint_url`, boto3 reads `AWS_ENDPOINT_URL` itself."""
    try:
        return boto3.client(
            "dynamodb", endpoint_url=endpoint_url, region_name=region_name, config=CLIENT_CONFIG
        )
    except NoRegionError:
        raise PolicyStoreError(
            "no AWS region is set for DynamoDB; set AWS_REGION (or AWS_DEFAULT_REGION)"
        ) from None


def create_table(
    table_name: str | None = None, client: Any = None, endpoint_url: str | None = None
) -> bool:
    """Create the clients table (on-demand capacity) and wait until it is active.

    For the command line, the tests and the benchmark; the cloud stack declares its own table
    in the template. Whether it was created (False when it already existed).
    """
    table_name = config.CLIENTS_TABLE.get(table_name)
    client = client or dynamodb_client(endpoint_url)
    try:
        client.create_table(
            TableName=table_name,
            AttributeDefinitions=[{"AttributeName": "key_hash", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "key_hash", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceInUseException":
            return False
        raise PolicyStoreError(
            f"could not create the DynamoDB table {table_name!r}: "
            f"{error.response.get('Error', {}).get('Code', 'ClientError')}"
        ) from None
    client.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    return True


def _typed(item: dict[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"S": value} for name, value in item.items()}


def _plain(item: dict[str, dict[str, str]]) -> dict[str, str]:
    return {name: value["S"] for name, value in item.items() if "S" in value}
