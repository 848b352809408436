"""Seeding the cloud lake: the plan's SQL, its day windows, and a whole run against moto.

The whole run is real from the hand-made Iceberg lake (tests/fixture_lake.py) through pyiceberg,
Parquet and boto3 to moto's S3 and Athena over HTTP. Emulated: Athena executes no SQL, so the
answer of every statement is queued by the test in the order they start (moto hands queued
answers out at StartQueryExecution): nothing for the DDL and DML, and for each count the
sample's row count written out here.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
import trino_query_parser

from athena_emulator import AthenaEmulator
from serving_layer import model
from serving_layer.cloud.seed import (
    SeedMismatchError,
    TableLoad,
    day_windows,
    plan,
    seed,
)
from serving_layer.cloud.stack import StackOutputs

# Rows per table of tests/fixture_lake.py, counted by hand from its row lists.
FIXTURE_ROWS = {
    "country": 1,
    "city": 2,
    "client": 3,
    "service": 2,
    "product_size": 1,
    "route": 3,
    "trackcode": 11,
    "orders": 12,
}


def trackcode_load() -> TableLoad:
    windows = ((datetime(2025, 1, 1), datetime(2025, 3, 31)),)
    return TableLoad(model.TABLES["trackcode"], "20250101000000_abcd", 5, windows)


def test_day_windows_cover_whole_utc_days_in_steps_of_at_most_90() -> None:
    # GIVEN instants from 2025-01-01 10:00 to 2025-06-30 23:59:59 (181 days, 1 Jan to 30 Jun)
    windows = day_windows(datetime(2025, 1, 1, 10), datetime(2025, 6, 30, 23, 59, 59))

    # THEN three windows: 90 days, 90 days, then the last 1 day, from midnight to midnight
    assert windows == (
        (datetime(2025, 1, 1), datetime(2025, 4, 1)),
        (datetime(2025, 4, 1), datetime(2025, 6, 30)),
        (datetime(2025, 6, 30), datetime(2025, 7, 1)),
    )


def test_a_single_instant_gets_the_window_of_its_day() -> None:
    instant = datetime(2025, 3, 1, 0, 0, 0)

    assert day_windows(instant, instant) == ((datetime(2025, 3, 1), datetime(2025, 3, 2)),)


def test_the_copy_statements_parse_under_trinos_grammar() -> None:
    statements = plan(trackcode_load(), "serving_lake_dev", "lake-bucket")

    for sql in [statements.delete_target, *statements.inserts, statements.count_target]:
        trino_query_parser.parse_statement(sql)


def test_a_partitioned_table_is_copied_window_by_window_with_every_column_named() -> None:
    statements = plan(trackcode_load(), "serving_lake_dev", "lake-bucket")

    (insert,) = statements.inserts
    columns = ", ".join(f'"{c}"' for c in model.TABLES["trackcode"].column_names)
    assert insert == (
        f'INSERT INTO "serving_lake_dev"."trackcode" ({columns}) SELECT {columns} '
        'FROM "serving_lake_dev"."seed_20250101000000_abcd_trackcode" '
        "WHERE \"creation\" >= TIMESTAMP '2025-01-01 00:00:00' "
        "AND \"creation\" < TIMESTAMP '2025-03-31 00:00:00'"
    )
    assert statements.delete_target == 'DELETE FROM "serving_lake_dev"."trackcode"'


def test_the_staging_table_reads_the_uploaded_parquet_with_the_models_types() -> None:
    load = TableLoad(model.TABLES["service"], "20250101000000_abcd", 2)

    statements = plan(load, "serving_lake_dev", "lake-bucket")

    assert statements.create_staging == (
        "CREATE EXTERNAL TABLE `serving_lake_dev`.`seed_20250101000000_abcd_service` (\n"
        "  `id` int,\n"
        "  `name` string\n"
        ")\n"
        "STORED AS PARQUET\n"
        "LOCATION 's3://lake-bucket/staging/20250101000000_abcd/service/'"
    )
    assert statements.drop_staging == (
        "DROP TABLE IF EXISTS `serving_lake_dev`.`seed_20250101000000_abcd_service`"
    )
    assert statements.inserts == (
        'INSERT INTO "serving_lake_dev"."service" ("id", "name") '
        'SELECT "id", "name" FROM "serving_lake_dev"."seed_20250101000000_abcd_service"',
    )


@pytest.mark.parametrize(
    ("database", "bucket"), [("lake`; DROP", "lake-bucket"), ("lake", "b'ucket")]
)
def test_names_that_could_break_out_of_their_quotes_are_refused(database: str, bucket: str) -> None:
    with pytest.raises(ValueError, match="not a Glue database and S3 bucket name"):
        plan(trackcode_load(), database, bucket)


def queue_answers(emulator: AthenaEmulator, count: int) -> None:
    """Answer one table's load: create, delete, one copy (one window at most here), count, drop."""
    for _ in range(3):
        emulator.queue_raw([], [])
    emulator.queue([("_col0", "bigint")], [[count]])
    emulator.queue_raw([], [])


def stack_of(emulator: AthenaEmulator, bucket: str) -> StackOutputs:
    return StackOutputs(
        ApiUrl="https://api.example",
        ClientsTableName="clients",
        IdempotencyTableName="idempotency",
        AuditTableName="audit",
        LakeBucketName=bucket,
        ResultsBucketName="results-bucket",
        AccessLogBucketName="log-bucket",
        AthenaWorkGroupName=emulator.workgroup,
        GlueDatabaseName="serving_lake_dev",
    )


def versioned_bucket(moto_server: str, name: str) -> Any:
    s3 = boto3.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return s3


def test_a_seed_copies_every_sample_table_and_leaves_no_staging_behind(
    moto_server: str, fixture_lake: Path
) -> None:
    # GIVEN the stack's Athena answering each count with the sample's own row count, and a
    # versioned lake bucket (so what was uploaded can still be read after its deletion)
    emulator = AthenaEmulator(moto_server)
    for table in model.TABLES:
        queue_answers(emulator, FIXTURE_ROWS[table])
    s3 = versioned_bucket(moto_server, "seed-lake")

    # WHEN the sample lake is seeded
    counts = seed(
        stack_of(emulator, "seed-lake"),
        warehouse_path=fixture_lake,
        namespace="lake",
        athena=emulator.client,
        s3=s3,
    )

    # THEN every table was copied with all its rows
    assert counts == FIXTURE_ROWS

    # AND each table ran: create staging, delete target, copy, count, drop staging, in order
    verbs = [e["Query"].split()[0] for e in emulator.executions()]
    assert verbs == ["CREATE", "DELETE", "INSERT", "SELECT", "DROP"] * len(model.TABLES)

    # AND the trackcodes (2025-02-28 23:59:59 to 2025-03-05 10:00) went in one day window
    queries = [e["Query"] for e in emulator.executions()]
    (trackcode_insert,) = [q for q in queries if q.startswith('INSERT INTO "serving_lake_dev"."t')]
    assert trackcode_insert.endswith(
        "WHERE \"creation\" >= TIMESTAMP '2025-02-28 00:00:00' "
        "AND \"creation\" < TIMESTAMP '2025-03-06 00:00:00'"
    )

    # AND the staging files are gone, after holding the model's columns and the sample's rows
    listing = s3.list_object_versions(Bucket="seed-lake", Prefix="staging/")
    assert "Contents" not in s3.list_objects_v2(Bucket="seed-lake")
    (upload,) = [
        v for v in listing["Versions"] if v["Key"].endswith("/trackcode/part-00000.parquet")
    ]
    body = s3.get_object(Bucket="seed-lake", Key=upload["Key"], VersionId=upload["VersionId"])
    data = pq.read_table(io.BytesIO(body["Body"].read()))
    assert data.column_names == list(model.TABLES["trackcode"].column_names)
    assert data.num_rows == 11


def test_a_count_that_differs_from_the_sample_fails_the_seed_after_cleaning_up(
    moto_server: str, fixture_lake: Path
) -> None:
    # GIVEN an Athena that counts one service too few after the copy
    emulator = AthenaEmulator(moto_server)
    queue_answers(emulator, 1)
    s3 = versioned_bucket(moto_server, "seed-short")

    # WHEN the service table is seeded, THEN the seed says what differs
    with pytest.raises(SeedMismatchError, match="service holds 1 rows after the copy, the sample"):
        seed(
            stack_of(emulator, "seed-short"),
            warehouse_path=fixture_lake,
            namespace="lake",
            athena=emulator.client,
            s3=s3,
            tables=["service"],
        )

    # AND the staging table was dropped and its file deleted all the same
    assert emulator.executions()[-1]["Query"].startswith("DROP TABLE IF EXISTS")
    assert "Contents" not in s3.list_objects_v2(Bucket="seed-short")
