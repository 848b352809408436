"""Creates the lake's Iceberg tables in the deployed stack, from the data model, through Athena.

Why here and not in template.yaml: `trackcode` is partitioned by day of `creation`, a hidden
Iceberg partition transform. Athena's `CREATE TABLE … PARTITIONED BY (day(creation))` declares
it (`model.athena_ddl`, the same text the tests read); a Glue table in the template would need
CloudFormation's newer Iceberg table input, which this project cannot exercise offline. The
tables live in the stack's Glue database, so deleting the stack deletes them.

`make deploy` runs this right after `sam deploy`. It is idempotent (`CREATE TABLE IF NOT
EXISTS`), and it then compares every table's columns in Glue with the model: a table created by
an older model is reported, not silently kept, since `IF NOT EXISTS` cannot change it.

    python -m serving_layer.cloud.tables --stack serving-layer-dev      # create and verify
    python -m serving_layer.cloud.tables --print --database lake --bucket my-bucket  # DDL only
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

import boto3

from serving_layer import config, model
from serving_layer.cloud.stack import StackError, StackOutputs, stack_outputs
from serving_layer.cloud.statements import StatementFailedError, StatementRunner

logger = logging.getLogger(__name__)


class SchemaDriftError(RuntimeError):
    """A table in Glue has other columns than the data model says."""


def create_statements(database: str, warehouse: str) -> list[str]:
    """One `CREATE TABLE IF NOT EXISTS` per table of the model, in the model's order."""
    return [model.athena_ddl(tbl, database, warehouse) for tbl in model.TABLES.values()]


def expected_columns(tbl: model.Table) -> list[tuple[str, str]]:
    """The (name, type) pairs Glue lists for `tbl` once Athena has created it."""
    return [(column.name, column.type.ddl) for column in tbl.columns]


def schema_drift(tbl: model.Table, glue_table: dict[str, Any]) -> str | None:
    """What differs between the model's columns and Glue's, or None when they agree."""
    listed = glue_table.get("StorageDescriptor", {}).get("Columns", [])
    found = [(column["Name"], column["Type"].lower()) for column in listed]
    expected = expected_columns(tbl)
    if found == expected:
        return None

    missing = [name for name, _ in expected if name not in dict(found)]
    extra = [name for name, _ in found if name not in dict(expected)]
    retyped = [
        f"{name} is {dict(found)[name]}, the model says {kind}"
        for name, kind in expected
        if name in dict(found) and dict(found)[name] != kind
    ]
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if extra:
        parts.append(f"not in the model: {', '.join(extra)}")
    if retyped:
        parts.append("; ".join(retyped))
    if not parts:
        parts.append("the columns are in another order")
    return f"table {tbl.name}: {'; '.join(parts)}"


def create_tables(outputs: StackOutputs, athena: Any = None, glue: Any = None) -> None:
    """Create the model's tables in the stack's database and check their columns in Glue."""
    athena = athena or boto3.client("athena")
    glue = glue or boto3.client("glue")
    runner = StatementRunner(athena, outputs.AthenaWorkGroupName, outputs.GlueDatabaseName)

    for statement in create_statements(outputs.GlueDatabaseName, outputs.warehouse):
        runner.run(statement)

    drifts = []
    for tbl in model.TABLES.values():
        found = glue.get_table(DatabaseName=outputs.GlueDatabaseName, Name=tbl.name)["Table"]
        drift = schema_drift(tbl, found)
        if drift:
            drifts.append(drift)
    if drifts:
        raise SchemaDriftError(
            "the lake's tables differ from the data model (CREATE TABLE IF NOT EXISTS keeps "
            "what exists); change them with ALTER TABLE … ADD COLUMNS, or drop and recreate "
            "an empty table:\n  " + "\n  ".join(drifts)
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving_layer.cloud.tables", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--stack", help=f"stack name (default: ${config.STACK_NAME.name})")
    parser.add_argument("--print", action="store_true", help="print the DDL, touch nothing")
    parser.add_argument("--database", default=config.NAMESPACE.default, help="with --print")
    parser.add_argument("--bucket", default="LAKE-BUCKET", help="with --print")
    args = parser.parse_args(argv)
    logging.basicConfig(level=config.LOG_LEVEL.get(), format="%(levelname)s %(message)s")

    if args.print:
        for statement in create_statements(args.database, f"s3://{args.bucket}/warehouse"):
            print(statement + ";\n")
        return 0

    try:
        outputs = stack_outputs(args.stack)
        create_tables(outputs)
    except (StackError, StatementFailedError, SchemaDriftError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{len(model.TABLES)} tables ready in {outputs.GlueDatabaseName}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
