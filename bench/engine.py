"""DuckDB time per endpoint for a 1-, 30- and 365-day range, and the data files each one reads.

Two times per query: `page`, the first 1,000 rows as the API asks for them (DuckDB can then keep
only the top rows while sorting), and `all`, every row of the answer fetched as Arrow. Times are
medians of several runs in this one process (the machines are shared and noisy, so the
figures to compare are the ratios between ranges, not the absolute milliseconds). Files scanned
come from DuckDB's own profile of the query: the `Total Files Read` of each Iceberg scan of the
trackcode table, against the number of data files in that table's current snapshot, which shows
whether partition pruning by day of `creation` works (a day should read about 1/365 of them).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from serving_layer.compiler import DateRange, Scope, compile_query
from serving_layer.endpoints import ENDPOINTS
from serving_layer.engines.duckdb import DuckDBEngine

RANGES_DAYS = (1, 30, 365)
RUNS = 5
PAGE = 1000


def run(lake_dir: str | Path, runs: int = RUNS) -> dict[str, Any]:
    engine = DuckDBEngine(warehouse_path=lake_dir)
    locations = engine.refresh()
    total_files = _data_files(engine, locations["trackcode"])
    first_day = _first_day(engine)

    results: dict[str, Any] = {"trackcode_files": total_files, "endpoints": {}}
    for name in ENDPOINTS:
        per_range = {}
        for days in RANGES_DAYS:
            date_range = DateRange(first_day, first_day + timedelta(days=days))
            query = compile_query(name, date_range, Scope.all())
            page = query.page(0, PAGE + 1)
            per_range[f"{days}d"] = {
                "page_ms": _median_ms(engine, page.sql, page.params, runs),
                "all_ms": _median_ms(engine, query.sql, query.params, runs),
                "files": _files_read(engine, query.sql, query.params),
            }
        results["endpoints"][name] = per_range
    return results


def _median_ms(engine: DuckDBEngine, sql: str, params: tuple[Any, ...], runs: int) -> float:
    engine.refresh()
    cursor = engine.cursor()
    cursor.execute(sql, list(params)).fetch_arrow_table()  # warm the metadata and file caches
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        cursor.execute(sql, list(params)).fetch_arrow_table()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def _files_read(engine: DuckDBEngine, sql: str, params: tuple[Any, ...]) -> int:
    """Data files of the trackcode table that DuckDB's profile says the query opened."""
    with tempfile.NamedTemporaryFile(suffix=".json") as profile:
        cursor = engine.connection.cursor()
        cursor.execute("PRAGMA enable_profiling = 'json'")
        cursor.execute(f"PRAGMA profiling_output = '{profile.name}'")
        cursor.execute(sql, list(params)).fetchall()
        cursor.execute("PRAGMA disable_profiling")
        tree = json.loads(Path(profile.name).read_text())
    return sum(_scans_of_trackcode(tree))


def _scans_of_trackcode(node: dict[str, Any]) -> list[int]:
    found = []
    info = node.get("extra_info") or {}
    if "Total Files Read" in info and "/trackcode/" in str(info.get("Filename(s)", "")):
        found.append(int(info["Total Files Read"]))
    for child in node.get("children", []):
        found.extend(_scans_of_trackcode(child))
    return found


def _data_files(engine: DuckDBEngine, metadata: str) -> int:
    rows = engine.raw(
        "SELECT count(*) FROM iceberg_metadata(?)"
        " WHERE manifest_content = 'DATA' AND status <> 'DELETED'",
        [metadata],
    )
    return int(rows[0][0])


def _first_day(engine: DuckDBEngine) -> datetime:
    first = engine.raw("SELECT min(creation) FROM trackcode")[0][0]
    return datetime(first.year, first.month, first.day)


def render(results: dict[str, Any]) -> str:
    total = results["trackcode_files"]
    lines = [
        "DuckDB per endpoint: median ms for the first page of 1,000 rows / for every row,",
        f"and the trackcode data files read of the table's {total}",
        "",
        "| endpoint | 1 day | 30 days | 365 days |",
        "|---|---|---|---|",
    ]
    for name, per_range in results["endpoints"].items():
        cells = [
            f"{r['page_ms']:.0f} / {r['all_ms']:.0f} ms, {r['files']} files"
            for r in per_range.values()
        ]
        lines.append(f"| `{name}` | {' | '.join(cells)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", required=True, help="warehouse folder of a sample lake")
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    print(render(run(args.lake, args.runs)))


if __name__ == "__main__":
    main()
