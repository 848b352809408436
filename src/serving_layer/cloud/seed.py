"""Loads the local sample lake into the deployed stack's Iceberg tables, through Athena.

Athena writes Iceberg tables only with SQL, so each table travels as Parquet: it is read from the
local warehouse with pyiceberg, written to one Parquet file, uploaded under a staging prefix of
the lake bucket, exposed as an external (Hive) staging table, copied with `INSERT INTO … SELECT`
after the target's rows are deleted, counted, and finally the staging table and files are
removed. A seed therefore makes each cloud table hold exactly the sample's rows.

Athena writes at most 100 partitions in one `INSERT` (the Athena user guide's Iceberg
limitations), so a day-partitioned table is copied in windows of `WINDOW_DAYS` days.

The statements are built by `plan`, which touches no AWS and is what the tests check; `seed`
carries them out. Run with `make seed-cloud`, or:

    python -m serving_layer.cloud.seed --stack serving-layer-dev [--print]
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving_layer import config, model
from serving_layer.cloud.stack import (
    BUCKET_NAME,
    DATABASE_NAME,
    StackError,
    StackOutputs,
    stack_outputs,
)
from serving_layer.cloud.statements import StatementFailedError, StatementRunner

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)

STAGING_ROOT = "staging"
# Under Athena's 100 partitions per write, with room for a window that starts mid-day.
WINDOW_DAYS = 90
DATA_FILE = "part-00000.parquet"


class SeedMismatchError(RuntimeError):
    """A cloud table holds another number of rows than the sample after the copy."""


@dataclass(frozen=True)
class TableLoad:
    """One table's trip from the sample lake to the stack's lake."""

    table: model.Table
    run_id: str
    rows: int
    windows: tuple[tuple[datetime, datetime], ...] = ()

    @property
    def staging_table(self) -> str:
        return f"seed_{self.run_id}_{self.table.name}"

    @property
    def staging_prefix(self) -> str:
        return f"{STAGING_ROOT}/{self.run_id}/{self.table.name}/"


@dataclass(frozen=True)
class LoadStatements:
    """The SQL of one table load, in the order it runs; `drop` also runs after a failure."""

    create_staging: str
    delete_target: str
    inserts: tuple[str, ...]
    count_target: str
    drop_staging: str

    def in_order(self) -> list[str]:
        return [self.create_staging, self.delete_target, *self.inserts]


def new_run_id(now: datetime | None = None) -> str:
    """A name part unique to one seed run: its UTC start and a little randomness."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%d%H%M%S}_{secrets.token_hex(2)}"


def day_windows(
    first: datetime, last: datetime, days: int = WINDOW_DAYS
) -> tuple[tuple[datetime, datetime], ...]:
    """Half-open windows of `days` whole UTC days covering every instant from `first` to `last`."""
    start = datetime(first.year, first.month, first.day)
    end = datetime(last.year, last.month, last.day) + timedelta(days=1)
    windows = []
    while start < end:
        stop = min(start + timedelta(days=days), end)
        windows.append((start, stop))
        start = stop
    return tuple(windows)


def plan(load: TableLoad, database: str, bucket: str) -> LoadStatements:
    """The statements that copy `load` from its staging files into `database`.`table`.

    Identifiers come from the data model and the stack's checked outputs; the only values are
    the window bounds, written as Trino timestamp literals from datetimes.
    """
    if not DATABASE_NAME.match(database) or not BUCKET_NAME.match(bucket):
        raise ValueError(f"not a Glue database and S3 bucket name: {database!r}, {bucket!r}")
    tbl = load.table
    columns = ", ".join(f'"{name}"' for name in tbl.column_names)
    target = f'"{database}"."{tbl.name}"'
    staging = f'"{database}"."{load.staging_table}"'

    copy = f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {staging}"  # noqa: S608
    if load.windows:
        column = f'"{tbl.day_partition}"'
        inserts = tuple(
            f"{copy} WHERE {column} >= {_timestamp(start)} AND {column} < {_timestamp(stop)}"
            for start, stop in load.windows
        )
    else:
        inserts = (copy,)

    # The staging table is a plain Hive table over the uploaded Parquet: Athena's DDL grammar
    # (backticks), not Trino's.
    staging_columns = ",\n  ".join(f"`{c.name}` {c.type.ddl}" for c in tbl.columns)
    create = (
        f"CREATE EXTERNAL TABLE `{database}`.`{load.staging_table}` (\n  {staging_columns}\n)\n"
        f"STORED AS PARQUET\nLOCATION 's3://{bucket}/{load.staging_prefix}'"
    )
    return LoadStatements(
        create_staging=create,
        delete_target=f"DELETE FROM {target}",  # noqa: S608
        inserts=inserts,
        count_target=f"SELECT count(*) FROM {target}",  # noqa: S608
        drop_staging=f"DROP TABLE IF EXISTS `{database}`.`{load.staging_table}`",
    )


def table_load(tbl: model.Table, data: pa.Table, run_id: str) -> TableLoad:
    """The load of `tbl` whose sample rows are `data`, with windows when it is day-partitioned."""
    windows: tuple[tuple[datetime, datetime], ...] = ()
    if tbl.day_partition and data.num_rows:
        import pyarrow.compute as pc

        bounds = pc.min_max(data.column(tbl.day_partition)).as_py()
        windows = day_windows(bounds["min"], bounds["max"])
    return TableLoad(tbl, run_id, data.num_rows, windows)


def read_sample(tbl: model.Table, catalog: Any, namespace: str) -> pa.Table:
    """All rows of `tbl` in the local warehouse, with the model's column order."""
    data: pa.Table = catalog.load_table(f"{namespace}.{tbl.name}").scan().to_arrow()
    return data.select(list(tbl.column_names))


def seed(
    outputs: StackOutputs,
    *,
    warehouse_path: str | Path | None = None,
    namespace: str | None = None,
    athena: Any = None,
    s3: Any = None,
    tables: Iterable[str] | None = None,
) -> dict[str, int]:
    """Copy every sample table (or those named) into the stack's lake; answer the row counts."""
    import boto3
    import pyarrow.parquet as pq

    from serving_layer import warehouse

    athena = athena or boto3.client("athena")
    s3 = s3 or boto3.client("s3")
    runner = StatementRunner(athena, outputs.AthenaWorkGroupName, outputs.GlueDatabaseName)
    catalog = warehouse.open_catalog(warehouse_path)
    namespace = config.NAMESPACE.get(namespace)
    run_id = new_run_id()
    names = list(tables) if tables else list(model.TABLES)

    counts = {}
    with tempfile.TemporaryDirectory(prefix="serving-seed-") as scratch:
        for name in names:
            tbl = model.table(name)
            data = read_sample(tbl, catalog, namespace)
            load = table_load(tbl, data, run_id)
            path = Path(scratch) / f"{tbl.name}.parquet"
            pq.write_table(data, path, compression="zstd")

            counts[name] = _copy(load, path, outputs, runner, s3)
            logger.info("seeded %s: %d rows in %d copies", name, load.rows, len(load.windows) or 1)
    return counts


def _copy(
    load: TableLoad, path: Path, outputs: StackOutputs, runner: StatementRunner, s3: Any
) -> int:
    statements = plan(load, outputs.GlueDatabaseName, outputs.LakeBucketName)
    key = load.staging_prefix + DATA_FILE
    s3.upload_file(str(path), outputs.LakeBucketName, key)
    try:
        for statement in statements.in_order():
            runner.run(statement)
        counted = runner.scalar(statements.count_target)
    finally:
        _clean_staging(statements, runner, s3, outputs.LakeBucketName, key)

    if counted is None or int(counted) != load.rows:
        raise SeedMismatchError(
            f"{load.table.name} holds {counted} rows after the copy, the sample has {load.rows}"
        )
    return load.rows


def _clean_staging(
    statements: LoadStatements, runner: StatementRunner, s3: Any, bucket: str, key: str
) -> None:
    # A failed clean-up must not hide the error that brought us here; the lake bucket's
    # lifecycle rule removes staging files left behind after two days.
    try:
        runner.run(statements.drop_staging)
        s3.delete_object(Bucket=bucket, Key=key)
    except Exception:
        logger.exception("could not remove the staging table or file %s; remove them by hand", key)


def _timestamp(instant: datetime) -> str:
    return f"TIMESTAMP '{instant:%Y-%m-%d %H:%M:%S}'"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving_layer.cloud.seed", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--stack", help=f"stack name (default: ${config.STACK_NAME.name})")
    parser.add_argument("--table", action="append", help="seed only this table (repeatable)")
    parser.add_argument(
        "--print", action="store_true", help="print the statements for the sample, run nothing"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=config.LOG_LEVEL.get(), format="%(levelname)s %(message)s")

    if args.print:
        return _print_plan(args.table)

    try:
        counts = seed(stack_outputs(args.stack), tables=args.table)
    except (StackError, StatementFailedError, SeedMismatchError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name, rows in counts.items():
        print(f"{name}: {rows} rows")
    return 0


def _print_plan(tables: list[str] | None) -> int:
    from serving_layer import warehouse

    catalog = warehouse.open_catalog()
    run_id = new_run_id()
    for name in tables or model.TABLES:
        tbl = model.table(name)
        load = table_load(tbl, read_sample(tbl, catalog, config.NAMESPACE.get()), run_id)
        statements = plan(load, "database", "lake-bucket")
        for statement in [*statements.in_order(), statements.count_target]:
            print(statement + ";\n")
        print(statements.drop_staging + ";\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
