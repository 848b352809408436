"""Local write throughput of the manage API, and read latency right after a write.

Writes change a lake, so the benchmark never writes the lake it is given: it makes a shallow
clone in a temporary folder — a catalog of its own that registers each table's current
metadata file and points the table's `write.data.path` and `write.metadata.path` into the
clone. The clone reads the source's data files and writes only its own; the source's catalog
and folder stay exactly as they were.

Every request goes through the manage Lambda's handler with a real payload-2.0 event (JSON
parsing, validation against the data model, grant and scope checks, the commit), as a client
whose scope is "all". Measured, for batches of 1, 100 and 10,000 trackcodes:

- insert: new trackcodes, created on one day;
- upsert: existing trackcodes picked at random across the whole lake, each changed (the
  copy-on-write cost: every data file holding one of them is rewritten);
- read after write: the first `count_trackcode_by_range` query on DuckDB right after each
  write (it re-points its views at the new snapshot), the same query `as_of` the snapshot
  before the write, and `GET` of one written row through the handler.

The machine is shared and noisy: compare the ratios, not the absolute milliseconds.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from serving_layer import manage_api, warehouse
from serving_layer.compiler import DateRange, Scope, compile_query
from serving_layer.engines.duckdb import DuckDBEngine
from serving_layer.idempotency import SQLitePersistenceLayer
from serving_layer.policy import Policy
from serving_layer.timetravel import AsOf
from serving_layer.writers.local import LocalWriter

BATCHES = (1, 100, 10_000)
# Requests per batch size: enough to take a median where a request is short.
REQUESTS = {1: 10, 100: 3, 10_000: 1}
DAY = "2031-01-15"
EVENTS = Path(__file__).resolve().parents[1] / "events" / "manage"
OPERATOR = Policy.from_dict(
    {
        "client": "bench-operator",
        "key_id": "sk_bench",
        "scope": "all",
        "endpoints": {},
        "tables": {"trackcode": ["read", "insert", "upsert", "update", "delete"]},
    }
)


def clone(source: str | Path, into: str | Path) -> Path:
    """A shallow clone of the lake at `source` in `into` (see the module's docstring)."""
    target = Path(into)
    catalog = warehouse.open_catalog(target)
    catalog.create_namespace_if_not_exists("lake")
    for name, location in warehouse.metadata_locations(source).items():
        table = catalog.register_table(f"lake.{name}", location)
        with table.transaction() as transaction:
            transaction.set_properties(
                {
                    "write.data.path": (target / "lake" / name / "data").as_uri(),
                    "write.metadata.path": (target / "lake" / name / "metadata").as_uri(),
                }
            )
    return target


def run(lake_dir: str | Path, seed: int = 7) -> dict[str, Any]:
    random.seed(seed)
    with tempfile.TemporaryDirectory(prefix="manage-bench-") as folder:
        lake = clone(lake_dir, Path(folder) / "lake")
        engine = DuckDBEngine(warehouse_path=lake)
        manage_api.use_writer(LocalWriter(lake), SQLitePersistenceLayer(Path(folder) / "i.db"))
        level = manage_api.logger.log_level
        manage_api.logger.setLevel("WARNING")  # one INFO line per request would drown the report
        try:
            return _measure(engine)
        finally:
            manage_api.logger.setLevel(level)
            manage_api.use_writer(None)


def _measure(engine: DuckDBEngine) -> dict[str, Any]:
    from serving_layer.handlers.manage import handler

    total = int(engine.raw("SELECT count(*) FROM trackcode")[0][0])
    next_id = int(engine.raw("SELECT max(id) FROM trackcode")[0][0]) + 1
    clients = [row[0] for row in engine.raw("SELECT DISTINCT client_id FROM trackcode")]
    wanted = sum(size * REQUESTS[size] for size in BATCHES)
    existing = [
        row[0] for row in engine.raw(f"SELECT id FROM trackcode USING SAMPLE {wanted} ROWS")
    ]
    random.shuffle(existing)

    results: dict[str, Any] = {"trackcodes": total, "insert": {}, "upsert": {}}
    for operation in ("insert", "upsert"):
        for size in BATCHES:
            runs = []
            for _ in range(REQUESTS[size]):
                if operation == "insert":
                    ids = list(range(next_id, next_id + size))
                    next_id += size
                else:
                    ids, existing = existing[:size], existing[size:]
                rows = [_trackcode(key, random.choice(clients)) for key in ids]
                runs.append(_write_and_read(handler, engine, operation, rows))
            results[operation][str(size)] = _summary(size, runs)
    return results


def _write_and_read(
    handler: Any, engine: DuckDBEngine, operation: str, rows: list[dict[str, Any]]
) -> dict[str, float]:
    name = "post_rows.json" if operation == "insert" else "put_rows.json"
    event = _event(name, body={"rows": rows})

    started = time.perf_counter()
    response = handler(event, None)
    write_ms = (time.perf_counter() - started) * 1000
    if response["statusCode"] not in (200, 201):
        raise RuntimeError(f"{operation} failed: {response['body'][:500]}")
    answer = json.loads(response["body"])

    day = DateRange.parse(DAY, "2031-01-16")
    started = time.perf_counter()
    engine.execute(compile_query("count_trackcode_by_range", day, Scope.all()), page_size=10)
    query_ms = (time.perf_counter() - started) * 1000

    # The trackcode table as it was before the write; the others as they are now.
    now = datetime.now(UTC).replace(tzinfo=None)
    as_of = AsOf(now, (("trackcode", int(answer["snapshot_before"])),))
    started = time.perf_counter()
    query = compile_query("count_trackcode_by_range", day, Scope.all(), as_of=as_of)
    engine.execute(query, page_size=10)
    as_of_ms = (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    got = handler(_event("get_row.json", key=rows[-1]["id"]), None)
    get_ms = (time.perf_counter() - started) * 1000
    if got["statusCode"] != 200:
        raise RuntimeError(f"read after {operation} failed: {got['body'][:300]}")
    return {"write_ms": write_ms, "query_ms": query_ms, "as_of_ms": as_of_ms, "get_ms": get_ms}


def _summary(size: int, runs: list[dict[str, float]]) -> dict[str, Any]:
    write_seconds = sum(r["write_ms"] for r in runs) / 1000
    return {
        "requests": len(runs),
        "rows_per_second": round(size * len(runs) / write_seconds, 1),
        "write_ms_median": round(statistics.median(r["write_ms"] for r in runs), 1),
        "query_after_write_ms_median": round(statistics.median(r["query_ms"] for r in runs), 1),
        "as_of_query_ms_median": round(statistics.median(r["as_of_ms"] for r in runs), 1),
        "get_row_after_write_ms_median": round(statistics.median(r["get_ms"] for r in runs), 1),
    }


def _trackcode(key: int, client_id: int) -> dict[str, Any]:
    return {
        "id": key,
        "creation": f"{DAY}T{random.randrange(24):02d}:{random.randrange(60):02d}:00Z",
        "crossdocking": random.random() < 0.2,
        "pickup_address": f"Calle {random.randrange(1, 200)} #{random.randrange(1, 99)}-10",
        "drop_address": f"Carrera {random.randrange(1, 200)} #{random.randrange(1, 99)}-20",
        "service_id": random.randrange(1, 4),
        "product_description": "benchmark parcel",
        "product_price": round(random.uniform(5, 500), 2),
        "product_size_id": random.randrange(1, 4),
        "product_weight": round(random.uniform(0.1, 30), 2),
        "pickup_point": None,
        "drop_point": None,
        "client_id": client_id,
    }


def _event(name: str, *, body: Any = None, key: int | None = None) -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / name).read_text()))
    document["headers"].pop("idempotency-key", None)
    context = document["requestContext"]["authorizer"]["lambda"]
    context.update(client=OPERATOR.client, key_id=OPERATOR.key_id, policy=OPERATOR.to_json())
    if body is not None:
        document["body"] = json.dumps(body)
    if key is not None:
        path = f"/v1/tables/trackcode/rows/{key}"
        document["rawPath"] = document["requestContext"]["http"]["path"] = path
        document["pathParameters"] = {"table": "trackcode", "id": str(key)}
    return document


def render(results: dict[str, Any]) -> str:
    lines = [
        f"Manage API, local writer, on a {results['trackcodes']:,}-trackcode lake "
        "(medians; read-after-write is the first query after the commit)",
        "",
        "| operation | batch | rows/s | write ms | query after ms | as_of query ms | GET row ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for operation in ("insert", "upsert"):
        for size, row in results[operation].items():
            lines.append(
                f"| {operation} | {int(size):,} | {row['rows_per_second']:,} | "
                f"{row['write_ms_median']:,} | {row['query_after_write_ms_median']} | "
                f"{row['as_of_query_ms_median']} | {row['get_row_after_write_ms_median']} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", required=True, help="warehouse folder of a sample lake")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    results = run(args.lake)
    print(json.dumps(results, indent=2) if args.json else render(results))


if __name__ == "__main__":
    main()
