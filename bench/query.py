"""What the query API adds to a query: handler time against the raw SQL, and the cold import.

For each endpoint over a 1-day and a 30-day range of a 1,000,000-trackcode lake, the whole
query handler (event in, JSON out: policy check, compile, DuckDB, JSON values, masks, cursor)
is timed against the very SQL the engine runs (the compiled query with its page of
`max_rows + 1` rows) on the same DuckDB connection. The two run interleaved in one process,
several times each, and their medians are compared: the ratio is the API's overhead. As that
difference drowns in noise on a busy machine, each answer's own stats also give the time the
handler spent outside the engine's SQL (`total_ms - engine_ms`), median over the runs. A masked
variant shows what masks cost.

The cold import is the time a fresh interpreter takes to import the cloud handler module
(`serving_layer.handlers.query`), less the interpreter's own start, median of several runs; it
is what a Lambda cold start pays before the first request, without the engine.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from serving_layer.compiler import DateRange, Scope, compile_query
from serving_layer.endpoints import ENDPOINTS
from serving_layer.policy import Policy

EVENT = Path(__file__).resolve().parents[1] / "events" / "query" / "get_query.json"
RANGES = {"1 day": ("2025-03-03", "2025-03-04"), "30 days": ("2025-03-01", "2025-03-31")}
RUNS = 7
IMPORT_RUNS = 7
MAX_ROWS = 1000
MASKED = {"drop_address": "partial", "business_name": "hash", "pickup_address": "redact"}


def run(lake_dir: str | Path, runs: int = RUNS, import_runs: int = IMPORT_RUNS) -> dict[str, Any]:
    return {
        "runs": runs,
        "ranges": {
            label: {"range": list(bounds), "endpoints": handler_overhead(lake_dir, bounds, runs)}
            for label, bounds in RANGES.items()
        },
        "cold_import": cold_import(import_runs),
    }


def handler_overhead(lake_dir: str | Path, bounds: tuple[str, str], runs: int) -> dict[str, Any]:
    """Per endpoint: median handler ms, median raw SQL ms, their ratio and difference."""
    os.environ.setdefault("SERVING_MASK_KEY", "bench-mask-key-0123456789abcdef")
    os.environ.setdefault("SERVING_CURSOR_KEY", "bench-cursor-key-0123456789abcdef")
    from serving_layer import query_api
    from serving_layer.engines.duckdb import DuckDBEngine
    from serving_layer.handlers.query import handler

    engine = DuckDBEngine(warehouse_path=lake_dir)
    query_api.use_engine(engine)
    query_api.logger.setLevel("WARNING")  # one INFO line per request would flood the output
    results: dict[str, Any] = {}
    try:
        cases = [(name, name, {}) for name in ENDPOINTS]
        cases.append(("all_orders_by_range (3 masks)", "all_orders_by_range", MASKED))
        for label, name, masks in cases:
            event = _event(name, masks, bounds)
            query = compile_query(name, DateRange.parse(*bounds), Scope.all())
            paged = query.page(0, MAX_ROWS + 1)

            def raw(sql: str = paged.sql, params: tuple[Any, ...] = paged.params) -> None:
                engine.raw(sql, params)

            inside: list[float] = []

            def api(event: dict[str, Any] = event, inside: list[float] = inside) -> None:
                response = handler(copy.deepcopy(event), None)
                assert response["statusCode"] == 200, response["body"]
                stats = json.loads(response["body"])["stats"]
                inside.append(stats["total_ms"] - stats["engine_ms"])

            raw()
            api()  # warm both paths: metadata, file caches, the first-call imports
            raw_ms, api_ms = [], []
            for _ in range(runs):
                raw_ms.append(_ms(raw))
                api_ms.append(_ms(api))
            raw_median, api_median = statistics.median(raw_ms), statistics.median(api_ms)
            results[label] = {
                "raw_ms": round(raw_median, 2),
                "handler_ms": round(api_median, 2),
                "overhead_ms": round(api_median - raw_median, 2),
                "ratio": round(api_median / raw_median, 3),
                # Within each request, so free of the noise between runs: everything the
                # handler spent outside the engine's own SQL time.
                "outside_engine_ms": round(statistics.median(inside[1:]), 2),
                "rows": json.loads(handler(copy.deepcopy(event), None)["body"])["stats"]["rows"],
            }
    finally:
        query_api.use_engine(None)
        query_api.logger.setLevel("INFO")
    return results


def cold_import(runs: int) -> dict[str, Any]:
    """Median wall time of importing the cloud handler in a fresh interpreter, less startup."""
    module = "serving_layer.handlers.query"
    check = (
        f"import {module}, sys; "
        "assert not [m for m in ('duckdb', 'pyarrow', 'pyiceberg') if m in sys.modules]"
    )
    bare, loaded = [], []
    for _ in range(runs):
        bare.append(_ms(lambda: _python("pass")))
        loaded.append(_ms(lambda: _python(check)))
    importtime = _importtime_ms(module)
    return {
        "interpreter_ms": round(statistics.median(bare), 1),
        "with_import_ms": round(statistics.median(loaded), 1),
        "import_ms": round(statistics.median(loaded) - statistics.median(bare), 1),
        "importtime_cumulative_ms": importtime,
    }


def render(results: dict[str, Any]) -> str:
    lines = [
        f"Query API on DuckDB against the raw SQL (median of {results['runs']} runs, ms)",
        "",
        "| endpoint | range | rows | raw SQL | handler | overhead | ratio | outside the engine |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, part in results["ranges"].items():
        for name, r in part["endpoints"].items():
            lines.append(
                f"| `{name}` | {label} | {r['rows']} | {r['raw_ms']} | {r['handler_ms']} | "
                f"{r['overhead_ms']} | {r['ratio']}x | {r['outside_engine_ms']} |"
            )
    cold = results["cold_import"]
    lines += [
        "",
        f"Cold import of `serving_layer.handlers.query`: {cold['import_ms']} ms over the "
        f"interpreter's {cold['interpreter_ms']} ms start (`-X importtime` cumulative: "
        f"{cold['importtime_cumulative_ms']} ms); DuckDB, pyarrow and pyiceberg not loaded.",
    ]
    return "\n".join(lines)


def _event(name: str, masks: dict[str, str], bounds: tuple[str, str]) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(EVENT.read_text())
    grant: dict[str, Any] = {"max_range_days": 366, "max_rows": MAX_ROWS}
    if masks:
        grant["masks"] = masks
    policy = Policy.from_dict(
        {"client": "bench", "key_id": "sk_bench01", "scope": "all", "endpoints": {name: grant}}
    )
    parameters = {"start": bounds[0], "end": bounds[1]}
    path = f"/v1/queries/{name}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["pathParameters"] = {"endpoint": name}
    event["rawQueryString"] = urlencode(parameters)
    event["queryStringParameters"] = parameters
    event["requestContext"]["authorizer"] = {
        "lambda": {"client": "bench", "key_id": "sk_bench01", "policy": policy.to_json()}
    }
    return event


def _ms(action: Any) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def _python(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def _importtime_ms(module: str) -> float:
    """The cumulative microseconds `-X importtime` reports for `module`, as milliseconds."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        check=True,
        capture_output=True,
        text=True,
    )
    for line in done.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            return round(int(parts[1]) / 1000, 1)
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", required=True, help="warehouse folder of a sample lake")
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    print(render(run(args.lake, args.runs)))


if __name__ == "__main__":
    main()
