"""The stack's tables are created from the data model and checked against it in Glue.

Athena and Glue are moto's, over real HTTP. Moto executes no SQL, so the Glue tables Athena's
DDL would create are written into moto's Glue by the test, with the columns Athena gives them.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from athena_emulator import AthenaEmulator
from serving_layer import model
from serving_layer.cloud.stack import StackOutputs
from serving_layer.cloud.tables import SchemaDriftError, create_statements, create_tables

WAREHOUSE = "s3://lake-bucket/warehouse"


def test_there_is_one_create_statement_per_table_written_by_the_model() -> None:
    statements = create_statements("serving_lake_dev", WAREHOUSE)

    assert statements == [
        model.athena_ddl(tbl, "serving_lake_dev", WAREHOUSE) for tbl in model.TABLES.values()
    ]
    assert len(statements) == 8


def test_only_trackcode_is_partitioned_and_by_day_of_creation() -> None:
    statements = dict(
        zip(model.TABLES, create_statements("serving_lake_dev", WAREHOUSE), strict=True)
    )

    partitioned = {name for name, sql in statements.items() if "PARTITIONED BY" in sql}
    assert partitioned == {"trackcode"}
    assert "PARTITIONED BY (day(`creation`))" in statements["trackcode"]
    for name, sql in statements.items():
        assert sql.startswith(f"CREATE TABLE IF NOT EXISTS `serving_lake_dev`.`{name}` (")
        assert f"LOCATION 's3://lake-bucket/warehouse/{name}/'" in sql
        assert "'table_type'='ICEBERG'" in sql


def glue_columns(tbl: model.Table) -> list[dict[str, str]]:
    return [{"Name": c.name, "Type": c.type.ddl} for c in tbl.columns]


def outputs(emulator: AthenaEmulator, database: str) -> StackOutputs:
    return StackOutputs(
        ApiUrl="https://api.example",
        ClientsTableName="clients",
        IdempotencyTableName="idempotency",
        AuditTableName="audit",
        LakeBucketName="lake-bucket",
        ResultsBucketName="results-bucket",
        AccessLogBucketName="log-bucket",
        AthenaWorkGroupName=emulator.workgroup,
        GlueDatabaseName=database,
    )


def glue_as_athena_leaves_it(moto_server: str, database: str, columns: dict[str, Any]) -> Any:
    glue = boto3.client("glue", endpoint_url=moto_server)
    glue.create_database(DatabaseInput={"Name": database})
    for name, listed in columns.items():
        glue.create_table(
            DatabaseName=database,
            TableInput={"Name": name, "StorageDescriptor": {"Columns": listed}},
        )
    return glue


def test_creating_the_tables_runs_every_ddl_in_the_stacks_workgroup(moto_server: str) -> None:
    # GIVEN the stack's database, with tables as Athena's DDL leaves them
    emulator = AthenaEmulator(moto_server)
    columns = {name: glue_columns(tbl) for name, tbl in model.TABLES.items()}
    glue = glue_as_athena_leaves_it(moto_server, "lake_ok", columns)

    # WHEN the tables are created
    create_tables(outputs(emulator, "lake_ok"), athena=emulator.client, glue=glue)

    # THEN each table's DDL ran, in the lake's database and the stack's workgroup
    executions = emulator.executions()
    assert [e["Query"] for e in executions] == create_statements(
        "lake_ok", "s3://lake-bucket/warehouse"
    )
    assert {e["QueryExecutionContext"]["Database"] for e in executions} == {"lake_ok"}


def test_a_table_left_by_an_older_model_is_reported_column_by_column(moto_server: str) -> None:
    # GIVEN a lake whose orders table lacks end_time and whose route price is text
    emulator = AthenaEmulator(moto_server)
    columns = {name: glue_columns(tbl) for name, tbl in model.TABLES.items()}
    columns["orders"] = [c for c in columns["orders"] if c["Name"] != "end_time"]
    columns["route"] = [
        {**c, "Type": "string"} if c["Name"] == "price_official" else c for c in columns["route"]
    ]
    glue = glue_as_athena_leaves_it(moto_server, "lake_old", columns)

    # WHEN the tables are created, THEN both differences are named with what to do
    with pytest.raises(SchemaDriftError) as drift:
        create_tables(outputs(emulator, "lake_old"), athena=emulator.client, glue=glue)

    message = str(drift.value)
    assert "table route: price_official is string, the model says double" in message
    assert "table orders: missing end_time" in message
    assert "ALTER TABLE" in message
    assert "table trackcode" not in message
