"""The cloud writer: Athena DML, Iceberg metadata found through Glue in S3, audit in DynamoDB.

What is emulated: Athena has no local implementation, so its API is botocore's `Stubber`, which
checks every request the writer sends (statement text, parameters as Trino literals, workgroup,
database) and answers as Athena does. Glue, S3 and DynamoDB are moto's server on 127.0.0.1,
reached over real HTTP. The Iceberg commit Athena would make is emulated by replacing the
table's metadata file in S3 while the writer waits for the statement.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from manage_events import trackcode
from serving_layer import audit, dml, model
from serving_layer.errors import (
    EngineTimeoutError,
    PayloadTooLargeError,
    RowsExistError,
    WriteFailedError,
)
from serving_layer.history import GlueHistory
from serving_layer.policy import Operation
from serving_layer.rows import validate_rows
from serving_layer.writers import Actor, Change
from serving_layer.writers.athena import AthenaWriter

TRACKCODE = model.TABLES["trackcode"]
DATABASE = "lake_manage_test"
BUCKET = "manage-test-lake"
AUDIT_TABLE = "manage-audit-test"
METADATA_KEY = "trackcode/metadata/current.metadata.json"
ACTOR = Actor("andes-express", "sk_andes01", "req-7")

# 2025-03-01T00:00:00Z and a minute later, in epoch milliseconds.
FIRST = {"snapshot-id": 111, "timestamp-ms": 1740787200000, "summary": {"operation": "append"}}
SECOND = {
    "snapshot-id": 222,
    "parent-snapshot-id": 111,
    "timestamp-ms": 1740787260000,
    "summary": {"operation": "append"},
}


def _metadata(*snapshots: dict[str, Any]) -> bytes:
    document = {
        "format-version": 2,
        "current-snapshot-id": snapshots[-1]["snapshot-id"],
        "snapshots": list(snapshots),
    }
    return json.dumps(document).encode()


@pytest.fixture
def aws(moto_server: str) -> Iterator[dict[str, Any]]:
    """Glue, S3 and DynamoDB clients on moto, with the trackcode table at its first snapshot."""
    clients = {
        name: boto3.client(name, endpoint_url=moto_server) for name in ("glue", "s3", "dynamodb")
    }
    clients["s3"].create_bucket(Bucket=BUCKET)
    clients["s3"].put_object(Bucket=BUCKET, Key=METADATA_KEY, Body=_metadata(FIRST))
    clients["glue"].create_database(DatabaseInput={"Name": DATABASE})
    clients["glue"].create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": "trackcode",
            "Parameters": {
                "table_type": "ICEBERG",
                "metadata_location": f"s3://{BUCKET}/{METADATA_KEY}",
            },
        },
    )
    clients["dynamodb"].create_table(
        TableName=AUDIT_TABLE,
        KeySchema=[
            {"AttributeName": "table_name", "KeyType": "HASH"},
            {"AttributeName": "recorded", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "table_name", "AttributeType": "S"},
            {"AttributeName": "recorded", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    yield clients
    clients["glue"].delete_database(Name=DATABASE)
    clients["dynamodb"].delete_table(TableName=AUDIT_TABLE)
    for item in clients["s3"].list_objects_v2(Bucket=BUCKET).get("Contents", []):
        clients["s3"].delete_object(Bucket=BUCKET, Key=item["Key"])
    clients["s3"].delete_bucket(Bucket=BUCKET)


class Athena:
    """A stubbed Athena client and the writer that uses it."""

    def __init__(self, aws: Mapping[str, Any], deadline: float = 25.0) -> None:
        self.client = boto3.client("athena")
        self.stubber = Stubber(self.client)
        self.aws = aws
        self.commit_on_wait: bytes | None = None
        self.writer = AthenaWriter(
            self.client,
            workgroup="serving-layer",
            catalog="AwsDataCatalog",
            database=DATABASE,
            deadline_seconds=deadline,
            metadata=GlueHistory(DATABASE, glue=aws["glue"], s3=aws["s3"]),
            audit_log=audit.DynamoDBAuditLog(AUDIT_TABLE, aws["dynamodb"]),
            sleep=self._wait,
        )

    def _wait(self, _: float) -> None:
        # While the writer waits on a statement, Athena commits: the new metadata lands in S3.
        if self.commit_on_wait is not None:
            self.aws["s3"].put_object(Bucket=BUCKET, Key=METADATA_KEY, Body=self.commit_on_wait)
            self.commit_on_wait = None

    def expect(self, statement: dml.Statement, literals: list[str], query_id: str) -> None:
        request: dict[str, Any] = {
            "QueryString": statement.sql,
            "ClientRequestToken": ANY,
            "WorkGroup": "serving-layer",
            "QueryExecutionContext": {"Database": DATABASE, "Catalog": "AwsDataCatalog"},
            "ExecutionParameters": literals,
        }
        self.stubber.add_response("start_query_execution", {"QueryExecutionId": query_id}, request)

    def finish(self, query_id: str, state: str = "SUCCEEDED") -> None:
        status: dict[str, Any] = {"State": state}
        if state == "FAILED":
            status["AthenaError"] = {"ErrorCategory": 2, "ErrorType": 1002}
        self.stubber.add_response(
            "get_query_execution",
            {"QueryExecution": {"QueryExecutionId": query_id, "Status": status}},
            {"QueryExecutionId": query_id},
        )

    def results(self, query_id: str, rows: list[list[str | None]]) -> None:
        names = list(TRACKCODE.column_names)
        types = [dml.TRINO_TYPES[c.type] for c in TRACKCODE.columns]
        data = [[{"VarCharValue": n} for n in names]] + [
            [{} if v is None else {"VarCharValue": v} for v in row] for row in rows
        ]
        self.stubber.add_response(
            "get_query_results",
            {
                "ResultSet": {
                    "Rows": [{"Data": d} for d in data],
                    "ResultSetMetadata": {
                        "ColumnInfo": [
                            {"Name": n, "Type": t.split("(")[0]}
                            for n, t in zip(names, types, strict=True)
                        ]
                    },
                }
            },
            {"QueryExecutionId": query_id, "MaxResults": 1000},
        )


def _accept(_: Mapping[Any, Any]) -> None:
    """A check that accepts every change."""


def _audit_items(aws: Mapping[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = aws["dynamodb"].scan(TableName=AUDIT_TABLE)["Items"]
    return items


def test_the_glue_history_reads_the_metadata_file_in_s3(aws: dict[str, Any]) -> None:
    aws["s3"].put_object(Bucket=BUCKET, Key=METADATA_KEY, Body=_metadata(FIRST, SECOND))

    history = GlueHistory(DATABASE, glue=aws["glue"], s3=aws["s3"]).history("trackcode")

    assert history.current_id == 222
    assert [(s.snapshot_id, s.parent_id, s.operation) for s in history.snapshots] == [
        (111, None, "append"),
        (222, 111, "append"),
    ]
    assert history.snapshots[1].committed_at == datetime(2025, 3, 1, 0, 1)


def test_an_insert_reads_the_keys_then_inserts_and_records_the_audit(aws: dict[str, Any]) -> None:
    # GIVEN two new trackcodes, and Athena that finds neither stored
    athena = Athena(aws)
    rows = validate_rows(TRACKCODE, [trackcode(2001, 101), trackcode(2002, 102)])
    athena.expect(dml.select_by_keys(TRACKCODE, [2001, 2002]), ["2001", "2002"], "q-read")
    athena.finish("q-read")
    athena.results("q-read", [])

    # AND the INSERT it runs, every value a Trino literal, hand-written here
    one = [
        "TIMESTAMP '2025-03-02 10:00:00.000000'",
        "false",
        "'Calle {0} #1-2'",
        "'Carrera {0} #3-4'",
        "1",
        "'books'",
        "10.5E0",
        "1",
        "1.0E0",
        "NULL",
        "NULL",
    ]
    literals = ["2001", *(v.format(2001) for v in one), "101"]
    literals += ["2002", *(v.format(2002) for v in one), "102"]
    athena.expect(dml.insert(TRACKCODE, rows), literals, "q-write")
    athena.commit_on_wait = _metadata(FIRST, SECOND)
    athena.finish("q-write")

    # WHEN the insert is written
    with athena.stubber:
        result = athena.writer.write(
            Change(TRACKCODE, Operation.INSERT, tuple(rows)), ACTOR, _accept
        )
        athena.stubber.assert_no_pending_responses()

    # THEN it reports the snapshots before and after, and the audit holds the same
    assert (result.snapshot_before, result.snapshot_after, result.inserted) == (111, 222, 2)
    assert result.extra["query_id"] == "q-write"
    [item] = _audit_items(aws)
    assert {k: next(iter(v.values())) for k, v in item.items()} == {
        "table_name": "trackcode",
        "recorded": item["recorded"]["S"],
        "operation": "insert",
        "client": "andes-express",
        "key_id": "sk_andes01",
        "request_id": "req-7",
        "rows": "2",
        "snapshot_before": "111",
        "snapshot_after": "222",
    }
    records = athena.writer.audit_log.records("trackcode", 10)
    assert records[222].snapshot_before == 111


def test_stored_rows_come_back_typed(aws: dict[str, Any]) -> None:
    athena = Athena(aws)
    athena.expect(dml.select_by_keys(TRACKCODE, [1001]), ["1001"], "q-read")
    athena.finish("q-read")
    stored = [
        "1001",
        "2025-03-01 00:00:00.000",
        "true",
        "Calle 1",
        None,
        "2",
        "books",
        "11.0",
        "1",
        "1.25",
        None,
        None,
        "101",
    ]
    athena.results("q-read", [stored])

    with athena.stubber:
        found = athena.writer.read(TRACKCODE, [1001])

    assert found == {
        1001: {
            "id": 1001,
            "creation": datetime(2025, 3, 1),
            "crossdocking": True,
            "pickup_address": "Calle 1",
            "drop_address": None,
            "service_id": 2,
            "product_description": "books",
            "product_price": 11.0,
            "product_size_id": 1,
            "product_weight": 1.25,
            "pickup_point": None,
            "drop_point": None,
            "client_id": 101,
        }
    }


def test_a_refused_check_runs_no_statement(aws: dict[str, Any]) -> None:
    athena = Athena(aws)
    rows = validate_rows(TRACKCODE, [trackcode(2001, 101)])
    athena.expect(dml.select_by_keys(TRACKCODE, [2001]), ["2001"], "q-read")
    athena.finish("q-read")
    athena.results("q-read", [["2001", "2025-03-02 10:00:00.000", *[None] * 10, "101"]])

    def refuse(stored: Mapping[Any, Any]) -> None:
        raise RowsExistError(f"exists: {sorted(stored)}")

    with athena.stubber, pytest.raises(RowsExistError, match=r"\[2001\]"):
        athena.writer.write(Change(TRACKCODE, Operation.INSERT, tuple(rows)), ACTOR, refuse)
    athena.stubber.assert_no_pending_responses()  # no INSERT was started
    assert _audit_items(aws) == []


def test_a_failed_statement_is_a_503_with_no_audit(aws: dict[str, Any]) -> None:
    athena = Athena(aws)
    athena.expect(dml.select_by_keys(TRACKCODE, [1001]), ["1001"], "q-read")
    athena.finish("q-read")
    athena.results("q-read", [["1001", "2025-03-01 00:00:00.000", *[None] * 10, "101"]])
    athena.expect(dml.delete(TRACKCODE, 1001), ["1001"], "q-delete")
    athena.finish("q-delete", "FAILED")

    with athena.stubber, pytest.raises(WriteFailedError) as error:
        athena.writer.write(Change(TRACKCODE, Operation.DELETE, key=1001), ACTOR, _accept)
    assert error.value.status == 503
    assert error.value.extensions == {"query_id": "q-delete"}
    assert _audit_items(aws) == []


def test_an_update_sets_only_the_columns_that_differ(aws: dict[str, Any]) -> None:
    athena = Athena(aws)
    athena.expect(dml.select_by_keys(TRACKCODE, [1001]), ["1001"], "q-read")
    athena.finish("q-read")
    stored = ["1001", "2025-03-01 00:00:00.000", "false", "Calle 1", None, "2"]
    athena.results("q-read", [[*stored, None, None, None, None, None, None, "101"]])
    patch = {"pickup_address": "Calle 1", "drop_address": "Carrera 9"}  # only the second differs
    athena.expect(
        dml.update(TRACKCODE, 1001, {"drop_address": "Carrera 9"}), ["'Carrera 9'", "1001"], "q-up"
    )
    athena.commit_on_wait = _metadata(FIRST, SECOND)
    athena.finish("q-up")

    with athena.stubber:
        result = athena.writer.write(
            Change(TRACKCODE, Operation.UPDATE, key=1001, patch=patch), ACTOR, _accept
        )
    assert result.updated == 1 and result.row is not None
    assert result.row["drop_address"] == "Carrera 9"


def test_a_statement_still_running_at_the_deadline_is_a_504_with_its_query_id(
    aws: dict[str, Any],
) -> None:
    # GIVEN a deadline shorter than the first poll's wait
    athena = Athena(aws, deadline=0.01)
    athena.expect(dml.select_by_keys(TRACKCODE, [5]), ["5"], "q-slow")

    with athena.stubber, pytest.raises(EngineTimeoutError) as error:
        athena.writer.read(TRACKCODE, [5])
    assert error.value.status == 504
    assert error.value.extensions == {"query_id": "q-slow"}


def test_a_batch_too_large_for_one_statement_is_a_413(aws: dict[str, Any]) -> None:
    # GIVEN 5,000 trackcodes with long descriptions, each bound as seven pieces: the INSERT's
    # text takes some 100 bytes a row, over Athena's 262,144 bytes
    athena = Athena(aws)
    batch = [trackcode(10_000 + i, 101) | {"product_description": "x" * 3000} for i in range(5000)]
    rows = validate_rows(TRACKCODE, batch)
    keys = [row["id"] for row in rows]
    for start in range(0, 5000, 1000):
        chunk = keys[start : start + 1000]
        athena.expect(dml.select_by_keys(TRACKCODE, chunk), [str(k) for k in chunk], f"q{start}")
        athena.finish(f"q{start}")
        athena.results(f"q{start}", [])

    with athena.stubber, pytest.raises(PayloadTooLargeError) as error:
        athena.writer.write(Change(TRACKCODE, Operation.INSERT, tuple(rows)), ACTOR, _accept)
    assert error.value.status == 413
    assert 0 < error.value.extensions["max_rows"] < 5000
